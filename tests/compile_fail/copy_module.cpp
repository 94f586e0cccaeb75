// Must NOT compile: modules are movable, not copyable. ctest (module_copy_is_a_compile_error)
// checks that the compiler rejects both copies below with a message that says why.
#include <ember/nn/containers.hpp>
#include <ember/nn/linear.hpp>

void copy_a_layer() {
  ember::nn::Linear a(2, 2);
  ember::nn::Linear b = a;  // error: use of deleted function Module(const Module&)
}

void copy_into_a_list() {
  ember::nn::Linear a(2, 2);
  ember::nn::ModuleList list;
  list.push_back(a);  // static_assert: modules are not copyable: pass std::move(module) ...
}

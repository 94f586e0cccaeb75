// Must NOT compile: AdamW takes AdamWOptions (weight decay 1e-2 by default, as
// torch.optim.AdamW); Adam's options would silently set it to 0. ctest
// (adamw_adam_options_is_a_compile_error) checks that the compiler says why.
#include <ember/nn/linear.hpp>
#include <ember/optim/adam.hpp>

void adamw_with_adam_options() {
  ember::nn::Linear model(2, 2);
  ember::optim::AdamW opt(model.parameters(), ember::optim::AdamOptions(1e-3));
}

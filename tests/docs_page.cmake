# Turns a docs page into a program: every ```cpp block becomes one scope of main(), with the
# structs it defines (a line starting "struct " up to a line "};") moved to namespace scope
# so later blocks can use them. Run by the build (tests/CMakeLists.txt) with PAGE and OUT set.
cmake_minimum_required(VERSION 3.16)
file(READ ${PAGE} page)
set(decls "")
set(body "")
while(TRUE)
  string(FIND "${page}" "```cpp\n" at)
  if(at EQUAL -1)
    break()
  endif()
  math(EXPR at "${at} + 7")
  string(SUBSTRING "${page}" ${at} -1 page)
  string(FIND "${page}" "```" end)
  string(SUBSTRING "${page}" 0 ${end} block)
  math(EXPR end "${end} + 3")
  string(SUBSTRING "${page}" ${end} -1 page)
  set(block "\n${block}")
  set(statements "")
  while(TRUE)
    string(FIND "${block}" "\nstruct " s)
    if(s EQUAL -1)
      break()
    endif()
    string(SUBSTRING "${block}" 0 ${s} before)
    string(SUBSTRING "${block}" ${s} -1 block)
    string(FIND "${block}" "\n};\n" e)
    math(EXPR e "${e} + 4")
    string(SUBSTRING "${block}" 0 ${e} declaration)
    string(SUBSTRING "${block}" ${e} -1 block)
    string(APPEND statements "${before}")
    string(APPEND decls "${declaration}")
    set(block "\n${block}")
  endwhile()
  string(APPEND body "  {${statements}${block}  }\n")
endwhile()
file(WRITE ${OUT}.new "// Generated from ${PAGE}: do not edit.\n#include <ember/ember.hpp>\n"
     "#include <iostream>\n\nusing namespace ember;\n\nnamespace {${decls}}  // namespace\n\n"
     "int main() {\n  try {\n${body}  } catch (const std::exception& e) {\n"
     "    std::cerr << \"the page failed: \" << e.what() << \"\\n\";\n    return 1;\n  }\n"
     "  return 0;\n}\n")
# Rewritten only when it changed, so an edit elsewhere in the page recompiles nothing.
execute_process(COMMAND ${CMAKE_COMMAND} -E copy_if_different ${OUT}.new ${OUT})

// JSON reader and writer: objects, arrays, strings, numbers, booleans and null; duplicate object
// keys are errors. Used for safetensors headers and, public, for config.json files of models.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace ember::io::json {

struct Value {
  enum class Kind { Null, Bool, Number, String, Array, Object } kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  std::string string;
  std::vector<Value> array;
  std::vector<std::pair<std::string, Value>> object;  // in file order
};

// Throws std::runtime_error with the byte offset of the problem.
Value parse(const std::string& text);
std::string quote(const std::string& s);

}  // namespace ember::io::json

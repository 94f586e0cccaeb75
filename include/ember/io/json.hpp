// A small JSON reader and writer: objects, arrays, strings, numbers, booleans and null;
// duplicate object keys are errors. Used for safetensors headers, tokenizer files and, public,
// for the config.json files of models (ember/models/config.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
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

// What parse throws: a std::runtime_error with the byte offset and line of the problem.
struct ParseError : std::runtime_error {
  ParseError(const std::string& what, size_t offset_, size_t line_)
      : std::runtime_error(what), offset(offset_), line(line_) {}
  size_t offset, line;  // line counts from 1
};

Value parse(const std::string& text);
// The member `key` of an object, or nullptr (also when `v` is not an object).
const Value* find(const Value& v, const std::string& key);
std::string quote(const std::string& s);

}  // namespace ember::io::json

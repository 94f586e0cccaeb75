// Errors a user can cause. Every message names the op and the offending values, e.g.
// "embedding: index 20001 out of range for num_embeddings 20000".
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ember {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError : public Error {
 public:
  using Error::Error;
};
class IndexError : public Error {
 public:
  using Error::Error;
};
class IoError : public Error {
 public:
  using Error::Error;
};
class ValueError : public Error {
 public:
  using Error::Error;
};
// A tensor of the wrong dtype for an op (a float mask where a bool one belongs, a float64 tensor
// given to an op that computes in float32): PyTorch's "expected ... but got ..." errors.
class DtypeError : public Error {
 public:
  using Error::Error;
};
// The system refused memory for tensor storage (after the buffer cache was emptied and the
// request retried): a caller that knows where the sizes came from can say so.
class OutOfMemoryError : public Error {
 public:
  using Error::Error;
};

namespace detail {
inline void append(std::ostringstream&) {}
template <class T, class... Rest>
void append(std::ostringstream& out, const T& first, const Rest&... rest) {
  out << first;
  append(out, rest...);
}
template <class... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  append(out, parts...);
  return out.str();
}
// "[2,3]": the way shapes appear in every message.
std::string shape_str(const std::vector<int64_t>& shape);
}  // namespace detail

}  // namespace ember

// EMBER_CHECK(cond, "op: ", value, ...) throws ember::Error; the _T form picks the subclass.
#define EMBER_CHECK_T(ErrorType, cond, ...)                          \
  do {                                                               \
    if (!(cond)) throw ErrorType(::ember::detail::cat(__VA_ARGS__)); \
  } while (false)
#define EMBER_CHECK(cond, ...) EMBER_CHECK_T(::ember::Error, cond, __VA_ARGS__)
#define EMBER_CHECK_SHAPE(cond, ...) EMBER_CHECK_T(::ember::ShapeError, cond, __VA_ARGS__)
#define EMBER_CHECK_INDEX(cond, ...) EMBER_CHECK_T(::ember::IndexError, cond, __VA_ARGS__)
#define EMBER_CHECK_VALUE(cond, ...) EMBER_CHECK_T(::ember::ValueError, cond, __VA_ARGS__)
#define EMBER_CHECK_IO(cond, ...) EMBER_CHECK_T(::ember::IoError, cond, __VA_ARGS__)
#define EMBER_CHECK_DTYPE(cond, ...) EMBER_CHECK_T(::ember::DtypeError, cond, __VA_ARGS__)

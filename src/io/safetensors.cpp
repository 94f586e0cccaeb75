// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data.
#include "ember/io/safetensors.hpp"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "../dense.hpp"
#include "ember/io/file.hpp"
#include "ember/io/json.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; Ember reads it with memcpy");

namespace ember::io {

namespace {

struct Entry {
  std::string name, dtype;
  Shape shape;
  const char* data;
  size_t bytes;
};

std::string shape_json(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

void save(const Archive& archive, const std::string& path) {
  std::vector<Entry> entries;
  std::vector<std::unique_ptr<detail::Dense>> packed;  // a view's values, alive until written
  for (const auto& [name, t] : archive.tensors) {
    EMBER_CHECK_IO(!archive.index_tensors.count(name), "io::save: name '", name,
                   "' is used by both a float and an index tensor");
    entries.push_back({name, "F32", t.shape(),
                       reinterpret_cast<const char*>(
                           (*packed.emplace_back(std::make_unique<detail::Dense>(t)))->data()),
                       static_cast<size_t>(t.numel()) * sizeof(float)});
  }
  for (const auto& [name, t] : archive.index_tensors)
    entries.push_back({name, "I64", t.shape(), reinterpret_cast<const char*>(t.data()),
                       static_cast<size_t>(t.numel()) * sizeof(int64_t)});
  std::string header = "{";
  if (!archive.metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : archive.metadata) {
      header += (first ? "" : ",") + json::quote(k) + ":" + json::quote(v);
      first = false;
    }
    header += "}";
  }
  size_t offset = 0;
  for (const Entry& e : entries) {
    EMBER_CHECK_IO(e.name != "__metadata__", "io::save: '__metadata__' is reserved");
    header += (header.size() > 1 ? "," : "") + json::quote(e.name) + ":{\"dtype\":\"" + e.dtype +
              "\",\"shape\":" + shape_json(e.shape) + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + e.bytes) + "]}";
    offset += e.bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  std::string head(8, '\0');
  uint64_t n = header.size();
  std::memcpy(&head[0], &n, 8);
  head += header;
  // The tensors are written from where they are: one string of the whole file cost twice the
  // model's size at the end of training (the string's growth copies it), the peak of
  // ember-classify's memory.
  std::vector<std::string_view> pieces{head};
  for (const Entry& e : entries) pieces.emplace_back(e.data, e.bytes);
  write_file_atomically(path, pieces);
}

void save(const StateDict& dict, const std::string& path,
          const std::map<std::string, std::string>& metadata) {
  Archive a;
  a.tensors = dict;
  a.metadata = metadata;
  save(a, path);
}

namespace {

struct Reader {
  std::string path;

  template <class... Parts>
  [[noreturn]] void fail(const Parts&... parts) const {
    throw IoError(detail::cat("io::load: '", path, "': ", parts...));
  }

  uint64_t non_negative_integer(const json::Value& v, const std::string& what) const {
    if (v.kind != json::Value::Kind::Number || v.number < 0 || v.number > 9.0e15 ||
        v.number != static_cast<double>(static_cast<uint64_t>(v.number)))
      fail(what, " must be a non-negative integer");
    return static_cast<uint64_t>(v.number);
  }

  const json::Value* field(const json::Value& obj, const char* key,
                           const std::string& tensor) const {
    for (const auto& [k, v] : obj.object)
      if (k == key) return &v;
    fail("tensor '", tensor, "' has no \"", key, "\"");
  }
};

}  // namespace

Archive load_archive(const std::string& path) {
  Reader r{path};
  // A directory opens as a stream on Linux and fails only when read, with libstdc++'s words.
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) r.fail("it is a directory, not a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) r.fail("cannot open the file");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() < 8)
    r.fail("truncated: ", bytes.size(), " bytes, need at least 8 for the header length");
  uint64_t header_len = 0;
  std::memcpy(&header_len, bytes.data(), 8);
  if (header_len > bytes.size() - 8)
    r.fail("header length ", header_len, " runs past the end of the file (", bytes.size(),
           " bytes)");
  json::Value header;
  try {
    header = json::parse(bytes.substr(8, header_len));
  } catch (const std::runtime_error& e) {
    r.fail("the header is not valid JSON (", e.what(), ")");
  }
  if (header.kind != json::Value::Kind::Object) r.fail("the header is not a JSON object");
  const char* data = bytes.data() + 8 + header_len;
  const uint64_t data_size = bytes.size() - 8 - header_len;

  Archive archive;
  struct Range {
    uint64_t begin, end;
    std::string name;
  };
  std::vector<Range> ranges;
  for (const auto& [name, entry] : header.object) {
    if (name == "__metadata__") {
      if (entry.kind != json::Value::Kind::Object) r.fail("__metadata__ is not an object");
      for (const auto& [k, v] : entry.object) {
        if (v.kind != json::Value::Kind::String) r.fail("metadata '", k, "' is not a string");
        archive.metadata[k] = v.string;
      }
      continue;
    }
    if (entry.kind != json::Value::Kind::Object) r.fail("tensor '", name, "' is not an object");
    const json::Value* dtype = r.field(entry, "dtype", name);
    const json::Value* shape_v = r.field(entry, "shape", name);
    const json::Value* offsets = r.field(entry, "data_offsets", name);
    if (dtype->kind != json::Value::Kind::String)
      r.fail("tensor '", name, "' dtype is not a string");
    if (dtype->string != "F32" && dtype->string != "I64")
      r.fail("tensor '", name, "' has dtype ", dtype->string,
             ", which Ember does not read (F32 and I64 only)");
    if (shape_v->kind != json::Value::Kind::Array)
      r.fail("tensor '", name, "' shape is not a list");
    Shape shape;
    uint64_t numel = 1;
    for (const json::Value& d : shape_v->array) {
      uint64_t n = r.non_negative_integer(d, "a dim of tensor '" + name + "'");
      if (__builtin_mul_overflow(numel, n, &numel)) r.fail("tensor '", name, "' is too large");
      shape.push_back(static_cast<int64_t>(n));
    }
    if (offsets->kind != json::Value::Kind::Array || offsets->array.size() != 2)
      r.fail("tensor '", name, "' data_offsets must be [begin, end]");
    uint64_t begin = r.non_negative_integer(offsets->array[0], "data_offsets of '" + name + "'");
    uint64_t end = r.non_negative_integer(offsets->array[1], "data_offsets of '" + name + "'");
    if (begin > end || end > data_size)
      r.fail("tensor '", name, "' offsets [", begin, ", ", end, "] are out of range for ",
             data_size, " bytes of data");
    const uint64_t elem = dtype->string == "F32" ? 4 : 8;
    uint64_t need = 0;
    if (__builtin_mul_overflow(numel, elem, &need) || need != end - begin)
      r.fail("tensor '", name, "' of shape ", detail::shape_str(shape), " and dtype ",
             dtype->string, " needs ", numel, " elements but its offsets hold ", end - begin,
             " bytes");
    ranges.push_back({begin, end, name});
    if (elem == 4) {
      Array a = Array::from_shape(detail::to_xshape(shape));
      if (need) std::memcpy(a.data(), data + begin, need);
      archive.tensors[name] = Tensor(std::move(a));
    } else {
      std::vector<int64_t> v(numel);
      if (need) std::memcpy(v.data(), data + begin, need);
      archive.index_tensors[name] = IndexTensor(std::move(v), shape);
    }
  }
  // The format requires the ranges to tile the data exactly: in order, no overlap (a
  // zero-length range included), no gap, nothing after the last.
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t covered = 0;
  for (size_t i = 0; i < ranges.size(); ++i) {
    if (ranges[i].begin < covered)
      r.fail("tensors '", ranges[i - 1].name, "' and '", ranges[i].name, "' overlap");
    if (ranges[i].begin > covered)
      r.fail("bytes [", covered, ", ", ranges[i].begin, ") before tensor '", ranges[i].name,
             "' belong to no tensor");
    covered = ranges[i].end;
  }
  if (covered != data_size)
    r.fail(data_size - covered, " trailing bytes after the last tensor belong to no tensor");
  return archive;
}

StateDict load(const std::string& path) {
  Archive a = load_archive(path);
  if (!a.index_tensors.empty())
    throw IoError(detail::cat("io::load: '", path, "' holds int64 tensor '",
                              a.index_tensors.begin()->first, "'; read it with io::load_archive"));
  return std::move(a.tensors);
}

}  // namespace ember::io

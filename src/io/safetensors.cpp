// The safetensors format: an 8-byte little-endian header length, a JSON header naming each
// tensor's dtype, shape and byte range, then the raw little-endian data.
#include "ember/io/safetensors.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ember/io/file.hpp"
#include "ember/io/json.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; Ember reads it with memcpy");

namespace ember::io {

namespace {

struct Entry {
  std::string name;
  const char* dtype;
  Shape shape;
  const char* data;
  size_t bytes;
};

std::string shape_json(const Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? "," : "") + std::to_string(shape[i]);
  return s + "]";
}

// The format's names; F16 is only read (as float32), I64 are IndexTensors.
const char* file_dtype(Dtype dtype) {
  switch (dtype) {
    case Dtype::Float32:
      return "F32";
    case Dtype::Float64:
      return "F64";
    case Dtype::BFloat16:
      return "BF16";
    case Dtype::Bool:
      return "BOOL";
  }
  return "?";
}

}  // namespace

void save(const Archive& archive, const std::string& path, const SaveOptions& options) {
  const std::optional<Dtype> as = options.dtype();
  EMBER_CHECK_DTYPE(!as || is_floating_point(*as), "io::save: SaveOptions().dtype(",
                    dtype_name(*as), ") would write float32 weights as ", dtype_name(*as),
                    "; it must be a floating dtype (float32, float64 or bfloat16)");
  Metadata metadata = archive.metadata;
  for (const auto& [k, v] : options.metadata())
    EMBER_CHECK_IO(metadata.emplace(k, v).second, "io::save: metadata '", k,
                   "' is given both in the archive and in SaveOptions");
  std::vector<Entry> entries;
  // Converted or packed values (a view's, a tensor in another dtype), alive until written.
  std::vector<std::shared_ptr<Storage>> packed;
  for (const auto& [name, t] : archive.tensors) {
    EMBER_CHECK_IO(!archive.index_tensors.count(name), "io::save: name '", name,
                   "' is used by both a float and an index tensor");
    const Dtype dtype = as && t.dtype() == kFloat32 ? *as : t.dtype();
    const size_t bytes = static_cast<size_t>(t.numel()) * element_size(dtype);
    const char* data;
    if (dtype == t.dtype() && t.is_contiguous()) {  // written from where it is
      data = static_cast<const char*>(t.impl()->storage->bytes()) +
             t.storage_offset() * static_cast<int64_t>(element_size(dtype));
    } else {  // never through to(): that would record a conversion on the tape
      data =
          static_cast<const char*>(packed.emplace_back(detail::convert_storage(t, dtype))->bytes());
    }
    entries.push_back({name, file_dtype(dtype), t.shape(), data, bytes});
  }
  for (const auto& [name, t] : archive.index_tensors)
    entries.push_back({name, "I64", t.shape(), reinterpret_cast<const char*>(t.data()),
                       static_cast<size_t>(t.numel()) * sizeof(int64_t)});
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
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

void save(const StateDict& dict, const std::string& path, const SaveOptions& options) {
  Archive a;
  a.tensors = dict;
  save(a, path, options);
}

void save(const StateDict& dict, const std::string& path, const Metadata& metadata) {
  save(dict, path, SaveOptions().metadata(metadata));
}

namespace {

// The Ember dtype a file's tensor is read into; F16 (half) is read as float32, which holds every
// half exactly. Null for I64 (an IndexTensor) and for what Ember does not read.
std::optional<Dtype> read_dtype(const std::string& type) {
  if (type == "F32" || type == "F16") return kFloat32;
  if (type == "F64") return kFloat64;
  if (type == "BF16") return kBFloat16;
  if (type == "BOOL") return kBool;
  return std::nullopt;
}

// IEEE half to float, exactly: 5 exponent bits (bias 15) and 10 mantissa bits widen to 8 and
// 23; a subnormal half is a normal float; inf stays inf; a NaN keeps its sign and payload and
// comes out quiet, bit for bit as PyTorch's .float() (the F16C instruction) gives it.
float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0)  // zero or subnormal: mantissa * 2^-24
    return std::copysign(std::ldexp(static_cast<float>(mantissa), -24), sign ? -1.f : 1.f);
  const uint32_t quiet = mantissa ? 0x400000u : 0u;
  const uint32_t bits = exponent == 0x1f ? sign | 0x7f800000u | quiet | mantissa << 13
                                         : sign | (exponent + 112) << 23 | mantissa << 13;
  float out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}

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
    const std::string& type = dtype->string;
    const std::optional<Dtype> ember_dtype = read_dtype(type);
    if (!ember_dtype && type != "I64")
      r.fail("tensor '", name, "' has dtype ", type,
             ", which Ember does not read (F32, F64, BF16, F16, BOOL and I64 only)");
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
    const uint64_t elem = type == "I64" ? 8 : type == "F16" ? 2 : element_size(*ember_dtype);
    uint64_t need = 0;
    if (__builtin_mul_overflow(numel, elem, &need) || need != end - begin)
      r.fail("tensor '", name, "' of shape ", detail::shape_str(shape), " and dtype ", type,
             " needs ", numel, " elements of ", elem, " bytes but its offsets hold ", end - begin);
    ranges.push_back({begin, end, name});
    const char* src = data + begin;
    if (type == "I64") {
      std::vector<int64_t> v(numel);
      if (need) std::memcpy(v.data(), src, need);
      archive.index_tensors[name] = IndexTensor(std::move(v), shape);
      continue;
    }
    auto storage = std::make_shared<Storage>(static_cast<int64_t>(numel), *ember_dtype);
    if (type == "F16") {
      float* out = storage->data_as<float>();
      for (uint64_t i = 0; i < numel; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = half_to_float(h);
      }
    } else {
      // A bool byte other than 0 or 1 is no bool C++ can hold (reading it is undefined).
      if (type == "BOOL")
        for (uint64_t i = 0; i < numel; ++i)
          if (static_cast<unsigned char>(src[i]) > 1)
            r.fail("tensor '", name, "' of dtype BOOL has byte ",
                   static_cast<int>(static_cast<unsigned char>(src[i])), " at element ", i,
                   "; a bool is 0 or 1");
      if (need) std::memcpy(storage->bytes(), src, need);
    }
    archive.tensors[name] = Tensor(std::move(storage), shape);
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

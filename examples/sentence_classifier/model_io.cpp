// The model directory: model.safetensors (network and metadata), vocab.txt, labels.txt, and
// for a quantized model table.q8 in place of the float table.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "classifier.hpp"

namespace classifier {

namespace {

// table.q8: "EMBERQ8\n", rows and dim (uint64 little-endian), a float scale per row, then
// rows * dim int8 values; row r is q[r] * scale[r]. A quarter of the float table's bytes.
constexpr char kMagic[8] = {'E', 'M', 'B', 'E', 'R', 'Q', '8', '\n'};

std::string quantize_table(const Tensor& table) {
  const int64_t rows = table.size(0), dim = table.size(1);
  const float* w = table.data().data();
  std::string bytes(kMagic, sizeof kMagic);
  uint64_t header[2] = {static_cast<uint64_t>(rows), static_cast<uint64_t>(dim)};
  bytes.append(reinterpret_cast<const char*>(header), sizeof header);
  std::vector<float> scales(static_cast<size_t>(rows));
  std::string values(static_cast<size_t>(rows * dim), '\0');
  for (int64_t r = 0; r < rows; ++r) {
    float max_abs = 0;
    for (int64_t j = 0; j < dim; ++j) max_abs = std::max(max_abs, std::fabs(w[r * dim + j]));
    const float scale = max_abs > 0 ? max_abs / 127.f : 1.f;
    scales[static_cast<size_t>(r)] = scale;
    for (int64_t j = 0; j < dim; ++j)
      values[static_cast<size_t>(r * dim + j)] =
          static_cast<char>(static_cast<int8_t>(std::lround(w[r * dim + j] / scale)));
  }
  bytes.append(reinterpret_cast<const char*>(scales.data()), scales.size() * sizeof(float));
  return bytes + values;
}

Tensor load_quantized(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EMBER_CHECK_IO(in.good(), "cannot open '", path, "'");
  const uint64_t size = std::filesystem::file_size(path);
  char magic[8] = {};
  uint64_t header[2] = {0, 0};
  in.read(magic, sizeof magic);
  in.read(reinterpret_cast<char*>(header), sizeof header);
  EMBER_CHECK_IO(in.good() && std::memcmp(magic, kMagic, sizeof magic) == 0, path,
                 ": not an int8 table (no EMBERQ8 header; truncated?)");
  const uint64_t rows = header[0], dim = header[1];
  // Checked against the file's size before anything is allocated for it.
  EMBER_CHECK_IO(rows > 0 && dim > 0 && rows < (1ull << 32) && dim < (1ull << 20), path,
                 ": implausible table shape ", rows, " x ", dim);
  const uint64_t expected = 24 + rows * 4 + rows * dim;
  EMBER_CHECK_IO(size == expected, path, ": ", rows, " x ", dim, " int8 table needs ", expected,
                 " bytes, the file has ", size, size < expected ? " (truncated)" : "");
  std::vector<float> scales(rows);
  in.read(reinterpret_cast<char*>(scales.data()), static_cast<std::streamsize>(rows * 4));
  std::vector<int8_t> q(rows * dim);
  in.read(reinterpret_cast<char*>(q.data()), static_cast<std::streamsize>(rows * dim));
  EMBER_CHECK_IO(in.good(), path, ": read failed");
  std::vector<float> values(rows * dim);
  for (uint64_t r = 0; r < rows; ++r) {
    EMBER_CHECK_IO(std::isfinite(scales[r]) && scales[r] > 0, path, ": row ", r, " has scale ",
                   scales[r]);
    for (uint64_t j = 0; j < dim; ++j) values[r * dim + j] = q[r * dim + j] * scales[r];
  }
  return tensor(std::move(values), {static_cast<int64_t>(rows), static_cast<int64_t>(dim)});
}

}  // namespace

void Model::save(const std::string& dir, bool quantized) const {
  std::filesystem::create_directories(dir);
  const text::TokenizerOptions& tok = vocab.tokenizer();
  std::map<std::string, std::string> meta = {{"max_len", std::to_string(max_len)},
                                             {"lower", tok.lower ? "1" : "0"},
                                             {"unit", std::to_string(static_cast<int>(tok.unit))},
                                             {"word_ngrams", std::to_string(ngrams.word_ngrams)},
                                             {"minn", std::to_string(ngrams.minn)},
                                             {"maxn", std::to_string(ngrams.maxn)},
                                             {"buckets", std::to_string(ngrams.buckets)},
                                             {"model", net->kind()},
                                             {"hidden", std::to_string(net->hidden_size)}};
  StateDict dict = net->state_dict();
  std::filesystem::remove(dir + "/table.q8");
  if (quantized) {
    io::write_file_atomically(dir + "/table.q8", quantize_table(dict.at("emb.weight")));
    dict.erase("emb.weight");
  }
  io::save(dict, dir + "/model.safetensors", meta);
  vocab.save(dir + "/vocab.txt");
  labels.save(dir + "/labels.txt");
}

Model Model::load(const std::string& dir) {
  for (const char* file : {"model.safetensors", "vocab.txt", "labels.txt"}) {
    EMBER_CHECK_IO(std::filesystem::exists(dir + "/" + file), "model directory '", dir,
                   "' is missing ", file);
  }
  io::Archive archive = io::load_archive(dir + "/model.safetensors");
  auto meta = [&](const char* key, const char* fallback) -> int64_t {
    auto it = archive.metadata.find(key);
    std::string v = it == archive.metadata.end() ? fallback : it->second;
    try {
      size_t used = 0;
      int64_t n = std::stoll(v, &used);
      if (used == v.size() && n >= 0) return n;
    } catch (const std::exception&) {
    }
    throw IoError(detail::cat(dir, "/model.safetensors: metadata '", key, "' is '", v,
                              "', not a non-negative integer"));
  };
  text::TokenizerOptions tokenizer;
  tokenizer.lower = meta("lower", "") == 1;
  int64_t unit = meta("unit", "0");
  EMBER_CHECK_IO(unit <= 2, dir, "/model.safetensors: unknown token unit ", unit);
  tokenizer.unit = static_cast<text::TokenUnit>(unit);
  text::NgramOptions ngrams{meta("word_ngrams", "1"), meta("minn", "0"), meta("maxn", "0"),
                            meta("buckets", "0")};
  const int64_t max_len = meta("max_len", "");
  // What train accepts, so that a damaged file is refused here rather than evaluated.
  EMBER_CHECK_IO(max_len > 0, dir,
                 "/model.safetensors: metadata 'max_len' is 0; it must be positive");
  EMBER_CHECK_IO(ngrams.word_ngrams > 0, dir,
                 "/model.safetensors: metadata 'word_ngrams' is 0; it must be positive");
  EMBER_CHECK_IO(ngrams.maxn == 0 || (ngrams.minn >= 1 && ngrams.minn <= ngrams.maxn), dir,
                 "/model.safetensors: metadata 'minn' ", ngrams.minn, " and 'maxn' ", ngrams.maxn,
                 " are invalid; need 1 <= minn <= maxn (or maxn 0)");
  Model m{text::Vocab::load(dir + "/vocab.txt", tokenizer),
          text::LabelSet::load(dir + "/labels.txt"), max_len, ngrams, nullptr};
  if (std::filesystem::exists(dir + "/table.q8")) {
    EMBER_CHECK_IO(!archive.tensors.count("emb.weight"), dir,
                   ": both table.q8 and a float emb.weight; which one is the model?");
    archive.tensors["emb.weight"] = load_quantized(dir + "/table.q8");
  }
  auto kind = archive.metadata.find("model");  // absent in models saved before there were kinds
  const std::string model = kind == archive.metadata.end() ? "bag" : kind->second;
  for (const char* key : {"emb.weight", "fc2.weight"}) {
    EMBER_CHECK_IO(archive.tensors.count(key) && archive.tensors.at(key).dim() == 2, dir,
                   "/model.safetensors: no 2-D tensor '", key, "'");
  }
  const Shape emb = archive.tensors.at("emb.weight").shape();
  const Shape fc2 = archive.tensors.at("fc2.weight").shape();
  EMBER_CHECK_IO(emb[0] == m.vocab.size() + ngrams.buckets && fc2[0] == m.labels.size(), dir,
                 ": the model has ", emb[0], " rows and ", fc2[0], " classes, but vocab.txt has ",
                 m.vocab.size(), " words, the metadata ", ngrams.buckets,
                 " buckets and labels.txt ", m.labels.size(), " labels");
  NetworkShape shape{model,  emb[0],   emb[1], meta("hidden", std::to_string(fc2[1]).c_str()),
                     fc2[0], Tensor(), false};
  shape.max_len = m.max_len;
  m.net = make_network(shape);
  m.net->load_state_dict(archive.tensors);
  return m;
}

}  // namespace classifier

// Word-vector readers (three formats) and their alignment to a vocabulary.
#include "ember/text/vectors.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "../dense.hpp"
#include "ember/error.hpp"
#include "ember/text/lines.hpp"
#include "ember/text/tokenizer.hpp"

namespace ember::text {

namespace {

bool parse_header(const std::string& line, int64_t& count, int64_t& dim) {
  std::istringstream s(line);
  std::string extra;
  return (s >> count >> dim) && !(s >> extra) && count >= 0 && dim > 0;
}

// True when the bytes look like text: valid UTF-8 and no NUL or control bytes but whitespace.
bool looks_like_text(const std::string& bytes) {
  for (unsigned char c : bytes)
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
  // The sample may cut a multi-byte character at its end; allow 3 trailing bytes.
  size_t bad = 0;
  return is_valid_utf8(bytes, &bad) || bad + 4 > bytes.size();
}

void add_word(WordVectors& wv, const std::string& word, const std::string& where) {
  EMBER_CHECK_IO(!word.empty(), where, ": empty word");
  size_t bad = 0;
  EMBER_CHECK_IO(is_valid_utf8(word, &bad), where, ": invalid UTF-8 in word at byte ", bad);
  EMBER_CHECK_IO(wv.index.emplace(word, static_cast<int64_t>(wv.words.size())).second, where,
                 ": word '", word, "' appears twice");
  wv.words.push_back(word);
}

WordVectors read_text(LineReader& in, const std::string& path, bool header, int64_t count,
                      int64_t dim) {
  WordVectors wv;
  std::vector<float> values;
  std::string line;
  while (in.next(line)) {
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    std::string where = in.where();
    std::istringstream fields(line);
    std::string word;
    fields >> word;
    std::vector<float> row;
    std::string token;
    while (fields >> token) {
      char* end = nullptr;
      float v = std::strtof(token.c_str(), &end);
      EMBER_CHECK_IO(end == token.c_str() + token.size() && std::isfinite(v), where, ": '", token,
                     "' is not a number");
      row.push_back(v);
    }
    if (dim < 0) dim = static_cast<int64_t>(row.size());
    EMBER_CHECK_IO(dim > 0 && static_cast<int64_t>(row.size()) == dim, where, ": expected ", dim,
                   " values after the word, found ", row.size());
    add_word(wv, word, where);
    values.insert(values.end(), row.begin(), row.end());
  }
  EMBER_CHECK_IO(!wv.words.empty(), "load_word_vectors: '", path, "' holds no vectors");
  EMBER_CHECK_IO(!header || static_cast<int64_t>(wv.words.size()) == count, path,
                 ": the header promises ", count, " vectors, the file holds ", wv.words.size());
  wv.vectors = tensor(std::move(values), {static_cast<int64_t>(wv.words.size()), dim});
  return wv;
}

WordVectors read_binary(std::istream& in, const std::string& path, int64_t count, int64_t dim) {
  // The header is untrusted: check it against the file's size before allocating for it.
  const std::streampos start = in.tellg();
  in.seekg(0, std::ios::end);
  const int64_t remaining = static_cast<int64_t>(in.tellg() - start);
  in.seekg(start);
  EMBER_CHECK_IO(count * (dim * 4 + 2) <= remaining, path, ":1: the header promises ", count,
                 " vectors of ", dim, " floats, more than the ", remaining,
                 " bytes after it can hold (truncated file?)");
  WordVectors wv;
  std::vector<float> values(static_cast<size_t>(count * dim));
  for (int64_t i = 0; i < count; ++i) {
    std::string word;
    char c;
    while (in.get(c) && c != ' ') {
      if (c != '\n') word += c;
      EMBER_CHECK_IO(word.size() < 4096, path, ": vector ", i, ": word longer than 4096 bytes");
    }
    std::string where = path + ": vector " + std::to_string(i);
    EMBER_CHECK_IO(in.good(), where, ": file ends before the word");
    add_word(wv, word, where);
    in.read(reinterpret_cast<char*>(values.data() + i * dim),
            static_cast<std::streamsize>(dim * 4));
    EMBER_CHECK_IO(in.gcount() == dim * 4, where, ": file ends inside the vector (truncated)");
    for (int64_t j = 0; j < dim; ++j)
      EMBER_CHECK_IO(std::isfinite(values[static_cast<size_t>(i * dim + j)]), where, ": value ", j,
                     " is not finite");
  }
  EMBER_CHECK_IO(count > 0, "load_word_vectors: '", path, "' holds no vectors");
  wv.vectors = tensor(std::move(values), {count, dim});
  return wv;
}

}  // namespace

WordVectors load_word_vectors(const std::string& path, VectorFormat format) {
  LineReader lines(path, "load_word_vectors");
  std::istream& in = lines.stream();
  std::string first;
  lines.next(first);
  int64_t count = 0, dim = 0;
  bool header = parse_header(first, count, dim);
  if (format == VectorFormat::Auto) {
    if (!header) {
      format = VectorFormat::GloVe;
    } else {
      std::streampos data = in.tellg();
      std::string sample(4096, '\0');
      in.read(&sample[0], static_cast<std::streamsize>(sample.size()));
      sample.resize(static_cast<size_t>(in.gcount()));
      in.clear();
      in.seekg(data);
      format = looks_like_text(sample) ? VectorFormat::Word2VecText : VectorFormat::Word2VecBinary;
    }
  }
  if (format == VectorFormat::GloVe) {
    LineReader from_start(path, "load_word_vectors");
    return read_text(from_start, path, false, 0, -1);
  }
  EMBER_CHECK_IO(header, path, ":1: expected a header 'count dim', found '", first, "'");
  EMBER_CHECK_IO(count <= 100000000 && dim <= 100000, path, ":1: header ", count, " x ", dim,
                 " is implausibly large");
  if (format == VectorFormat::Word2VecText) return read_text(lines, path, true, count, dim);
  return read_binary(in, path, count, dim);
}

std::string AlignedVectors::report() const {
  char buf[128];
  int64_t total = found + missing;
  std::snprintf(buf, sizeof buf, "found %lld of %lld vocabulary words (%.1f%%)",
                static_cast<long long>(found), static_cast<long long>(total),
                total ? 100.0 * static_cast<double>(found) / static_cast<double>(total) : 0.0);
  return buf;
}

AlignedVectors align_to_vocab(const WordVectors& vectors, const Vocab& vocab, int64_t pad_index) {
  const int64_t D = vectors.dim();
  AlignedVectors out;
  out.weights = randn({vocab.size(), D});
  float* w = detail::own_values(out.weights).data();  // a fresh tensor: its whole storage
  detail::Dense source(vectors.vectors);
  const float* src = source->data();
  for (int64_t i = 0; i < vocab.size(); ++i) {
    if (i == pad_index) {
      std::fill_n(w + i * D, D, 0.f);
      continue;
    }
    auto it = vectors.index.find(vocab.lookup_token(i));
    if (it == vectors.index.end()) {
      ++out.missing;
      continue;
    }
    std::copy_n(src + it->second * D, D, w + i * D);
    ++out.found;
  }
  return out;
}

}  // namespace ember::text

// safetensors: round trips, both-way compatibility with PyTorch, and every malformed file a
// clear IoError that changes nothing.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ember/ember.hpp>
#include <fstream>
#include <sstream>

using namespace ember;

namespace {
std::string temp_path(const std::string& name) {
  return std::string(EMBER_BINARY_DIR) + "/io_test_" + name;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// A file with the given JSON header and `data_bytes` zero bytes of data.
std::string with_header(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  std::memcpy(&out[0], &n, 8);
  return out + header + std::string(data_bytes, '\0');
}

// The archive tests/golden/make_golden.py checks PyTorch can read (from_ember.safetensors).
io::Archive reference_archive() {
  io::Archive a;
  a.tensors["fc.weight"] = arange(6.f).reshape({2, 3}) / 2.f;
  a.tensors["fc.bias"] = tensor({-1.f, 0.5f});
  a.index_tensors["step"] = IndexTensor{1, 2, 3};
  a.metadata["format"] = "pt";
  a.metadata["note"] = "이름은 \"채영\"";
  return a;
}
}  // namespace

TEST_CASE("save then load gives the same names, shapes, values and metadata") {
  std::string path = temp_path("roundtrip.safetensors");
  io::save(reference_archive(), path);
  io::Archive back = io::load_archive(path);
  CHECK(back.tensors.at("fc.weight").shape() == Shape{2, 3});
  CHECK(back.tensors.at("fc.weight").to_vector() == std::vector<float>{0, 0.5, 1, 1.5, 2, 2.5});
  CHECK(equal(back.index_tensors.at("step"), IndexTensor{1, 2, 3}));
  CHECK(back.metadata.at("note") == "이름은 \"채영\"");
  CHECK_THROWS_WITH_AS(io::load(path), doctest::Contains("int64 tensor 'step'"), IoError);
  std::remove(path.c_str());
}

TEST_CASE("Ember writes exactly the file PyTorch was shown to read") {
  std::string path = temp_path("from_ember.safetensors");
  io::save(reference_archive(), path);
  CHECK(read_bytes(path) == read_bytes(std::string(EMBER_GOLDEN_DIR) + "/from_ember.safetensors"));
  std::remove(path.c_str());
}

TEST_CASE("Ember reads a file PyTorch wrote") {
  io::Archive a = io::load_archive(std::string(EMBER_GOLDEN_DIR) + "/from_torch.safetensors");
  std::ifstream expected(std::string(EMBER_GOLDEN_DIR) + "/from_torch.txt");
  std::string name;
  size_t checked = 0;
  while (expected >> name) {
    int64_t n;
    expected >> n;
    std::vector<float> values(static_cast<size_t>(n));
    for (float& v : values) expected >> v;
    if (a.tensors.count(name)) {
      CHECK(a.tensors.at(name).to_vector() == values);
    } else {
      REQUIRE(a.index_tensors.count(name));
      std::vector<int64_t> ids = a.index_tensors.at(name).to_vector();
      CHECK(std::vector<float>(ids.begin(), ids.end()) == values);
    }
    ++checked;
  }
  CHECK(checked == a.tensors.size() + a.index_tensors.size());
  CHECK(a.tensors.at("0.weight").shape() == Shape{3, 4});
  CHECK(a.metadata.at("source") == "torch 1.13");
}

TEST_CASE("a model saved and loaded through a file, and a wrong file leaves it unchanged") {
  manual_seed(2);
  nn::Sequential a({std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(),
                    std::make_shared<nn::Linear>(3, 2)});
  nn::Sequential b({std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::ReLU>(),
                    std::make_shared<nn::Linear>(3, 2)});
  std::string path = temp_path("model.safetensors");
  io::save(a.state_dict(), path);
  b.load_state_dict(io::load(path));
  CHECK(b.state_dict().at("2.weight").to_vector() == a.state_dict().at("2.weight").to_vector());

  nn::Sequential other({std::make_shared<nn::Linear>(4, 5)});
  io::save(other.state_dict(), path);
  std::vector<float> before = b.state_dict().at("0.weight").to_vector();
  CHECK_THROWS_AS(b.load_state_dict(io::load(path)), ShapeError);
  CHECK(b.state_dict().at("0.weight").to_vector() == before);
  std::remove(path.c_str());
}

TEST_CASE("malformed safetensors files throw IoError naming the problem") {
  std::string path = temp_path("bad.safetensors");
  auto fails_with = [&](const std::string& bytes, const std::string& fragment) {
    write_bytes(path, bytes);
    CAPTURE(fragment);
    CHECK_THROWS_WITH_AS(io::load_archive(path), doctest::Contains(fragment.c_str()), IoError);
  };
  const std::string good = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  fails_with("abc", "truncated: 3 bytes");
  fails_with(with_header(good, 8).substr(0, 20), "runs past the end of the file");
  fails_with(with_header("{not json", 0), "not valid JSON");
  fails_with(with_header(R"({"a":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8),
             "tensor 'a' has dtype I32, which Ember does not read");
  fails_with(with_header(R"({"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}})", 2),
             "tensor 'w' has dtype F8_E4M3, which Ember does not read");
  fails_with(with_header(R"({"b":{"dtype":"BF16","shape":[3],"data_offsets":[0,8]}})", 8),
             "tensor 'b' of shape [3] and dtype BF16 needs 3 elements of 2 bytes but its "
             "offsets hold 8");
  std::string two = with_header(R"({"m":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}})", 3);
  two[two.size() - 2] = 2;
  fails_with(two, "tensor 'm' of dtype BOOL has byte 2 at element 1; a bool is 0 or 1");
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                         8),
             "duplicate key \"a\"");
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                         12),
             "tensors 'a' and 'b' overlap");
  fails_with(with_header(good, 4), "offsets [0, 8] are out of range for 4 bytes of data");
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
             "needs 3 elements of 4 bytes but its offsets hold 8");
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
             "must be a non-negative integer");
  fails_with(with_header(R"([1,2])", 0), "not a JSON object");
  CHECK_THROWS_WITH_AS(io::load_archive(temp_path("does_not_exist")),
                       doctest::Contains("cannot open the file"), IoError);
  std::remove(path.c_str());
}

TEST_CASE("the data ranges must tile the data: no hidden overlap, no gap, no trailing bytes") {
  std::string path = temp_path("tiling.safetensors");
  auto fails_with = [&](const std::string& bytes, const std::string& fragment) {
    write_bytes(path, bytes);
    CAPTURE(fragment);
    CHECK_THROWS_WITH_AS(io::load_archive(path), doctest::Contains(fragment.c_str()), IoError);
  };
  // A zero-length range inside another: compared only with its predecessor it slipped through.
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                         R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
                         8),
             "overlap");
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                         R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                         12),
             "bytes [4, 8) before tensor 'b' belong to no tensor");
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
             "bytes [0, 4) before tensor 'a' belong to no tensor");
  fails_with(with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 12),
             "4 trailing bytes after the last tensor");
  // What the format allows: a zero-length tensor at the boundary, in any header order.
  write_bytes(path, with_header(R"({"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},)"
                                R"("e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                                8));
  CHECK(io::load_archive(path).tensors.size() == 3);
  std::remove(path.c_str());
}

TEST_CASE("saving leaves no temporary file behind and replaces the old file") {
  std::string path = temp_path("atomic.safetensors");
  io::save(StateDict{{"x", ones({2})}}, path);
  io::save(StateDict{{"x", zeros({3})}}, path);
  CHECK(io::load(path).at("x").to_vector() == std::vector<float>{0, 0, 0});
  std::ifstream tmp(path + ".tmp." + std::to_string(::getpid()));
  CHECK_FALSE(tmp.good());
  std::remove(path.c_str());
}


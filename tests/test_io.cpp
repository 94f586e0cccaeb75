// safetensors: round trips, both-way compatibility with PyTorch, and every malformed file a
// clear IoError that changes nothing.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ember/ember.hpp>
#include <fstream>
#include <map>
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

// ---- Dtypes: bfloat16 checkpoints both ways with PyTorch (tests/golden/make_golden_io.py) ----

namespace {
// Each element's bits, whatever the dtype (row-major; a float16 file's tensor is float32).
std::vector<uint64_t> element_bits(const Tensor& t) {
  const auto packed = detail::convert_storage(t, t.dtype());
  const size_t size = element_size(t.dtype());
  std::vector<uint64_t> out(static_cast<size_t>(t.numel()), 0);
  for (size_t i = 0; i < out.size(); ++i)
    std::memcpy(&out[i], static_cast<const char*>(packed->bytes()) + i * size, size);
  return out;
}

struct BitsLine {
  std::string dtype;
  Shape shape;
  std::vector<uint64_t> bits;
};

// from_torch_bf16.txt: "name DTYPE d0,d1 hexbits ..." per tensor.
std::map<std::string, BitsLine> read_bits(const std::string& path) {
  std::ifstream in(path);
  REQUIRE(in.good());
  std::map<std::string, BitsLine> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, shape, x;
    BitsLine b;
    fields >> name >> b.dtype >> shape;
    std::istringstream dims(shape);
    while (std::getline(dims, x, ',')) b.shape.push_back(std::stoll(x));
    while (fields >> x) b.bits.push_back(std::stoull(x, nullptr, 16));
    out[name] = b;
  }
  return out;
}

Tensor float_from_bits(const BitsLine& b) {
  std::vector<float> v(b.bits.size());
  for (size_t i = 0; i < v.size(); ++i) {
    const auto u = static_cast<uint32_t>(b.bits[i]);
    std::memcpy(&v[i], &u, 4);
  }
  return tensor(v, b.shape);
}

std::shared_ptr<nn::Sequential> linear_layer_norm() {
  return std::make_shared<nn::Sequential>(std::initializer_list<std::shared_ptr<nn::Module>>{
      std::make_shared<nn::Linear>(4, 3), std::make_shared<nn::LayerNorm>(Shape{3})});
}
}  // namespace

TEST_CASE("Ember reads PyTorch's bf16 checkpoint and its F64, BOOL and F16 tensors exactly") {
  const std::string dir = EMBER_GOLDEN_DIR;
  io::Archive a = io::load_archive(dir + "/from_torch_bf16.safetensors");
  auto want = read_bits(dir + "/from_torch_bf16.txt");
  const std::map<std::string, Dtype> dtypes{{"F32", kFloat32},
                                            {"F16", kFloat32},
                                            {"BF16", kBFloat16},
                                            {"F64", kFloat64},
                                            {"BOOL", kBool}};
  size_t checked = 0;
  for (const auto& [name, b] : want) {
    if (name.rfind("forward.", 0) == 0) continue;
    CAPTURE(name);
    REQUIRE(a.tensors.count(name));
    const Tensor& t = a.tensors.at(name);
    CHECK(t.dtype() == dtypes.at(b.dtype));
    CHECK(t.shape() == b.shape);
    CHECK(element_bits(t) == b.bits);  // F16's subnormals, infinities, NaNs and -0 included
    ++checked;
  }
  CHECK(checked == a.tensors.size());
  CHECK(a.metadata.at("source") == "torch 1.13 bf16");

  SUBCASE("the bf16 state dict loads into a float32 model, which computes what PyTorch does") {
    auto model = linear_layer_norm();
    StateDict weights;
    for (const auto& [name, t] : a.tensors)
      if (name.rfind("extra.", 0) != 0) weights[name] = t;
    model->load_state_dict(weights);
    for (const auto& [name, p] : model->state_dict()) {
      CAPTURE(name);
      CHECK(p.dtype() == kFloat32);
      CHECK(p.to_vector() == weights.at(name).to_vector());  // bfloat16 widens exactly
    }
    const std::vector<float> got =
        model->forward(float_from_bits(want.at("forward.x"))).to_vector();
    const std::vector<float> out = float_from_bits(want.at("forward.out")).to_vector();
    REQUIRE(got.size() == out.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(out[i]).epsilon(1e-5));
  }
}

namespace {
// The float32 model of make_golden_io.py's ember_bf16_model().
std::shared_ptr<nn::Sequential> reference_bf16_model() {
  auto model = linear_layer_norm();
  model->load_state_dict({{"0.weight", (arange(12.f) / 7.f - 0.8f).reshape({3, 4})},
                          {"0.bias", tensor({0.1f, -0.2f, 0.3f})},
                          {"1.weight", tensor({1.5f, 0.75f, -1.f})},
                          {"1.bias", tensor({0.01f, 0.02f, 0.03f})}});
  return model;
}
}  // namespace

TEST_CASE("a float32 model saves in bf16 on request: the bytes PyTorch was shown to read") {
  auto model = reference_bf16_model();
  StateDict dict = model->state_dict();
  dict["mask"] = tensor({1, 0, 1, 0, 0, 1}, {2, 3}, kBool);
  dict["scale"] = tensor({0.1, 1.0 / 3.0}, {2}, kFloat64);  // float64 stays float64
  const std::string path = temp_path("from_ember_bf16.safetensors");
  io::save(dict, path, io::SaveOptions().dtype(kBFloat16).metadata({{"format", "pt"}}));
  CHECK(read_bytes(path) ==
        read_bytes(std::string(EMBER_GOLDEN_DIR) + "/from_ember_bf16.safetensors"));
  CHECK(model->state_dict().at("0.weight").dtype() == kFloat32);  // the model is untouched

  StateDict back = io::load(path);
  CHECK(back.at("0.weight").dtype() == kBFloat16);
  CHECK(back.at("mask").dtype() == kBool);
  CHECK(back.at("scale").dtype() == kFloat64);
  CHECK(back.at("scale").select(0, 1).item<double>() == 1.0 / 3.0);
  CHECK(element_bits(back.at("mask")) == std::vector<uint64_t>{1, 0, 1, 0, 0, 1});
  CHECK(back.at("0.weight").to_vector() ==
        dict.at("0.weight").to(kBFloat16).to_vector());  // rounded as to() rounds

  SUBCASE("each tensor in its own dtype without the option, and a view packed") {
    StateDict mixed{{"t", dict.at("0.weight").to(kBFloat16).transpose(0, 1)},
                    {"mask", dict.at("mask")},
                    {"f", dict.at("0.bias")}};
    io::save(mixed, path);
    StateDict again = io::load(path);
    CHECK(again.at("t").dtype() == kBFloat16);
    CHECK(again.at("t").shape() == Shape{4, 3});
    CHECK(again.at("t").to_vector() == mixed.at("t").to_vector());
    CHECK(again.at("f").dtype() == kFloat32);
    CHECK(element_bits(again.at("mask")) == element_bits(dict.at("mask")));
  }
  SUBCASE("a bool dtype is refused") {
    CHECK_THROWS_WITH_AS(io::save(dict, path, io::SaveOptions().dtype(kBool)),
                         doctest::Contains("it must be a floating dtype"), DtypeError);
  }
  std::remove(path.c_str());
}

TEST_CASE("load_state_dict converts between floating dtypes and refuses bool for float") {
  struct Net : nn::Module {
    Tensor w = register_parameter("w", zeros({2}));
    Tensor mask = register_buffer("mask", zeros({2}, kBool));
    Tensor acc = register_buffer("acc", zeros({3}, kFloat64));
    Tensor grid = register_buffer("grid", zeros({2, 3}, kFloat64).transpose(0, 1));  // strided
  } net;
  net.load_state_dict({{"w", tensor({0.1, 2.5}, {2}, kFloat64)},
                       {"mask", tensor({0, 1}, {2}, kBool)},
                       {"acc", tensor({1.f, 1.f / 3.f, 7.f})},  // float32 into float64
                       {"grid", arange(6.f).reshape({3, 2})}});
  CHECK(net.w.dtype() == kFloat32);
  CHECK(net.w.to_vector() == std::vector<float>{0.1f, 2.5f});
  CHECK(element_bits(net.mask) == std::vector<uint64_t>{0, 1});
  CHECK(net.acc.select(0, 1).item<double>() == double(1.f / 3.f));
  CHECK(net.grid.to_vector() == std::vector<float>{0, 1, 2, 3, 4, 5});
  CHECK(net.grid.transpose(0, 1).contiguous().to_vector() == std::vector<float>{0, 2, 4, 1, 3, 5});

  CHECK_THROWS_WITH_AS(net.load_state_dict({{"w", tensor({5.0, 6.0}, {2}, kFloat64)},
                                            {"mask", tensor({1, 0}, {2}, kBool)},
                                            {"acc", tensor({1.0, 0.0, 1.0}, {3}, kBool)},
                                            {"grid", zeros({3, 2})}}),
                       doctest::Contains("dtype mismatch (floating dtypes convert into each "
                                         "other, bool only into bool): acc (checkpoint bool, "
                                         "model float64)"),
                       DtypeError);
  CHECK_THROWS_WITH_AS(net.load_state_dict({{"w", tensor({5.0, 6.0}, {2}, kBool)},
                                            {"mask", tensor({1.f, 0.f})},
                                            {"acc", zeros({3})},
                                            {"grid", zeros({3, 2})}}),
                       doctest::Contains("w (checkpoint bool, model float32), mask (checkpoint "
                                         "float32, model bool)"),
                       DtypeError);
  // Nothing was changed by the failed loads.
  CHECK(net.w.to_vector() == std::vector<float>{0.1f, 2.5f});
  CHECK(element_bits(net.mask) == std::vector<uint64_t>{0, 1});
  CHECK(net.acc.select(0, 0).item<double>() == 1.0);
}

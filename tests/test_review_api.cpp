// Issue 21 (round-three review), the API half: each case failed before its fix. PyTorch 1.13's
// behaviour, where it has one, was checked with /usr/bin/python3 and is quoted beside the case.
#include <doctest/doctest.h>

#include <ember/ember.hpp>
#include <filesystem>
#include <sstream>

using namespace ember;

namespace {
const char* const kNoGradView = "a view was created in no_grad mode and is being modified inplace";
const char* const kNoGradBase =
    "was created in no_grad mode and its base or another view of its base has been modified "
    "inplace";
}  // namespace

// PyTorch: "A view was created in no_grad mode and is being modified inplace with grad mode
// enabled. ..." (direct), and "... and its base or another view of its base has been modified
// inplace ..." when the view is used after its storage was written.
TEST_CASE("review 1: a view made under NoGradGuard cannot be modified in place with grad on") {
  Tensor x = tensor({1.f, 2.f}, true);
  Tensor y = x * 2.f;
  Tensor v;
  {
    NoGradGuard no_grad;
    v = y.narrow(0, 0, 1);
  }
  SUBCASE("the issue's case: mul_ on the view, naming the op") {
    CHECK_THROWS_WITH_AS(v.mul_(5.f),
                         doctest::Contains((std::string("mul_: ") + kNoGradView).c_str()), Error);
    CHECK(y.to_vector() == std::vector<float>{2.f, 4.f});  // nothing was written
  }
  SUBCASE("a view of such a view inherits it (PyTorch: an internal assert)") {
    Tensor w = v.view({1});
    CHECK_THROWS_WITH_AS(w.add_(1.f),
                         doctest::Contains((std::string("add_: ") + kNoGradView).c_str()), Error);
  }
  SUBCASE("a view of a leaf that requires grad: the no_grad error comes first, as in PyTorch") {
    Tensor leaf = tensor({1.f, 2.f}, true), lv;
    {
      NoGradGuard no_grad;
      lv = leaf.narrow(0, 1, 1);
    }
    CHECK_THROWS_WITH_AS(lv.zero_(),
                         doctest::Contains((std::string("zero_: ") + kNoGradView).c_str()), Error);
    CHECK(leaf.to_vector() == std::vector<float>{1.f, 2.f});
  }
  SUBCASE("the base is written in place, then the view is used with grad") {
    y.mul_(3.f);
    CHECK_THROWS_WITH_AS(sum(v * v), doctest::Contains(kNoGradBase), Error);
  }
  SUBCASE("the view written under NoGradGuard, then used with grad (PyTorch refuses too)") {
    {
      NoGradGuard no_grad;
      v.mul_(5.f);
    }
    CHECK_THROWS_WITH_AS(sum(v * v), doctest::Contains(kNoGradBase), Error);
  }
  SUBCASE("allowed: both under NoGradGuard, the view used without grad, nothing needing grad") {
    {
      NoGradGuard no_grad;
      v.mul_(5.f);
      CHECK(sum(v * v).item() == doctest::Approx(100.f));
    }
    Tensor plain = zeros({2}), pv;
    {
      NoGradGuard no_grad;
      pv = plain.narrow(0, 0, 1);
    }
    pv.add_(ones({1}));  // PyTorch allows it: nothing requires grad
    CHECK(plain.to_vector() == std::vector<float>{1.f, 0.f});
  }
  SUBCASE("a tensor that needs grad written into a plain no_grad view is refused too") {
    Tensor plain = zeros({2}), pv;
    {
      NoGradGuard no_grad;
      pv = plain.narrow(0, 0, 1);
    }
    Tensor w = ones({1}, true);
    CHECK_THROWS_WITH_AS(pv.mul_(w),
                         doctest::Contains((std::string("mul_: ") + kNoGradView).c_str()), Error);
  }
}

// torch.optim.AdamW(params, lr) decays by 0.01; AdamW(params, AdamOptions(lr)) no longer
// compiles (ctest adamw_adam_options_is_a_compile_error), and AdamWOptions says 0.01.
TEST_CASE("review 6: AdamW has its own options, with PyTorch's weight decay 0.01") {
  CHECK(optim::AdamWOptions(0.1).weight_decay() == 0.01);
  CHECK(optim::AdamOptions(0.1).weight_decay() == 0.0);
  SUBCASE("a zero gradient: the weight shrinks by lr * 0.01, as torch.optim.AdamW(p, lr=0.1)") {
    Tensor w = ones({2}, true);
    optim::AdamW opt(std::vector<Tensor>{w}, optim::AdamWOptions(0.1));
    sum(w * 0.f).backward();
    opt.step();
    CHECK(w.to_vector()[0] == doctest::Approx(1.0 - 0.1 * 0.01).epsilon(1e-7));
  }
  SUBCASE("a parameter group given Adam's options is refused, not read as AdamW's") {
    Tensor w = ones({2}, true);
    std::vector<optim::ParamGroup> groups;
    groups.emplace_back(std::vector<Tensor>{w}, std::make_unique<optim::AdamOptions>(0.1));
    CHECK_THROWS_WITH_AS(optim::AdamW(std::move(groups)),
                         doctest::Contains("AdamW: a parameter group's options were made for "
                                           "another optimizer"),
                         ValueError);
  }
}

// PyTorch: a sparse p.grad takes mul_(s), div_(s) and zero_(); add_(dense) and the like raise.
TEST_CASE("review 7: in-place ops on a row-sparse gradient act on it or throw") {
  nn::Embedding emb(nn::EmbeddingOptions(4, 2).sparse(true));
  sum(emb(IndexTensor({1, 3, 1}))).backward();
  REQUIRE(emb.weight.has_sparse_grad());
  const std::vector<float> before = emb.weight.grad().to_vector();
  SUBCASE("mul_ and div_ by a number scale it, as they scale a dense gradient") {
    emb.weight.grad().mul_(0.5f);
    std::vector<float> after = emb.weight.grad().to_vector();
    for (size_t i = 0; i < after.size(); ++i) CHECK(after[i] == before[i] * 0.5f);
    emb.weight.grad().div_(4.f);
    CHECK(emb.weight.grad().to_vector()[2] == doctest::Approx(before[2] / 8.f));
    CHECK(emb.weight.has_sparse_grad());  // still row-sparse: the optimizer's lazy path
  }
  SUBCASE("zero_ empties it") {
    emb.weight.grad().zero_();
    CHECK(emb.weight.sparse_grad().rows.empty());
    CHECK(sum(emb.weight.grad()).item() == 0.f);
  }
  SUBCASE("other writes would be lost: refused, naming the op") {
    CHECK_THROWS_WITH_AS(emb.weight.grad().add_(1.f),
                         doctest::Contains("add_: this tensor is the dense copy grad() made of a "
                                           "row-sparse gradient (shape [4,2]"),
                         Error);
    CHECK_THROWS_WITH_AS(emb.weight.grad().clamp_(-1.f, 1.f), doctest::Contains("clamp_: "), Error);
    CHECK_THROWS_WITH_AS(emb.weight.grad().narrow(0, 1, 1).mul_(2.f),
                         doctest::Contains("mul_: this tensor is the dense copy"), Error);
    CHECK(emb.weight.grad().to_vector() == before);
  }
  SUBCASE("a dense copy taken from grad() and then set_grad() is an ordinary tensor") {
    Tensor g = emb.weight.grad() * 2.f;
    g.add_(1.f);
    emb.weight.set_grad(g);
    CHECK(emb.weight.grad().to_vector()[0] == 1.f);
  }
}

namespace {
struct Box : nn::Module {
  Box() { register_parameter("w", ones({1})); }
};
}  // namespace

TEST_CASE("review 14: register_module refuses a cycle instead of overflowing the stack later") {
  Box a, b, c;
  CHECK_THROWS_WITH_AS(a.register_module("self", a),
                       doctest::Contains("register_module: 'self' (Box) is the module itself"),
                       ValueError);
  a.register_module("b", b);
  b.register_module("c", c);
  CHECK_THROWS_WITH_AS(b.register_module("a", a),
                       doctest::Contains("register_module: 'a' (Box) is an ancestor of this "
                                         "module (Box); registering it would make a cycle"),
                       ValueError);
  CHECK_THROWS_WITH_AS(c.register_module("a", a), doctest::Contains("would make a cycle"),
                       ValueError);
  Box shared;  // one module in two places (a diamond) is no cycle, as in PyTorch
  a.register_module("left", shared);
  b.register_module("right", shared);
  CHECK(a.parameters().size() == 4);  // a, b, c and shared: each tensor once
}

TEST_CASE("review 17: messages name the file, key, hook or argument") {
  const std::string dir = std::string(EMBER_BINARY_DIR) + "/review_api_test";
  std::filesystem::create_directories(dir);
  SUBCASE("a bad number in an optimizer state names the key (was: stod)") {
    Tensor w = ones({2}, true);
    optim::Adam opt(std::vector<Tensor>{w}, optim::AdamOptions(0.1));
    io::Archive state = opt.state_dict();
    state.metadata["param_groups.0.lr"] = "fast";
    CHECK_THROWS_WITH_AS(opt.load_state_dict(state),
                         "Adam: load_state_dict: 'param_groups.0.lr' is 'fast', not a number",
                         ValueError);
  }
  SUBCASE("a bad step in a checkpoint names the file and key (was: stoll)") {
    io::Archive archive;
    archive.tensors["model.w"] = ones({1});
    archive.metadata["ember.checkpoint.step"] = "ten";
    const std::string path = dir + "/bad_step.safetensors";
    io::save(archive, path);
    CHECK_THROWS_WITH_AS(distributed::load_checkpoint(path),
                         doctest::Contains("bad_step.safetensors': ember.checkpoint.step is 'ten', "
                                           "not a non-negative integer"),
                         IoError);
  }
  SUBCASE("a hook returning the wrong shape is named, with both shapes (was: blamed on mul)") {
    Tensor x = ones({2, 3}, true);
    Tensor y = x * 2.f;
    y.register_hook([](const Tensor&) { return zeros({3}); });
    CHECK_THROWS_WITH_AS(sum(y * y).backward(),
                         "register_hook: hook 0 of the output of mul returned a gradient of shape "
                         "[3] for a gradient of shape [2,3]; a hook must keep the shape",
                         ShapeError);
    Tensor leaf = ones({2}, true);
    leaf.register_hook([](const Tensor& g) { return g; });
    leaf.register_hook([](const Tensor&) { return ones({2, 2}); });
    CHECK_THROWS_WITH_AS(sum(leaf * 3.f).backward(),
                         doctest::Contains("register_hook: hook 1 of a leaf tensor returned a "
                                           "gradient of shape [2,2] for a gradient of shape [2]"),
                         ShapeError);
  }
  SUBCASE("a directory given as a safetensors file or a text file (was: basic_filebuf)") {
    CHECK_THROWS_WITH_AS(
        io::load_archive(dir),
        doctest::Contains(("io::load: '" + dir + "': it is a directory, not a file").c_str()),
        IoError);
    CHECK_THROWS_WITH_AS(
        text::Vocab::load(dir),
        doctest::Contains(("Vocab::load: '" + dir + "' is a directory, not a file").c_str()),
        IoError);
  }
  SUBCASE("expand refuses a negative size other than -1 at once") {
    // PyTorch: "numel: integer multiplication overflow" (leading) and "The expanded size of the
    // tensor (-2) must match the existing size (3)".
    CHECK_THROWS_WITH_AS(zeros({1, 3}).expand({-2, 3}),
                         "expand: invalid size -2 at dim 0 of [-2,3] (shape [1,3]); only -1, which "
                         "keeps the size, may be negative",
                         ShapeError);
    CHECK_THROWS_AS(zeros({1, 3}).expand({-2, 1, 3}), ShapeError);
    CHECK(zeros({1, 3}).expand({-1, 3}).shape() == Shape{1, 3});
  }
}

// Python's list(text): every code point, kept exactly, so a character LM reproduces its text.
TEST_CASE("review 21: a raw code-point mode keeps every character: decode(encode(s)) == s") {
  text::TokenizerOptions raw;
  raw.unit = text::TokenUnit::RawCodePoint;
  // a tab, a line break, a ligature NFKC would split, e + a combining accent (NFD), an emoji
  const std::string s = "a\tb\n\xEF\xAC\x81 e\xCC\x81 \xF0\x9F\x91\x8D\r\n\\";
  std::vector<std::string> tokens = text::tokenize(s, raw);
  CHECK(tokens.size() == 13);
  CHECK(tokens[1] == "\t");
  CHECK(tokens[3] == "\n");
  CHECK(tokens[4] == "\xEF\xAC\x81");
  text::Vocab vocab = text::Vocab::build({s}, {"<unk>"}, 1, std::nullopt, raw);
  CHECK(vocab.decode(vocab.encode(s)) == s);
  SUBCASE("the other character modes normalise, as documented") {
    text::TokenizerOptions points;
    points.unit = text::TokenUnit::CodePoint;
    text::Vocab normalised = text::Vocab::build({s}, {"<unk>"}, 1, std::nullopt, points);
    CHECK(normalised.decode(normalised.encode(s)) != s);
  }
  SUBCASE("saved and loaded: line breaks, backslash and a byte-order mark survive the file") {
    const std::string path = std::string(EMBER_BINARY_DIR) + "/review_raw_vocab.txt";
    text::Vocab odd(std::vector<std::string>{"\xEF\xBB\xBF", "\n", "\r", "\\", "\\n", "x"}, raw);
    odd.save(path);
    text::Vocab back = text::Vocab::load(path, raw);
    CHECK(back.tokens() == odd.tokens());
    text::Vocab whole = text::Vocab::build({s}, {"<unk>"}, 1, std::nullopt, raw);
    whole.save(path);
    CHECK(text::Vocab::load(path, raw).decode(whole.encode(s)) == s);
  }
  SUBCASE("lower cannot apply to text kept exactly") {
    raw.lower = true;
    CHECK_THROWS_WITH_AS(text::tokenize("A", raw),
                         doctest::Contains("tokenize: TokenUnit::RawCodePoint keeps the text "
                                           "exactly"),
                         ValueError);
  }
  SUBCASE("invalid UTF-8 is still an error") {
    CHECK_THROWS_WITH_AS(text::tokenize("ok\xff", raw), "tokenize: invalid UTF-8 at byte 2",
                         ValueError);
  }
}

TEST_CASE("review 16: the line reader drops a UTF-8 byte-order mark at the start only") {
  std::istringstream in("\xEF\xBB\xBFgood\ttext\n\xEF\xBB\xBFsecond\n");
  text::LineReader reader(in, "<memory>");
  std::string line;
  REQUIRE(reader.next(line));
  CHECK(line == "good\ttext");
  REQUIRE(reader.next(line));
  CHECK(line == "\xEF\xBB\xBFsecond");  // inside the text a U+FEFF is a character
}

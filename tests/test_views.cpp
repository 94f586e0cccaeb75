// Views share storage; in-place ops bump a version that backward checks; broadcast matmul.
// Values and gradients against PyTorch 1.13 (golden/views.txt, made by make_golden_views.py).
#include <functional>
#include <limits>
#include <utility>

#include "golden.hpp"
#include "gradcheck.hpp"

using namespace ember;
namespace F = ember::nn::functional;
using X = std::vector<Tensor>;
using Fn = std::function<Tensor(const X&)>;

namespace {

Tensor chunked(const Tensor& x) {
  auto c = x.chunk(3, 1);
  return c[0] * c[2] + c[1];
}

// y = x0 * 1 (a non-leaf), changed in place by `fn`; the case's output is y.
Fn inplace(std::function<void(const Tensor&, const X&)> fn) {
  return [fn](const X& x) {
    Tensor y = x[0] * 1.0f;
    fn(y, x);
    return y;
  };
}

// A tensor that needs no grad, filled column by column from tensors that do.
Tensor fresh_filled(const X& x) {
  Tensor h = zeros({3, 4});
  h.select(1, 0).copy_(x[0] * 2.0f);
  h.select(1, 2).copy_(x[1]);
  return h;
}

const Tensor& mask() {
  static const Tensor m = tensor({1, 0, 0, 1, 0, 1, 0, 0, 1, 1, 0, 0}, {3, 4}, kBool);
  return m;
}

const std::map<std::string, Fn>& cases() {
  static const std::map<std::string, Fn> table = {
      {"narrow", [](const X& x) { return x[0].narrow(1, 1, 2); }},
      {"narrow_negative_start", [](const X& x) { return x[0].narrow(0, -2, 2); }},
      {"select", [](const X& x) { return x[0].select(0, 1); }},
      {"select_negative", [](const X& x) { return x[0].select(1, -1); }},
      {"slice_step", [](const X& x) { return x[0].slice(1, 1, 5, 2); }},
      {"chunk", [](const X& x) { return chunked(x[0]); }},
      {"split_sizes",
       [](const X& x) {
         auto s = x[0].split(Shape{1, 3}, 1);
         return s[1] * s[0];
       }},
      {"unbind",
       [](const X& x) {
         auto u = x[0].unbind(1);
         return u[0] * u[2] + u[1];
       }},
      {"expand",
       [](const X& x) {
         return x[0].expand({3, 4}) * x[1];
       }},
      {"expand_new_dims",
       [](const X& x) {
         return x[0].expand({2, 3, 4});
       }},
      {"transpose", [](const X& x) { return x[0].transpose(0, 2); }},
      {"t", [](const X& x) { return x[0].t(); }},
      {"view",
       [](const X& x) {
         return x[0].view({3, -1});
       }},
      {"reshape_transposed", [](const X& x) { return x[0].t().reshape({-1}); }},
      {"flatten", [](const X& x) { return x[0].flatten(1); }},
      {"squeeze_dim", [](const X& x) { return x[0].squeeze(1); }},
      {"unsqueeze", [](const X& x) { return x[0].unsqueeze(1); }},
      {"contiguous", [](const X& x) { return x[0].t().contiguous() * x[1]; }},
      {"chained_views",
       [](const X& x) {
         return x[0].t().narrow(0, 1, 2).unsqueeze(0).expand({2, 2, 3});
       }},
      {"inplace_add", inplace([](const Tensor& y, const X& x) { y.add_(x[1]); })},
      {"inplace_add_alpha", inplace([](const Tensor& y, const X& x) { y.add_(x[1], 0.5f); })},
      {"inplace_sub", inplace([](const Tensor& y, const X& x) { y.sub_(x[1]); })},
      {"inplace_mul", inplace([](const Tensor& y, const X& x) { y.mul_(x[1]); })},
      {"inplace_div", inplace([](const Tensor& y, const X& x) { y.div_(x[1]); })},
      {"inplace_scalars",
       inplace([](const Tensor& y, const X&) { y.mul_(2.0f).add_(0.5f).div_(4.0f).sub_(1.0f); })},
      {"inplace_zero",
       [](const X& x) { return inplace([](const Tensor& y, const X&) { y.zero_(); })(x) + x[1]; }},
      {"inplace_fill",
       [](const X& x) {
         return inplace([](const Tensor& y, const X&) { y.fill_(0.25f); })(x) * x[1];
       }},
      {"inplace_copy",
       [](const X& x) {
         return inplace([](const Tensor& y, const X& z) { y.copy_(z[1]); })(x) * 2.0f;
       }},
      {"inplace_clamp", inplace([](const Tensor& y, const X&) { y.clamp_(-0.5f, 0.5f); })},
      {"inplace_masked_fill",
       inplace([](const Tensor& y, const X&) { y.masked_fill_(mask(), 0.3f); })},
      {"inplace_chain", inplace([](const Tensor& y, const X& x) { y.mul_(x[1]).add_(x[1]); })},
      {"matmul_4d_4d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_broadcast_batch", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_4d_2d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_2d_3d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_1d_1d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_1d_2d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_2d_1d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_1d_3d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"matmul_3d_1d", [](const X& x) { return matmul(x[0], x[1]); }},
      {"bmm", [](const X& x) { return bmm(x[0], x[1]); }},
      {"add_transposed", [](const X& x) { return x[0].t() + x[1]; }},
      {"mul_expanded",
       [](const X& x) {
         return x[0].expand({3, 4}) * x[1];
       }},
      {"softmax_transposed", [](const X& x) { return softmax(x[0].transpose(0, 1), 1); }},
      {"log_softmax_narrowed", [](const X& x) { return log_softmax(x[0].narrow(1, 1, 3), 1); }},
      {"matmul_transposed", [](const X& x) { return matmul(x[0].t(), x[1].t()); }},
      {"linear_transposed", [](const X& x) { return linear(x[0].t(), x[1], x[2]); }},
      {"sum_permuted",
       [](const X& x) {
         return sum(x[0].permute({2, 0, 1}), {1});
       }},
      {"mean_sliced", [](const X& x) { return mean(x[0].slice(1, 0, 6, 2)); }},
      {"tanh_selected", [](const X& x) { return tanh(x[0].select(1, 2)); }},
      {"exp_narrowed", [](const X& x) { return exp(x[0].narrow(0, 1, 2)); }},
      {"cat_views",
       [](const X& x) {
         return cat({x[0].t(), x[1].narrow(0, 0, 2)}, 0);
       }},
      {"layer_norm_transposed", [](const X& x) { return F::layer_norm(x[0].t(), {3}); }},
      {"inplace_on_view",
       inplace([](const Tensor& y, const X& x) { y.narrow(1, 1, 2).mul_(x[1]); })},
      {"inplace_on_view_of_fresh", [](const X& x) { return fresh_filled(x) * fresh_filled(x); }},
      {"inplace_on_chained_view",
       inplace([](const Tensor& y, const X& x) { y.t().narrow(0, 1, 2).add_(x[1]); })},
      {"inplace_view_used_after",
       [](const X& x) {
         Tensor y = x[0] * 1.0f;
         Tensor v = y.narrow(0, 0, 2);
         v.mul_(x[1]);
         return v * y.sum();
       }},
      {"inplace_base_with_live_view",
       [](const X& x) {
         Tensor y = x[0] * 1.0f;
         Tensor v = y.narrow(1, 0, 2);
         y.mul_(x[1]);
         return v * v;
       }},
      {"inplace_on_two_views", inplace([](const Tensor& y, const X& x) {
         y.select(0, 0).mul_(2.0f);
         y.select(0, 2).add_(x[1]);
       })},
  };
  return table;
}

}  // namespace

TEST_CASE("golden: views, in-place ops and broadcast matmul match PyTorch") {
  golden::File file = golden::load("views.txt");
  CHECK(file.size() == cases().size());
  for (const auto& [name, c] : file) {
    SUBCASE(name.c_str()) {
      REQUIRE_MESSAGE(cases().count(name), "no Ember case for golden case ", name);
      X x = golden::float_inputs(c);
      Tensor out = cases().at(name)(x);
      golden::check_close(out, c.at("out"), name + " output");
      golden::check_input_grads(out, x, c, name);
    }
  }
}

TEST_CASE("views share storage and copy nothing; reshape copies only when it must") {
  Tensor x = arange(12.f).reshape({3, 4});
  SUBCASE("every view op shares the storage") {
    const float* base = x.data_ptr();
    CHECK(x.narrow(1, 1, 2).data_ptr() == base + 1);
    CHECK(x.select(0, 2).data_ptr() == base + 8);
    CHECK(x.t().data_ptr() == base);
    CHECK(x.transpose(0, 1).strides() == Shape{1, 4});
    CHECK(x.expand({2, 3, 4}).strides() == Shape{0, 4, 1});
    CHECK(x.slice(1, 1, 4, 2).strides() == Shape{4, 2});
    CHECK(x.chunk(2, 1)[1].data_ptr() == base + 2);
    CHECK(x.unbind(0)[1].data_ptr() == base + 4);
    CHECK(x.view({12}).data_ptr() == base);
    CHECK(x.unsqueeze(0).squeeze().data_ptr() == base);
    CHECK(x.flatten().data_ptr() == base);
  }
  SUBCASE("a write through one view is seen by the base and by another view") {
    Tensor col = x.select(1, 2);  // column 2, strided
    Tensor row = x.narrow(0, 1, 1);
    col.fill_(-1.f);
    CHECK(x.to_vector()[6] == -1.f);
    CHECK(row.to_vector() == std::vector<float>{4, 5, -1, 7});
    row.mul_(2.f);
    CHECK(x.to_vector()[4] == 8.f);
    CHECK(col.to_vector() == std::vector<float>{-1, -2, -1});
  }
  SUBCASE("reshape is a view of contiguous data and a copy of transposed data") {
    CHECK(x.reshape({2, 6}).data_ptr() == x.data_ptr());
    Tensor tr = x.t();
    CHECK_FALSE(tr.is_contiguous());
    Tensor copied = tr.reshape({12});
    CHECK(copied.data_ptr() != x.data_ptr());
    CHECK(copied.to_vector()[1] == 4.f);
    CHECK_THROWS_WITH_AS(tr.view({12}),
                         doctest::Contains("view: size [12] is not compatible with input of "
                                           "shape [4,3] and strides [1,4]"),
                         ShapeError);
    CHECK(tr.contiguous().data_ptr() != x.data_ptr());
    CHECK(x.contiguous().data_ptr() == x.data_ptr());
  }
  SUBCASE("data() of a view reads its values; writing goes through the layout") {
    Tensor v = x.t();
    CHECK(std::as_const(v).data()(1, 0) == 1.f);
    CHECK(v.data().data() == x.data_ptr());  // the storage itself, not a copy
    {
      ValuesForWrite values(v);
      values.data()[3] = 100.f;  // v(1, 0), which is x(0, 1)
    }
    CHECK(x.to_vector()[1] == 100.f);
    CHECK(std::as_const(v).data()(1, 0) == 100.f);
  }
}

TEST_CASE("in-place ops: versions, and PyTorch's 'modified by an inplace operation'") {
  SUBCASE("every in-place write bumps the storage's version, seen by all views") {
    Tensor x = zeros({2, 3});
    Tensor v = x.narrow(1, 0, 2);
    uint64_t before = x.version();
    v.add_(1.f);
    x.mul_(2.f);
    CHECK(x.version() == before + 2);
    CHECK(v.version() == x.version());
  }
  SUBCASE("a weight changed between forward and backward") {
    Tensor w = randn({3, 3}, true);
    Tensor x = randn({2, 3}, true);
    Tensor y = sum(matmul(x, w));
    {
      NoGradGuard no_grad;
      w.mul_(0.5f);
    }
    CHECK_THROWS_WITH_AS(y.backward(),
                         doctest::Contains("mm: a tensor saved for backward (shape [3,3]) was "
                                           "modified by an inplace operation: it is at version 1; "
                                           "expected version 0 instead"),
                         Error);
  }
  SUBCASE("max_norm renorm of a table whose product is still needed (PyTorch's doc example)") {
    manual_seed(3);
    nn::Embedding emb(nn::EmbeddingOptions(3, 5).max_norm(1.0));
    Tensor W = randn({7, 5}, true);
    IndexTensor idx({1, 2});
    Tensor a = matmul(emb.weight, W.t());  // saves the table
    Tensor b = matmul(emb(idx), W.t());    // renormalises rows 1 and 2 in place
    Tensor loss = sum(sigmoid(a.unsqueeze(0) + b.unsqueeze(1)));
    CHECK_THROWS_WITH(loss.backward(),
                      doctest::Contains("was modified by an inplace operation: it is at version"));
    // With the table cloned first, as PyTorch's documentation says, backward runs.
    Tensor a2 = matmul(emb.weight.clone(), W.t());
    Tensor b2 = matmul(emb(idx), W.t());
    sum(sigmoid(a2.unsqueeze(0) + b2.unsqueeze(1))).backward();
    CHECK(W.has_grad());
  }
  SUBCASE("an op's saved output changed in place") {
    Tensor x = randn({4}, true);
    Tensor y = tanh(x * 1.f);
    y.add_(1.f);
    CHECK_THROWS_WITH(sum(y).backward(), doctest::Contains("tanh: a tensor saved for backward"));
  }
  SUBCASE("in-place on a leaf that requires grad, on a view of one, or on an expanded view") {
    Tensor w = randn({3}, true);
    const std::vector<float> before = w.to_vector();
    CHECK_THROWS_WITH(w.add_(1.f), doctest::Contains("add_: a leaf tensor that requires grad"));
    CHECK_THROWS_WITH(w.narrow(0, 0, 2).mul_(2.f),
                      doctest::Contains("mul_: a view of a leaf tensor that requires grad"));
    CHECK(w.to_vector() == before);  // a refused op writes nothing
    Tensor h = w * 2.f;
    CHECK_THROWS_WITH(h.narrow(0, 0, 1).expand({3}).add_(1.f),
                      doctest::Contains("add_: more than one element of the written-to tensor"));
  }
  SUBCASE("a live view's history follows an in-place change of its base") {
    Tensor w = randn({3}, true);
    Tensor h = w * 2.f;
    Tensor alive = h.narrow(0, 0, 2);
    h.mul_(3.f);
    CHECK(std::string(alive.grad_fn()->name) == "as_strided");
    sum(alive).backward();
    CHECK(w.grad().to_vector() == std::vector<float>{6.f, 6.f, 0.f});
  }
  SUBCASE("in-place on a view rewrites the base's history, as PyTorch's CopySlices") {
    Tensor w = randn({3}, true);
    Tensor h = w * 2.f;
    Tensor v = h.narrow(0, 1, 2);
    v.mul_(3.f);
    CHECK(std::string(h.grad_fn()->name) == "copy_slices");
    CHECK(std::string(v.grad_fn()->name) == "as_strided");
    CHECK(v.data_ptr() == h.data_ptr() + 1);  // still a view of the same storage
    sum(h).backward();
    CHECK(w.grad().to_vector() == std::vector<float>{2.f, 6.f, 6.f});
  }
  SUBCASE("a value saved from the base and changed through a view") {
    Tensor x = randn({3}, true);
    Tensor y = x * 1.f;
    Tensor z = y * y;  // saves y
    y.narrow(0, 0, 1).mul_(2.f);
    CHECK_THROWS_WITH(sum(z).backward(), doctest::Contains("was modified by an inplace operation"));
  }
}

TEST_CASE("matmul and bmm say which rule failed") {
  CHECK_THROWS_WITH_AS(matmul(zeros({2, 3, 4, 5}), zeros({3, 2, 5, 6})),
                       doctest::Contains("matmul: batch dims [2,3] and [3,2] do not broadcast"),
                       ShapeError);
  CHECK_THROWS_WITH(
      matmul(zeros({2, 3}), zeros({2, 3})),
      doctest::Contains("matmul: shapes [2,3] and [2,3] cannot be multiplied (3 != 2"));
  CHECK_THROWS_WITH(matmul(scalar_tensor(1.f), zeros({2})),
                    doctest::Contains("matmul: both arguments need at least 1 dim"));
  CHECK_THROWS_WITH(bmm(zeros({2, 3, 4}), zeros({3, 4, 5})),
                    doctest::Contains("bmm: batch sizes 2 and 3 differ"));
}

TEST_CASE("view ops check their arguments") {
  Tensor x = zeros({3, 4});
  CHECK_THROWS_WITH_AS(x.narrow(1, 2, 3),
                       doctest::Contains("narrow: start (2) + length (3) exceeds dimension size "
                                         "(4) of dim 1"),
                       IndexError);
  CHECK_THROWS_WITH(x.select(0, 3), doctest::Contains("select: index 3 out of range"));
  CHECK_THROWS_WITH(x.expand({2, 4}), doctest::Contains("expand: the expanded size 2 must match"));
  CHECK_THROWS_WITH(x.split(Shape{1, 1}, 1), doctest::Contains("split: sizes [1,1] sum to 2"));
  CHECK_THROWS_WITH(x.chunk(0), doctest::Contains("chunk: number of chunks must be positive"));
  CHECK_THROWS_WITH(scalar_tensor(1.f).narrow(0, 0, 1),
                    doctest::Contains("narrow: cannot be applied to a 0-dim tensor"));
  CHECK_THROWS_WITH(x.t().view({12}), doctest::Contains("use reshape()"));
  CHECK(x.chunk(3, 1).size() == 2);  // PyTorch: chunks of ceil(4/3) = 2
  CHECK(scalar_tensor(2.f).reshape({1, 1}).shape() == Shape{1, 1});
  CHECK(scalar_tensor(2.f).transpose(0, -1).item() == 2.f);
}

TEST_CASE("gradcheck: views and in-place ops") {
  Tensor a = randn({3, 4}, true);
  CHECK_GRADCHECK([](const X& x) { return sum(x[0].t().narrow(0, 1, 2)); }, {a});
  CHECK_GRADCHECK([](const X& x) { return sum(x[0].expand({2, 3, 4}) * x[0]); }, {a});
  CHECK_GRADCHECK([](const X& x) { return sum(x[0].slice(1, 0, 4, 3) * 2.f); }, {a});
  CHECK_GRADCHECK(
      [](const X& x) {
        Tensor y = x[0] * 1.f;
        y.mul_(x[0]).add_(x[0]);
        return sum(y);
      },
      {a});
  Tensor b = randn({2, 1, 4, 3}, true), c = randn({3, 3, 2}, true);
  CHECK_GRADCHECK([](const X& x) { return sum(matmul(x[0], x[1])); }, {b, c});
  Tensor d = randn({3, 2}, true), e = randn({3}, true);
  CHECK_GRADCHECK(  // in place on a view, then on the base while another view lives
      [](const X& x) {
        Tensor y = x[0] * 1.f;
        y.narrow(1, 1, 2).mul_(x[1]);
        Tensor alive = y.select(1, 0);
        y.mul_(3.f).add_(x[0]);
        return sum(alive * y.select(1, 2));
      },
      {a, d});
  CHECK_GRADCHECK(  // a tensor without grad filled through views
      [](const X& x) {
        Tensor h = zeros({3, 4}, x[0].dtype());  // float64 under gradcheck: float32 would round
        h.select(1, 0).copy_(x[0] * x[0]);
        h.select(1, 3).add_(x[0]);
        return sum(h * h);
      },
      {e});
}

TEST_CASE("hooks, retain_grad and autograd::grad") {
  Tensor x = tensor({1, 2, 3}, {3}, true);
  SUBCASE("retain_grad keeps a non-leaf's gradient") {
    Tensor y = x * 2.f;
    y.retain_grad();
    sum(y * y).backward();
    CHECK(y.grad().to_vector() == std::vector<float>{4, 8, 12});
    CHECK(x.grad().to_vector() == std::vector<float>{8, 16, 24});
  }
  SUBCASE("a hook sees and may replace the gradient") {
    Tensor y = x * 3.f;
    std::vector<float> seen;
    y.register_hook([&](const Tensor& g) {
      seen = g.to_vector();
      return g * 0.f + 1.f;
    });
    x.register_hook([](const Tensor& g) { return g * 10.f; });
    sum(y * 2.f).backward();
    CHECK(seen == std::vector<float>{2, 2, 2});
    CHECK(x.grad().to_vector() == std::vector<float>{30, 30, 30});
  }
  SUBCASE("autograd::grad leaves .grad alone") {
    Tensor w = tensor({0.5f, -1.f, 2.f}, {3}, true);
    Tensor y = sum(x * w);
    std::vector<Tensor> g = autograd::grad({y}, {x, w});
    CHECK(g[0].to_vector() == std::vector<float>{0.5f, -1.f, 2.f});
    CHECK(g[1].to_vector() == std::vector<float>{1, 2, 3});
    CHECK_FALSE(x.has_grad());
    CHECK_FALSE(w.has_grad());
    Tensor unused = tensor({1.f}, {1}, true);
    Tensor z = sum(x * 2.f);
    CHECK_THROWS_WITH(autograd::grad({z}, {unused}), doctest::Contains("was not used"));
  }
  // A pure reshape hands its gradient on moved (Node::reshapes_gradient): what a hook, a
  // retained gradient or a second backward sees must be as if it were copied.
  SUBCASE("through a reshape: the gradient moves on, hooks and retained ones stay apart") {
    Tensor m = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, true);
    Tensor h = m * 1.f;
    Tensor flat = h.reshape({6});
    flat.retain_grad();
    std::vector<float> seen;
    flat.register_hook([&](const Tensor& g) {
      seen = g.to_vector();
      return Tensor();
    });
    Tensor loss = sum(flat * tensor({1, 2, 3, 4, 5, 6}, Shape{6}));
    loss.backward(/*retain_graph=*/true);
    loss.backward();
    const std::vector<float> twice{2, 4, 6, 8, 10, 12};
    CHECK(m.grad().to_vector() == twice);
    CHECK(m.grad().shape() == Shape{2, 3});
    CHECK(flat.grad().to_vector() == twice);
    CHECK(seen == std::vector<float>{1, 2, 3, 4, 5, 6});
    Tensor leaf = tensor({1, 2, 3, 4}, {4}, true);  // a leaf's reshape: the leaf's shape
    sum(leaf.reshape({2, 2}) * 3.f).backward();
    CHECK(leaf.grad().shape() == Shape{4});
    CHECK(leaf.grad().to_vector() == std::vector<float>{3, 3, 3, 3});
  }
  SUBCASE("autograd::grad of a non-leaf input") {
    Tensor h = x * x;
    Tensor y = sum(h * 3.f);
    std::vector<Tensor> g = autograd::grad({y}, {h}, {}, /*retain_graph=*/true);
    CHECK(g[0].to_vector() == std::vector<float>{3, 3, 3});
  }
}

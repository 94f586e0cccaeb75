// Autocast: bfloat16 products with float32 accumulation in linear and matmul by a matrix, the
// bfloat16 GEMM on both of its paths, and PyTorch 1.13's CPU autocast as the reference.
#include <doctest/doctest.h>

#include <ember/ember.hpp>

#include "golden.hpp"

using namespace ember;

namespace {
Tensor bf16_rounded(const Tensor& t) { return t.detach().to(kBFloat16).to(kFloat32); }

// What autocast's products multiply of an operand on this process's path (ember/autocast.hpp):
// its bfloat16 rounding, or on the float32 path its own values. What backward keeps of an
// activation is bfloat16 on every path (bf16_rounded).
bool bf16_products() { return autocast::products() != autocast::Products::float32; }
Tensor multiplied(const Tensor& t) { return bf16_products() ? bf16_rounded(t) : t.detach(); }

// The largest |a - b| over the largest |b|: bfloat16 results are compared relative to the scale.
float relative_gap(const Tensor& a, const Tensor& b) {
  return amax(abs(a - b), {}).item() / amax(abs(b), {}).item();
}
}  // namespace

// ctest runs this file's autocast cases on each path: the machine's own (products() by the
// rule), then EMBER_BF16_GEMM=widened and EMBER_BF16_GEMM=float32 (tests/CMakeLists.txt).
TEST_CASE("autocast: linear multiplies the operands of its path, summed in float32") {
  manual_seed(5);
  Tensor x = randn({37, 300}, true), w = randn({129, 300}, true), b = randn({129}, true);
  Tensor y;
  {
    autocast::Guard guard;
    CHECK(autocast::is_enabled());
    y = linear(x, w, b);
  }
  CHECK_FALSE(autocast::is_enabled());
  CHECK(y.dtype() == kFloat32);
  Tensor g = randn({37, 129});
  y.backward(g);
  // The same products in float32 on the values the path multiplies: only the order of the sums
  // differs. dW reads x as kept for backward: bfloat16 on every path.
  CHECK(relative_gap(y, linear(multiplied(x), multiplied(w), b.detach())) < 1e-5f);
  CHECK(relative_gap(x.grad(), matmul(multiplied(g), multiplied(w))) < 1e-5f);
  CHECK(relative_gap(w.grad(), matmul(multiplied(g).t(), bf16_rounded(x))) < 1e-5f);
  CHECK(relative_gap(b.grad(), sum(g, {0})) < 1e-6f);  // the bias gradient stays float32
  {  // a bias read through its stride and offset (a column of a [129, 2]) adds the same rows
    Tensor pairs = randn({129, 2});
    autocast::Guard guard;
    CHECK(equal(linear(x.detach(), w.detach(), pairs.select(1, 1)),
                linear(x.detach(), w.detach(), pairs.select(1, 1).contiguous())));
  }
  // bfloat16's rounding away from float32's own result; none on the float32 path.
  const float gap = relative_gap(y, linear(x.detach(), w.detach(), b.detach()));
  if (bf16_products()) {
    CHECK(gap > 1e-5f);
    CHECK(gap < 2e-2f);
  } else {
    CHECK(gap < 1e-6f);
  }
}

// addmm (the hub's Conv1D) is linear with the weight given as [in, out] and the bias added by
// the product: the same path, the same expectations.
TEST_CASE("autocast: addmm with a bias row multiplies as linear does") {
  manual_seed(15);
  Tensor x = randn({37, 300}, true), w = randn({300, 129}, true), b = randn({129}, true);
  Tensor y;
  {
    autocast::Guard guard;
    y = addmm(b, x, w);
  }
  CHECK(std::string(y.grad_fn()->name) == "addmm");  // as float32's node
  Tensor g = randn({37, 129});
  y.backward(g);
  CHECK(relative_gap(y, addmm(b.detach(), multiplied(x), multiplied(w))) < 1e-5f);
  CHECK(relative_gap(x.grad(), matmul(multiplied(g), multiplied(w).t())) < 1e-5f);
  CHECK(relative_gap(w.grad(), matmul(bf16_rounded(x).t(), multiplied(g))) < 1e-5f);
  CHECK(relative_gap(b.grad(), sum(g, {0})) < 1e-6f);
}

TEST_CASE("autocast: matmul by a matrix runs as linear; guards nest; only bfloat16") {
  manual_seed(6);
  Tensor a = randn({2, 5, 16}, true), m = randn({16, 7}, true);
  Tensor y;
  {
    autocast::Guard guard;
    y = matmul(a, m);
    {
      autocast::Guard off(kBFloat16, false);
      CHECK_FALSE(autocast::is_enabled());
      CHECK(equal(matmul(a, m), matmul(a.detach(), m.detach())));  // float32 again
    }
    CHECK(autocast::is_enabled());
  }
  CHECK(y.shape() == Shape({2, 5, 7}));
  CHECK(relative_gap(y, matmul(multiplied(a), multiplied(m))) < 1e-5f);
  y.sum().backward();
  CHECK(a.grad().shape() == a.shape());
  CHECK(m.grad().shape() == m.shape());
  CHECK_THROWS_AS([] { autocast::Guard guard(kFloat64); }(), DtypeError);
}

TEST_CASE("autocast: batched matmul with broadcast batch dims, and bmm") {
  manual_seed(9);
  // Attention written by hand: q · kᵀ over [B, H, T, D], and a [H, D, E] operand shared by
  // every batch entry (its gradient sums over them).
  Tensor q = randn({2, 3, 5, 8}, true), k = randn({2, 3, 6, 8}, true);
  Tensor h = randn({2, 3, 5, 8}, true), shared = randn({3, 8, 4}, true);
  Tensor a = randn({4, 5, 6}, true), b = randn({4, 6, 7}, true);
  Tensor scores, projected, batched;
  {
    autocast::Guard guard;
    scores = matmul(q, k.transpose(-2, -1));
    projected = matmul(h, shared);
    batched = bmm(a, b);
  }
  CHECK(relative_gap(scores, matmul(multiplied(q), multiplied(k).transpose(-2, -1))) < 1e-5f);
  CHECK(relative_gap(projected, matmul(multiplied(h), multiplied(shared))) < 1e-5f);
  CHECK(relative_gap(batched, bmm(multiplied(a), multiplied(b))) < 1e-5f);
  Tensor gs = randn(scores.shape()), gp = randn(projected.shape()), gb = randn(batched.shape());
  (sum(scores * gs) + sum(projected * gp) + sum(batched * gb)).backward();
  // The same gradients from float32 products: g as the path multiplies it, the other operand
  // as backward keeps it (bfloat16).
  CHECK(relative_gap(q.grad(), matmul(multiplied(gs), bf16_rounded(k))) < 1e-5f);
  CHECK(relative_gap(k.grad(), matmul(multiplied(gs).transpose(-2, -1), bf16_rounded(q))) < 1e-5f);
  CHECK(relative_gap(shared.grad(),
                     sum(matmul(bf16_rounded(h).transpose(-2, -1), multiplied(gp)), {0})) < 1e-5f);
  CHECK(relative_gap(b.grad(), bmm(bf16_rounded(a).transpose(1, 2), multiplied(gb))) < 1e-5f);
}

TEST_CASE("autocast: the LM head's large weight; a parameter is rounded once per version") {
  manual_seed(8);
  Tensor x = randn({3, 1024}, true), w = randn({8448, 1024}, true);
  Tensor h = randn({3, 8448}, true), m = randn({8448, 1024}, true);
  Tensor y, z;
  {
    autocast::Guard guard;
    y = linear(x, w);
    z = matmul(h, m);
  }
  CHECK(relative_gap(y, linear(multiplied(x), multiplied(w))) < 1e-5f);
  CHECK(relative_gap(z, matmul(multiplied(h), multiplied(m))) < 1e-5f);
  Tensor gy = randn({3, 8448}), gz = randn({3, 1024});
  y.backward(gy);
  z.backward(gz);
  CHECK(relative_gap(x.grad(), matmul(multiplied(gy), multiplied(w))) < 1e-5f);
  CHECK(relative_gap(h.grad(), matmul(multiplied(gz), multiplied(m).t())) < 1e-5f);
  CHECK(relative_gap(m.grad(), matmul(bf16_rounded(h).t(), multiplied(gz))) < 1e-5f);

  // The bfloat16 copy of a parameter is kept with it: a second forward at the same version
  // allocates no new copy (17 MB here), and a change in place is seen by the next forward.
  NoGradGuard no_grad;
  autocast::Guard guard;
  const Tensor first = linear(x, w);
  const int64_t before = cache_stats().requested_bytes;
  const Tensor again = linear(x, w);
  const int64_t added = cache_stats().requested_bytes - before;
  CHECK(equal(again, first));
  if (bf16_products())
    CHECK(added < w.numel());  // the output only: no bfloat16 copy (2 bytes an element)
  w.mul_(2.f);
  const Tensor doubled = linear(x, w);
  CHECK(relative_gap(doubled, first * 2.f) < 1e-6f);  // the copy made again, at the new version
  // A weight that is not a parameter (here an activation) is rounded afresh each time.
  const Tensor act = w * 1.f;
  CHECK(relative_gap(linear(x, act), doubled) < 1e-6f);
  act.mul_(0.5f);
  CHECK(relative_gap(linear(x, act), first) < 1e-6f);
}

TEST_CASE("gemm_bf16 equals sgemm on the widened operands, every transpose and leading dim") {
  manual_seed(7);
  const int64_t m = 67, n = 45, k = 130, pad = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      CAPTURE(ta);
      CAPTURE(tb);
      const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
      Tensor a = randn({ta ? k : m, lda}).to(kBFloat16), b = randn({tb ? n : k, ldb}).to(kBFloat16);
      std::vector<float> c(static_cast<size_t>(m * ldc), 0.5f), want = c;
      gemm_bf16(ta, tb, m, n, k, a.data_ptr<BFloat16>(), lda, b.data_ptr<BFloat16>(), ldb, 1.f,
                c.data(), ldc);
      const Tensor wa = a.to(kFloat32), wb = b.to(kFloat32);
      sgemm(ta, tb, m, n, k, 1.f, wa.data_ptr(), lda, wb.data_ptr(), ldb, 1.f, want.data(), ldc);
      float worst = 0.f;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j)
          worst = std::max(worst, std::fabs(c[size_t(i * ldc + j)] - want[size_t(i * ldc + j)]));
      CHECK(worst < 1e-3f);         // sums of 130 products of size ~1 in another order
      CHECK(c[size_t(n)] == 0.5f);  // the padding past n is left alone
    }
}

TEST_CASE("golden: linear under autocast against PyTorch 1.13's CPU bfloat16 autocast") {
  static const golden::File file = golden::load("dtypes.txt");
  const golden::Case& c = file.at("autocast_linear");
  Tensor x = c.at("x").tensor(true), w = c.at("weight").tensor(true), b = c.at("bias").tensor(true);
  Tensor y;
  {
    autocast::Guard guard;
    y = linear(x, w, b);
  }
  if (!bf16_products()) {  // the float32 path multiplies float32's operands: not PyTorch's
    CHECK(relative_gap(y, linear(x.detach(), w.detach(), b.detach())) < 1e-6f);
    return;  // (ctest runs this case on the bfloat16 paths too)
  }
  // PyTorch's result is rounded to bfloat16 (8 significant bits), Ember's kept in float32.
  golden::check_close(y, c.at("y"), "y", 1e-2, 1e-2);
  y.backward(c.at("gout").tensor());
  golden::check_close(x.grad(), c.at("gx"), "gx", 1e-2, 3e-2);
  golden::check_close(w.grad(), c.at("gweight"), "gweight", 1e-2, 3e-2);
  // PyTorch sums the bias gradient in bfloat16; Ember keeps g's float32 column sums.
  golden::check_close(b.grad(), c.at("gbias"), "gbias", 1e-2, 1e-2);
}

TEST_CASE("autocast: AdamW writes a parameter's bfloat16 copy in its step") {
  manual_seed(10);
  Tensor w = randn({64, 32}, true), x = randn({8, 32});
  optim::AdamW opt(std::vector<Tensor>{w}, optim::AdamWOptions(1e-2));
  {
    autocast::Guard guard;
    linear(x, w).sum().backward();
  }
  opt.step();
  // On the bfloat16 paths the copy is current after the step (the next forward reads it): at
  // the weight's new version, holding the new values' rounding.
  const Storage& values = *w.impl()->storage;
  const auto copy = std::atomic_load(&values.rounded_copy);
  REQUIRE((copy != nullptr) == bf16_products());
  if (copy) {
    CHECK(copy->version == values.version.load());
    const Tensor held(std::const_pointer_cast<Storage>(copy->values), w.shape());
    CHECK(equal(held.to(kFloat32), bf16_rounded(w)));
  }
  NoGradGuard no_grad;
  autocast::Guard guard;
  CHECK(relative_gap(linear(x, w), linear(multiplied(x), multiplied(w))) < 1e-5f);
}

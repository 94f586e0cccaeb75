// Scalar arguments are doubles (PyTorch's Scalar): every op that takes one, on float64 tensors,
// against PyTorch 1.13 in float64 (golden/float64_scalars.txt, made by
// golden/make_golden_float64_scalars.py) with the scalars 0.1, 1/3, 1e-7 and -2.5. Each public
// form of an op (operator, function, method, in-place) is checked against the same values.
// Ops that PyTorch computes with one rounding (+ - * /, clamp, where, fill, the comparisons...)
// must match it exactly; the others within 1e-15 relative (a libm or an evaluation order apart,
// each said below), norm within 1e-13 (its 1/p-th root multiplies a sum's rounding
// by 1/p = 10). float32 tensors must give the bits they gave when the scalars were floats: the
// last test case computes those bits by hand.
#include <cmath>
#include <cstring>
#include <functional>

#include "golden.hpp"

using namespace ember;

namespace {

struct Args {
  std::vector<Tensor> x;  // fresh leaves (float64, requiring grad)
  std::vector<double> s;  // the case's scalars, exact
  Tensor mask;            // bool, where the case has one
  IndexTensor idx;
};
using Form = std::function<Tensor(const Args&)>;
struct Op {
  std::vector<Form> forms;
  double rtol = 0;  // 0: exact
};

Op exact(std::vector<Form> forms) { return {std::move(forms), 0}; }
Op within(double rtol, std::vector<Form> forms) { return {std::move(forms), rtol}; }

// A comparison's function form and operator form.
using Compare = Tensor (*)(const Tensor&, double);
Op comparison(Compare fn, Compare op) {
  return exact({[fn](const Args& a) { return fn(a.x[0], a.s[0]); },
                [op](const Args& a) { return op(a.x[0], a.s[0]); }});
}

std::map<std::string, Op> ops() {
  return {
      {"add", exact({[](const Args& a) { return a.x[0] + a.s[0]; },
                     [](const Args& a) { return a.s[0] + a.x[0]; },
                     [](const Args& a) { return add(a.x[0], a.s[0]); },
                     [](const Args& a) { return a.x[0].clone().add_(a.s[0]); }})},
      {"sub", exact({[](const Args& a) { return a.x[0] - a.s[0]; },
                     [](const Args& a) { return a.x[0].clone().sub_(a.s[0]); }})},
      {"rsub", exact({[](const Args& a) { return a.s[0] - a.x[0]; },
                      [](const Args& a) { return rsub(a.s[0], a.x[0]); }})},
      {"mul", exact({[](const Args& a) { return a.x[0] * a.s[0]; },
                     [](const Args& a) { return a.s[0] * a.x[0]; },
                     [](const Args& a) { return mul(a.x[0], a.s[0]); },
                     [](const Args& a) { return a.x[0].clone().mul_(a.s[0]); }})},
      {"div", exact({[](const Args& a) { return a.x[0] / a.s[0]; },
                     [](const Args& a) { return div(a.x[0], a.s[0]); },
                     [](const Args& a) { return a.x[0].clone().div_(a.s[0]); }})},
      // PyTorch's s / x is x.reciprocal() * s (two roundings); Ember's one division.
      {"rdiv", within(1e-15, {[](const Args& a) { return a.s[0] / a.x[0]; },
                              [](const Args& a) { return rdiv(a.s[0], a.x[0]); }})},
      {"pow", within(1e-15, {[](const Args& a) { return pow(a.x[0], a.s[0]); },
                             [](const Args& a) { return a.x[0].pow(a.s[0]); }})},
      // x + alpha * y rounded once (an fma), as PyTorch's add and index_add kernels
      {"add_alpha", exact({[](const Args& a) { return a.x[0].clone().add_(a.x[1], a.s[0]); },
                           [](const Args& a) { return a.x[0].clone().sub_(a.x[1], -a.s[0]); }})},
      {"index_add",
       exact({[](const Args& a) { return index_add(a.x[0], 0, a.idx, a.x[1], a.s[0]); }})},
      {"leaky_relu", exact({[](const Args& a) { return leaky_relu(a.x[0], a.s[0]); }})},
      {"eq", comparison(eq, &ember::operator==)},
      {"ne", comparison(ne, &ember::operator!=)},
      {"lt", comparison(lt, &ember::operator<)},
      {"le", comparison(le, &ember::operator<=)},
      {"gt", comparison(gt, &ember::operator>)},
      {"ge", comparison(ge, &ember::operator>=)},
      {"where_other", exact({[](const Args& a) { return where(a.mask, a.x[0], a.s[0]); }})},
      {"where_self", exact({[](const Args& a) { return where(a.mask, a.s[0], a.x[0]); }})},
      {"masked_fill",
       exact({[](const Args& a) { return masked_fill(a.x[0], a.mask, a.s[0]); },
              [](const Args& a) { return a.x[0].masked_fill(a.mask, a.s[0]); },
              [](const Args& a) { return a.x[0].clone().masked_fill_(a.mask, a.s[0]); }})},
      {"full", exact({[](const Args& a) {
         return full({2, 3}, a.s[0], kFloat64);
       }})},
      {"scalar_tensor", exact({[](const Args& a) { return scalar_tensor(a.s[0], kFloat64); }})},
      {"fill", exact({[](const Args& a) { return a.x[0].clone().fill_(a.s[0]); }})},
      {"clamp", exact({[](const Args& a) { return clamp(a.x[0], a.s[0], a.s[1]); },
                       [](const Args& a) { return a.x[0].clamp(a.s[0], a.s[1]); },
                       [](const Args& a) { return a.x[0].clone().clamp_(a.s[0], a.s[1]); }})},
      {"norm", within(1e-13, {[](const Args& a) { return norm(a.x[0], a.s[0]); },
                              [](const Args& a) { return a.x[0].norm(a.s[0]); }})},
      {"norm_dim", within(1e-13, {[](const Args& a) { return norm(a.x[0], a.s[0], {1}); },
                                  [](const Args& a) { return a.x[0].norm(a.s[0], {1}); }})},
      {"softplus", within(1e-15, {[](const Args& a) { return softplus(a.x[0], a.s[0], a.s[1]); }})},
      // start + i * step, as PyTorch's scalar path; its vector path makes some lanes from the
      // lane before, an ulp away.
      {"arange",
       within(1e-15, {[](const Args& a) { return arange(a.s[0], a.s[1], a.s[2], kFloat64); }})},
      // float32: the doubles start + i * step rounded to float, as PyTorch's
      {"arange_float32", exact({[](const Args& a) { return arange(a.s[0], a.s[1], a.s[2]); }})},
  };
}

}  // namespace

TEST_CASE("golden float64 scalars: every op taking a scalar computes with the exact double") {
  const std::map<std::string, Op> table = ops();
  golden::for_each_case(
      "float64_scalars.txt", 108, [&](const std::string& name, const golden::Case& c) {
        const std::string op = name.substr(0, name.find('.'));
        REQUIRE_MESSAGE(table.count(op), "no Ember op for golden case ", name);
        const Op& o = table.at(op);
        const bool float32 = op == "arange_float32";
        for (size_t f = 0; f < o.forms.size(); ++f) {
          const std::string what = name + " form " + std::to_string(f);
          Args a;
          a.s = c.at("s").values;
          for (int k = 0; c.count("x" + std::to_string(k)); ++k)
            a.x.push_back(c.at("x" + std::to_string(k)).tensor(true, kFloat64));
          if (c.count("mask")) a.mask = c.at("mask").tensor(false, kFloat64) != 0.0;
          if (c.count("idx0")) a.idx = c.at("idx0").index();
          const Tensor out = o.forms[f](a);
          const golden::Value& want = c.at("out");
          const bool comparison =
              op == "eq" || op == "ne" || op == "lt" || op == "le" || op == "gt" || op == "ge";
          CHECK_MESSAGE(out.dtype() == (float32 ? kFloat32 : comparison ? kBool : kFloat64), what);
          golden::check_close(out, want, what + " out", o.rtol, 0.0);
          if (!c.count("gout")) continue;
          REQUIRE_MESSAGE(out.dtype() == kFloat64, what);
          out.backward(c.at("gout").tensor(false, kFloat64));
          for (size_t k = 0; k < a.x.size(); ++k)
            golden::check_close(a.x[k].grad(), c.at("grad" + std::to_string(k)),
                                what + " grad" + std::to_string(k), o.rtol, 0.0);
        }
      });
}

TEST_CASE("float32 with a double scalar: the bits of the float scalar, as PyTorch's") {
  manual_seed(7);
  const Tensor x = randn({64}) * 3.0f;
  const std::vector<float> v = x.to_vector();
  // Each element of `got` must be exactly f(v[i]), a float computation with the float scalar.
  auto same = [&](const Tensor& got, auto f, const char* what) {
    INFO(what);
    REQUIRE(got.dtype() == kFloat32);
    const std::vector<float> g = got.to_vector();
    REQUIRE(g.size() == v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      const float want = f(v[i]);
      if (std::memcmp(&g[i], &want, sizeof(float)) != 0) {
        FAIL_CHECK(what << " element " << i << ": " << g[i] << " vs " << want);
        return;
      }
    }
  };
  for (double s : {0.1, 1.0 / 3.0, 1e-7, -2.5}) {
    const float f = static_cast<float>(s);
    CAPTURE(s);
    same(
        x * s, [&](float e) { return e * f; }, "x * s");
    same(
        s * x, [&](float e) { return e * f; }, "s * x");
    same(
        x + s, [&](float e) { return e + f; }, "x + s");
    same(
        x - s, [&](float e) { return e + -f; }, "x - s");
    same(
        s - x, [&](float e) { return f - e; }, "s - x");
    same(
        s / x, [&](float e) { return f / e; }, "s / x");
    // float32 divides by multiplying with the float reciprocal, as before the scalars were doubles
    same(
        x / s, [&](float e) { return e * (1.f / f); }, "x / s");
    same(
        x.clone().div_(s), [&](float e) { return e * (1.f / f); }, "div_");
    same(
        x.clone().mul_(s), [&](float e) { return e * f; }, "mul_");
    same(
        x.clone().add_(s), [&](float e) { return e + f; }, "add_");
    same(
        x.clone().add_(x, s), [&](float e) { return e + e * f; }, "add_ alpha");
    same(
        x.abs().pow(s), [&](float e) { return std::pow(std::abs(e), f); }, "pow");
    same(
        clamp(x, -std::abs(s), std::abs(s)),
        [&](float e) { return std::min(std::max(e, -std::abs(f)), std::abs(f)); }, "clamp");
    same(
        full({64}, s), [&](float) { return f; }, "full");
    same(
        x.masked_fill(x > 0.0, s), [&](float e) { return e > 0 ? f : e; }, "masked_fill");
    same(
        where(x > 0.0, x, s), [&](float e) { return e > 0 ? e : f; }, "where");
    CHECK(scalar_tensor(s).item() == f);
    // A comparison rounds the scalar to the tensor's dtype (PyTorch: float32 == 0.1 is == 0.1f).
    const Tensor at = full({3}, s);
    CHECK((at == s).to_vector() == std::vector<float>{1, 1, 1});
    if (double(f) != s) CHECK((at.to(kFloat64) == s).to_vector() == std::vector<float>{0, 0, 0});
    CHECK((at <= s).to_vector() == std::vector<float>{1, 1, 1});
    CHECK((at != s).to_vector() == std::vector<float>{0, 0, 0});
  }
  // Integer and float literals still pick the scalar overloads.
  CHECK((x * 2).to_vector() == (x * 2.0f).to_vector());
  CHECK((2 - x).to_vector() == (2.0f - x).to_vector());
  CHECK((x / 2).to_vector() == (x * 0.5f).to_vector());
  CHECK(clamp(x, 0, 1).to_vector() == clamp(x, 0.f, 1.f).to_vector());
  CHECK(equal(x == 0, x == 0.f));
  CHECK(equal(where(x > 0, x, 0), relu(x)));
  CHECK(equal(x.masked_fill(x < 0, 0), relu(x)));
  CHECK(equal(x.clone().add_(1), x + 1.f));
  CHECK(equal(x.clone().add_(x, 2), x + x * 2.f));
  CHECK(equal(full({2}, 1), ones({2})));
  CHECK(arange(5).to_vector() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(arange(0.f, 1.f, 0.25f).to_vector() == std::vector<float>{0, 0.25f, 0.5f, 0.75f});
  CHECK_THROWS_AS(arange(0, 1, 0.5, kBool), DtypeError);
}

// The products autocast lists (ember/autocast.hpp), on the path products() names: bfloat16
// operands summed in float32 (gemm_bf16), or the float32 operands with only what backward keeps
// in bfloat16. linear: x rounded once and kept for dW (half of float32's bytes: the activation
// memory autocast saves); a parameter's bfloat16 copy made once per version and shared by the
// step's forward and backward; the bias added in float32. Batched matmul: both operands rounded
// once and kept for backward. And what other ops keep of an activation under autocast.
#include <algorithm>
#include <vector>

#include "../gemm.hpp"
#include "ember/autocast.hpp"
#include "ember/autograd.hpp"
#include "ember/gemm.hpp"
#include "ember/ops.hpp"
#include "kernels.hpp"
#include "op_helpers.hpp"

namespace ember::detail {

std::shared_ptr<Storage> rounded(const float* values, int64_t n) {
  auto out = std::make_shared<Storage>(n, kBFloat16);
  kernels::to_bf16(values, static_cast<uint16_t*>(out->bytes()), n);
  return out;
}

namespace {
bool bf16_products() { return autocast::products() != autocast::Products::float32; }

// A parameter's values in bfloat16, rounded once per version and kept with its storage: a step's
// forward rounds each weight, its backward reads the same copy, and inference rounds it once.
// `s` holds exactly the parameter's values.
std::shared_ptr<const Storage> cached_bf16(const Storage& s) {
  const uint64_t version = s.version.load(std::memory_order_relaxed);
  std::shared_ptr<const Storage::RoundedCopy> held = std::atomic_load(&s.rounded_copy);
  if (held && held->version == version) return held->values;
  std::shared_ptr<const Storage> fresh = rounded(s.data(), s.numel());
  std::atomic_store(&s.rounded_copy, std::make_shared<const Storage::RoundedCopy>(
                                         Storage::RoundedCopy{fresh, version}));
  return fresh;
}

// The weight (right operand) of linear's products, contiguous: its float32 values (float32
// products), or bfloat16 ones: a parameter's cached copy, another tensor's own copy.
class WeightOperand {
 public:
  WeightOperand(const Tensor& w, bool bf16)
      : values_(w.storage()),
        storage_(w.impl()->storage),
        offset_(w.storage_offset()),
        bf16_(bf16) {
    const bool whole = offset_ == 0 && w.numel() == storage_->numel();
    if (bf16_ && !(w.is_leaf() && w.requires_grad() && whole))
      own_copy_ = convert_storage(w, kBFloat16);
  }
  // What a product reads; `hold` keeps a bfloat16 copy alive while it does.
  MixedOperand read(std::shared_ptr<const Storage>& hold) const {
    const float* values = values_.storage_data() + offset_;  // checks the version
    if (!bf16_) return {values, nullptr};
    hold = own_copy_ ? own_copy_ : cached_bf16(*storage_);
    return {nullptr, hold->data_as<BFloat16>()};
  }

 private:
  SavedValues values_;
  std::shared_ptr<const Storage> storage_;
  int64_t offset_;
  bool bf16_;
  std::shared_ptr<const Storage> own_copy_;
};
}  // namespace

bool autocasts(TensorList operands) {
  if (!autocast::is_enabled()) return false;
  for (const Tensor& t : operands)
    if (t.defined() && t.dtype() == kFloat64) return false;
  return true;
}

bool bf16_products_on() { return autocast::is_enabled() && bf16_products(); }

bool attention_autocasts(TensorList inputs) {
  if (bf16_products_on()) return true;
  if (!autocast::is_enabled() || !is_grad_enabled()) return false;
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) return true;
  return false;
}

bool keeps_bf16(const Tensor& t) {
  return autocast::is_enabled() && is_grad_enabled() && t.requires_grad();
}

SavedValues saved_activation(const Tensor& t) {
  return keeps_bf16(t) ? SavedValues::rounded_to_bfloat16(t) : t.storage();
}

Tensor linear_autocast(const Tensor& x, const Tensor& weight, const Tensor& bias,
                       bool weight_in_out) {
  const bool bf16 = bf16_products();
  const Shape sx = x.shape(), sw = weight.shape();
  // W is [out, in] (linear's) or [in, out] (matmul's right operand): a transpose flag, so
  // neither forward nor backward goes through a transposed view of the weight.
  const int64_t in = sw[weight_in_out ? 0 : 1], out_features = sw[weight_in_out ? 1 : 0];
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < sx.size(); ++i) rows *= sx[i];
  // x as a row-major bfloat16 copy (read where it sits): what the bfloat16 products multiply,
  // and what dW reads on either path. The float32 path multiplies x's own values.
  const bool keep_x = bf16 || (is_grad_enabled() && weight.requires_grad());
  const std::shared_ptr<const Storage> xb = keep_x ? convert_storage(x, kBFloat16) : nullptr;
  const Tensor x_read = bf16 || x.is_contiguous() ? x : x.contiguous();
  const WeightOperand W(weight.is_contiguous() ? weight : weight.contiguous(), bf16);
  std::vector<size_t> out_shape(sx.begin(), sx.end());
  out_shape.back() = static_cast<size_t>(out_features);
  Array y = Array::from_shape(out_shape);
  float beta = 0.f;
  if (bias.defined()) {  // the bias rows first, then the product on top (beta = 1)
    fill_bias_rows(bias.data_ptr<float>(), bias.strides()[0], rows, out_features, y.data());
    beta = 1.f;
  } else if (in == 0) {  // an empty sum: the product writes nothing
    std::fill(y.begin(), y.end(), 0.f);
  }
  {
    std::shared_ptr<const Storage> hold;
    const MixedOperand X =
        bf16 ? MixedOperand{nullptr, xb->data_as<BFloat16>()}
             : MixedOperand{x_read.numel() ? x_read.data_ptr<float>() : nullptr, nullptr};
    if (weight_in_out)  // y = x · W, W [in, out]
      gemm_mixed(false, false, rows, out_features, in, X, in, W.read(hold), out_features, beta,
                 y.data(), out_features);
    else  // y = x · Wᵀ, W [out, in]
      gemm_mixed(false, true, rows, out_features, in, X, in, W.read(hold), in, beta, y.data(),
                 out_features);
  }
  const auto x_shape = to_xshape(sx), w_shape = to_xshape(sw);
  const std::vector<size_t> b_shape{static_cast<size_t>(out_features)};
  const bool has_bias = bias.defined();
  auto backward = [=](const Array& g, GradSink* sinks) {
    // g as the products read it: rounded (bfloat16 products) or as it is.
    const std::shared_ptr<const Storage> gb =
        bf16 ? rounded(g.data(), static_cast<int64_t>(g.size())) : nullptr;
    const MixedOperand G =
        bf16 ? MixedOperand{nullptr, gb->data_as<BFloat16>()} : MixedOperand{g.data(), nullptr};
    sinks[0].accumulate(x_shape, [&](float beta_x, float* dx) {
      std::shared_ptr<const Storage> hold;
      if (weight_in_out)  // dx = g · Wᵀ
        gemm_mixed(false, true, rows, in, out_features, G, out_features, W.read(hold), out_features,
                   beta_x, dx, in);
      else  // dx = g · W
        gemm_mixed(false, false, rows, in, out_features, G, out_features, W.read(hold), in, beta_x,
                   dx, in);
    });
    if (xb)  // kept whenever the weight's gradient can be asked for
      sinks[1].accumulate(w_shape, [&](float beta_w, float* dw) {
        const MixedOperand X{nullptr, xb->data_as<BFloat16>()};
        if (weight_in_out)  // dW = xᵀ · g, [in, out]
          gemm_mixed(true, false, in, out_features, rows, X, in, G, out_features, beta_w, dw,
                     out_features);
        else  // dW = gᵀ · x, [out, in]
          gemm_mixed(true, false, out_features, in, rows, G, out_features, X, in, beta_w, dw, in);
      });
    if (has_bias)
      sinks[2].accumulate(b_shape, [&](float beta_b, float* db) {
        add_column_sums(g.data(), rows, out_features, beta_b, db);
      });
  };
  const char* name = !weight_in_out ? "linear" : has_bias ? "addmm" : "mm";  // as float32's
  if (has_bias) return make_output(std::move(y), name, {x, weight, bias}, backward);
  return make_output(std::move(y), name, {x, weight}, backward);
}

Tensor matmul_batched_autocast(const Tensor& a, const Tensor& b, const char* name,
                               const Shape& out_shape, const BatchEntries& ea,
                               const BatchEntries& eb) {
  const bool bf16 = bf16_products();
  const Shape sa = a.shape(), sb = b.shape();
  const int64_t M = sa[sa.size() - 2], K = sa.back(), N = sb.back();
  const int64_t count = static_cast<int64_t>(ea.at.size());
  const bool need_a = a.requires_grad() && is_grad_enabled();
  const bool need_b = b.requires_grad() && is_grad_enabled();
  // Row-major bfloat16 copies, kept for backward (half of float32's bytes): both for the
  // bfloat16 products; on the float32 path only what backward reads (dA reads B, dB reads A).
  const std::shared_ptr<const Storage> ab =
      bf16 || need_b ? convert_storage(a, kBFloat16) : nullptr;
  const std::shared_ptr<const Storage> bb =
      bf16 || need_a ? convert_storage(b, kBFloat16) : nullptr;
  auto kept = [](const std::shared_ptr<const Storage>& s, int64_t at) {
    return MixedOperand{nullptr, s->data_as<BFloat16>() + at};
  };
  Array out = Array::from_shape(to_xshape(out_shape));
  if (bf16) {
    for (int64_t i = 0; i < count; ++i)
      gemm_mixed(false, false, M, N, K, kept(ab, ea.at[i]), K, kept(bb, eb.at[i]), N, 0.f,
                 out.data() + i * M * N, N);
  } else {
    const Tensor ac = a.contiguous(), bc = b.contiguous();
    const float* ap = ac.numel() ? ac.data_ptr<float>() : nullptr;
    const float* bp = bc.numel() ? bc.data_ptr<float>() : nullptr;
    for (int64_t i = 0; i < count; ++i)
      gemm_mixed(false, false, M, N, K, {ap + ea.at[i], nullptr}, K, {bp + eb.at[i], nullptr}, N,
                 0.f, out.data() + i * M * N, N);
  }
  const auto a_shape = to_xshape(sa), b_shape = to_xshape(sb);
  return make_output(std::move(out), name, {a, b}, [=](const Array& g) {
    const std::shared_ptr<const Storage> gb =
        bf16 ? rounded(g.data(), static_cast<int64_t>(g.size())) : nullptr;
    auto G = [&](int64_t i) {
      return bf16 ? MixedOperand{nullptr, gb->data_as<BFloat16>() + i * M * N}
                  : MixedOperand{g.data() + i * M * N, nullptr};
    };
    Gradients grads(2);
    if (need_a) {  // dA = g · Bᵀ, summed over the entries that share a broadcast A
      Array da = Array::from_shape(a_shape);
      if (ea.shared) std::fill(da.begin(), da.end(), 0.f);
      for (int64_t i = 0; i < count; ++i)
        gemm_mixed(false, true, M, K, N, G(i), N, kept(bb, eb.at[i]), N, ea.shared ? 1.f : 0.f,
                   da.data() + ea.at[i], K);
      grads[0] = std::move(da);
    }
    if (need_b) {  // dB = Aᵀ · g
      Array db = Array::from_shape(b_shape);
      if (eb.shared) std::fill(db.begin(), db.end(), 0.f);
      for (int64_t i = 0; i < count; ++i)
        gemm_mixed(true, false, K, N, M, kept(ab, ea.at[i]), K, G(i), N, eb.shared ? 1.f : 0.f,
                   db.data() + eb.at[i], N);
      grads[1] = std::move(db);
    }
    return grads;
  });
}

}  // namespace ember::detail

// ShardedOptimizer: row-aligned flat shards, the wrapped optimizer over leaf copies of this
// rank's rows, and one all-gather of the updated shards after each step.
#include "ember/distributed/sharded_optimizer.hpp"

#include <algorithm>
#include <limits>

#include "../dense.hpp"
#include "ember/autograd.hpp"
#include "ember/distributed/environment.hpp"
#include "mpi_call.hpp"

namespace ember::distributed {

namespace {
// Floats per row: a parameter is cut only between rows (its first dimension), so a row-sparse
// gradient splits into row-sparse pieces.
int64_t row_size(const Tensor& p) {
  return p.shape().empty() || p.shape()[0] == 0 ? std::max<int64_t>(p.numel(), 1)
                                                : p.numel() / p.shape()[0];
}

// The gradient of rows [begin, end) of `p`, set on `piece` (dense or row-sparse, as p's is; T
// the element type of both).
template <class T>
void slice_grad(const Tensor& p, int64_t begin, int64_t end, Tensor& piece) {
  piece.clear_grad();
  if (!p.has_grad()) return;
  const int64_t width = row_size(p);
  if (p.has_sparse_grad()) {
    const RowSparseGrad& full = p.sparse_grad();
    auto part = std::make_shared<RowSparseGrad>();
    part->dense_shape = piece.shape();
    std::vector<size_t> picked;
    for (size_t i = 0; i < full.rows.size(); ++i)
      if (full.rows[i] >= begin && full.rows[i] < end) picked.push_back(i);
    full.dispatch([&](auto real) {  // in the gradient's dtype (the engine checks it is p's)
      using V = decltype(real);
      const V* from = full.values_of<V>().data();
      V* to = part->allocate<V>(picked.size()).data();
      for (size_t j = 0; j < picked.size(); ++j) {
        part->rows.push_back(full.rows[picked[j]] - begin);
        std::copy_n(from + static_cast<int64_t>(picked[j]) * width, width,
                    to + static_cast<int64_t>(j) * width);
      }
    });
    // Even with no row here: the wrapped optimizer counts a step for the piece as it would for
    // the whole parameter (Adam's bias correction depends on that count).
    detail::install_sparse_grad(piece, std::move(part));
    return;
  }
  ArrayOf<T> g = ArrayOf<T>::from_shape(ember::detail::to_xshape(piece.shape()));
  const ember::detail::DenseOf<T> grad(p.grad());
  std::copy_n(grad->data() + begin * width, (end - begin) * width, g.data());
  piece.set_grad(Tensor(std::move(g)));
}

// An lr holder: the wrapper's own groups carry only the lr (the wrapped optimizer has the rest).
struct LrOnly : optim::OptimizerOptionsBase<LrOnly> {
  EMBER_ARG(double, lr) = 0.0;
};
}  // namespace

int64_t optimizer_state_bytes(const optim::Optimizer& optimizer) {
  if (auto* sharded = dynamic_cast<const ShardedOptimizer*>(&optimizer))
    return sharded->state_bytes();  // its state_dict() refuses: the state is split
  int64_t bytes = 0;
  for (const auto& [name, t] : optimizer.state_dict().tensors)
    bytes += t.numel() * static_cast<int64_t>(element_size(t.dtype()));
  return bytes;
}

ShardedOptimizer::ShardedOptimizer(std::vector<Tensor> parameters, const Factory& make)
    : Optimizer({parameters}, std::make_unique<LrOnly>(), "ShardedOptimizer"),
      params_(std::move(parameters)) {
  const Environment& env = Environment::current();
  const int64_t ranks = env.world_size();
  int64_t total = 0;
  for (size_t k = 0; k < params_.size(); ++k) {
    // One dtype, the one the shards are gathered in (float32, or float64 after model.to).
    EMBER_CHECK_DTYPE(params_[k].dtype() == params_[0].dtype(), "ShardedOptimizer: parameter ", k,
                      " is ", dtype_name(params_[k].dtype()), " but parameter 0 is ",
                      dtype_name(params_[0].dtype()), "; the parameters must have one dtype");
    offsets_.push_back(total);
    total += params_[k].numel();
  }
  // Even cuts of the flat space, each moved down to a row boundary of the parameter it falls in.
  bounds_.push_back(0);
  for (int64_t r = 1; r < ranks; ++r) {
    int64_t cut = total * r / ranks;
    auto k = static_cast<size_t>(std::upper_bound(offsets_.begin(), offsets_.end(), cut) -
                                 offsets_.begin() - 1);
    if (k < params_.size()) {
      const int64_t width = row_size(params_[k]);
      cut = offsets_[k] + (cut - offsets_[k]) / width * width;
    }
    bounds_.push_back(std::max(cut, bounds_.back()));
  }
  bounds_.push_back(total);
  begin_ = bounds_[static_cast<size_t>(env.rank())];
  end_ = bounds_[static_cast<size_t>(env.rank()) + 1];
  std::vector<Tensor> local;
  for (size_t k = 0; k < params_.size(); ++k) {
    const Tensor& p = params_[k];
    const int64_t lo = std::max(begin_, offsets_[k]), hi = std::min(end_, offsets_[k] + p.numel());
    if (lo >= hi) continue;
    const int64_t width = row_size(p);
    Piece piece{k, (lo - offsets_[k]) / width, (hi - offsets_[k]) / width, Tensor()};
    Shape shape = p.shape();
    if (shape.empty()) shape = {1};
    shape[0] = piece.row_end - piece.row_begin;
    piece.values = zeros(shape, p.dtype(), p.requires_grad());
    local.push_back(piece.values);
    pieces_.push_back(std::move(piece));
  }
  if (!local.empty()) {
    local_ = make(local);
    EMBER_CHECK(local_ != nullptr, "ShardedOptimizer: the factory returned no optimizer");
    param_groups()[0].options->set_lr(local_->param_groups()[0].options->get_lr());
  }
}

void ShardedOptimizer::step() {
  if (params_.empty()) return;  // on every rank: they hold the same parameters
  // In the parameters' element type T (one dtype: the constructor checks).
  dispatch_floating(params_[0], "ShardedOptimizer::step", [&](auto real) {
    using T = decltype(real);
    const Environment& env = Environment::current();
    if (local_) {
      // The rows' current values (a loaded checkpoint or a broadcast may have changed them) and
      // gradients, then the wrapped step with this optimizer's lr.
      for (Piece& piece : pieces_) {
        const Tensor& p = params_[piece.param];
        const int64_t width = row_size(p);
        const ember::detail::DenseOf<T> values(p);  // a parameter that is a view: packed
        std::copy_n(values->data() + piece.row_begin * width, piece.values.numel(),
                    ember::detail::own_values<T>(piece.values).data());
        slice_grad<T>(p, piece.row_begin, piece.row_end, piece.values);
      }
      for (optim::ParamGroup& g : local_->param_groups())
        g.options->set_lr(param_groups()[0].options->get_lr());
      local_->step();
    }
    // Every shard to every rank: this rank's rows packed in order, gathered in rank order.
    const size_t ranks = static_cast<size_t>(env.world_size());
    std::vector<int> counts(ranks), displs(ranks);
    for (size_t r = 0; r < ranks; ++r) {
      EMBER_CHECK_VALUE(bounds_.back() <= std::numeric_limits<int>::max(),
                        "ShardedOptimizer: ", bounds_.back(), " parameters exceed MPI's int count");
      displs[r] = static_cast<int>(bounds_[r]);
      counts[r] = static_cast<int>(bounds_[r + 1] - bounds_[r]);
    }
    std::vector<T, CachingAllocator<T>> flat(static_cast<size_t>(bounds_.back()));
    int64_t at = begin_;
    for (const Piece& piece : pieces_) {
      std::copy_n(piece.values.data_ptr<T>(), piece.values.numel(), flat.data() + at);
      at += piece.values.numel();
    }
    MPI_Request request;
    detail::check(MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, flat.data(), counts.data(),
                                  displs.data(), detail::mpi_type<T>(), MPI_COMM_WORLD, &request),
                  "MPI_Iallgatherv");
    detail::wait(request, "ShardedOptimizer::step (gathering the updated shards)");
    NoGradGuard no_grad;
    for (size_t k = 0; k < params_.size(); ++k) {
      ValuesForWriteOf<T> values(params_[k]);  // through the layout: a parameter may be a view
      std::copy_n(flat.data() + offsets_[k], params_[k].numel(), values.data());
    }
  });
}

int64_t ShardedOptimizer::state_bytes() const {
  return local_ ? optimizer_state_bytes(*local_) : 0;
}

void ShardedOptimizer::save_state(io::Archive&) const {
  EMBER_CHECK(false,
              "ShardedOptimizer::state_dict: each rank holds only its shard's state; "
              "save local()->state_dict() on every rank (or use the unsharded optimizer)");
}

void ShardedOptimizer::load_state(const io::Archive&) {
  EMBER_CHECK(false, "ShardedOptimizer::load_state_dict: load each rank's shard into local()");
}

}  // namespace ember::distributed

// DataParallel: dense gradients summed in buckets (during backward when overlapping), row-sparse
// ones exchanged as rows and merged in rank order. Every rank runs the same sequence of
// collectives on each communicator.
#include "ember/distributed/data_parallel.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>

#include "ember/autograd.hpp"
#include "ember/distributed/environment.hpp"
#include "mpi_call.hpp"
#include "reducer.hpp"

namespace ember::distributed {

namespace detail {
// Through the tape: a one-node graph whose backward returns the gradient, so the engine stores
// it exactly as Embedding's backward would.
void install_sparse_grad(const Tensor& param, std::shared_ptr<RowSparseGrad> grad) {
  Tensor anchor = make_output(Array(xt::zeros<float>({1})), "install_sparse_grad", {param},
                              [grad](const Array&) { return gradients(grad); });
  anchor.backward(ones({1}));
}
}  // namespace detail

namespace {
// What a rank holds for one parameter; OR-ed over the ranks.
constexpr int kDense = 1, kSparse = 2;

int kind_of(const Tensor& p) {
  if (!p.has_grad()) return 0;
  return p.has_sparse_grad() ? kSparse : kDense;
}

int int_count(int64_t n) {
  EMBER_CHECK_VALUE(n <= std::numeric_limits<int>::max(), "DataParallel: a message of ", n,
                    " elements exceeds MPI's int count");
  return static_cast<int>(n);
}

// Parameter indices cut into buckets in the given order: the first holds up to `first` bytes,
// the others up to `rest`; a tensor larger than a bucket gets one of its own.
std::vector<std::vector<size_t>> cut_buckets(const std::vector<Tensor>& params,
                                             const std::vector<size_t>& order, int64_t first,
                                             int64_t rest) {
  std::vector<std::vector<size_t>> buckets;
  int64_t filled = 0;
  for (size_t k : order) {
    const int64_t bytes = params[k].numel() * static_cast<int64_t>(sizeof(float));
    const int64_t cap = buckets.size() == 1 ? first : rest;
    if (buckets.empty() || filled + bytes > cap) {
      buckets.emplace_back();
      filled = 0;
    }
    buckets.back().push_back(k);
    filled += bytes;
  }
  return buckets;
}

// The mean of a reduced bucket, written into each parameter's gradient.
void unpack_mean(std::vector<Tensor>& params, const std::vector<size_t>& bucket, const float* sum,
                 float scale) {
  size_t offset = 0;
  for (size_t k : bucket) {
    Tensor& p = params[k];
    Array mean = Array::from_shape(ember::detail::to_xshape(p.shape()));
    for (size_t i = 0; i < mean.size(); ++i) mean.data()[i] = sum[offset + i] * scale;
    offset += mean.size();
    p.set_grad(Tensor(std::move(mean)));
  }
}
}  // namespace

struct DataParallel::State {
  // A bucket reduced during backward: its gradients, then one flag per parameter (1 when this
  // rank has its gradient: the sum counts the ranks that do), padded to a multiple of N.
  struct Bucket {
    std::vector<size_t> params;
    std::vector<size_t> offsets;
    size_t floats = 0;
    std::vector<float, CachingAllocator<float>> buffer;
    size_t arrived = 0;
  };
  std::vector<Tensor> params;
  detail::RankOrderedReducer reducer;
  std::vector<Bucket> buckets;
  std::vector<int> bucket_of, slot_of;  // per parameter; -1: exchanged after backward
  std::vector<char> arrived;            // per parameter, in this backward
  std::vector<size_t> rest;             // parameters exchanged in synchronize()
  size_t next_start = 0;                // buckets start in order
  bool layout_known = false;
  int no_sync = 0;
  int64_t overlapped = 0;

  // A gradient hook: packs the parameter's gradient as it will be after accumulation (the one
  // already there plus the incoming one, in that order, as the engine adds them) and starts
  // every bucket that is complete, in order.
  void on_gradient(size_t k, const Tensor& incoming) {
    if (no_sync > 0) return;
    EMBER_CHECK(!arrived[k], "DataParallel: parameter ", k,
                " received a second gradient in one backward after its bucket was packed (a "
                "parameter used twice in the graph, or two backward calls without no_sync()); "
                "use DataParallelOptions().overlap(false) for such a model");
    arrived[k] = 1;
    Bucket& b = buckets[static_cast<size_t>(bucket_of[k])];
    const size_t slot = static_cast<size_t>(slot_of[k]);
    float* dst = b.buffer.data() + b.offsets[slot];
    const float* g = incoming.data().data();
    const size_t n = static_cast<size_t>(incoming.numel());
    const Tensor& p = params[k];
    if (p.has_grad() && !p.has_sparse_grad()) {
      const Tensor grad = p.grad();  // a named tensor: data() of a temporary is a copy
      const float* old = grad.data().data();
      for (size_t i = 0; i < n; ++i) dst[i] = old[i] + g[i];
    } else {
      std::copy(g, g + n, dst);
    }
    b.buffer[b.floats + slot] = 1.0f;
    ++b.arrived;
    while (next_start < buckets.size() &&
           buckets[next_start].arrived == buckets[next_start].params.size()) {
      start(buckets[next_start++]);
      ++overlapped;
    }
    reducer.progress();
  }

  void start(Bucket& b) {
    reducer.start(b.buffer.data(), b.buffer.size(), "DataParallel::synchronize (dense bucket)");
  }
};

DataParallel::DataParallel(std::vector<Tensor> parameters, DataParallelOptions options)
    : parameters_(std::move(parameters)), options_(options) {
  Environment::current();
  EMBER_CHECK_VALUE(options_.bucket_bytes() > 0 && options_.first_bucket_bytes() > 0,
                    "DataParallel: bucket_bytes and first_bucket_bytes must be positive, got ",
                    options_.bucket_bytes(), " and ", options_.first_bucket_bytes());
  check_same_parameters();
  state_ = std::make_shared<State>();
  state_->params = parameters_;
  for (size_t k = parameters_.size(); k-- > 0;) state_->rest.push_back(k);
  if (options_.broadcast_parameters()) broadcast_parameters();
}

DataParallel::~DataParallel() = default;

void DataParallel::check_same_parameters() const {
  // A fingerprint of the shapes: the min and max over the ranks differ when any rank differs.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix(parameters_.size());
  for (const Tensor& p : parameters_)
    for (int64_t d : p.shape()) mix(static_cast<uint64_t>(d));
  uint64_t mine[2] = {h, ~h}, reduced[2];
  MPI_Request request;
  detail::check(MPI_Iallreduce(mine, reduced, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD, &request),
                "MPI_Iallreduce");
  detail::wait(request, "DataParallel");
  EMBER_CHECK_SHAPE(reduced[0] == h && reduced[1] == ~h, "DataParallel: rank ",
                    Environment::current().rank(), "'s ", parameters_.size(),
                    " parameters do not have the same shapes as another rank's");
}

void DataParallel::broadcast_parameters() {
  for (Tensor& p : parameters_) broadcast(p, 0);
}

DataParallel::NoSync DataParallel::no_sync() {
  ++state_->no_sync;
  return NoSync(this);
}

DataParallel::NoSync::NoSync(NoSync&& other) noexcept : dp_(other.dp_) { other.dp_ = nullptr; }

DataParallel::NoSync::~NoSync() {
  if (dp_) --dp_->state_->no_sync;
}

void DataParallel::build_overlap(const std::vector<int>& kinds) {
  // Parameters with a dense gradient on every rank get hooks; the rest (row-sparse, mixed or
  // unused in the first step) keep being exchanged after backward.
  State& s = *state_;
  s.layout_known = true;
  s.bucket_of.assign(parameters_.size(), -1);
  s.slot_of.assign(parameters_.size(), -1);
  s.arrived.assign(parameters_.size(), 0);
  std::vector<size_t> hooked;
  s.rest.clear();
  for (size_t k = parameters_.size(); k-- > 0;) (kinds[k] == kDense ? hooked : s.rest).push_back(k);
  for (const std::vector<size_t>& members :
       cut_buckets(parameters_, hooked, options_.first_bucket_bytes(), options_.bucket_bytes())) {
    State::Bucket& b = s.buckets.emplace_back();
    b.params = members;
    for (size_t slot = 0; slot < members.size(); ++slot) {
      b.offsets.push_back(b.floats);
      b.floats += static_cast<size_t>(parameters_[members[slot]].numel());
      s.bucket_of[members[slot]] = static_cast<int>(s.buckets.size() - 1);
      s.slot_of[members[slot]] = static_cast<int>(slot);
    }
    b.buffer.assign(detail::RankOrderedReducer::padded(b.floats + members.size()), 0.0f);
  }
  std::weak_ptr<State> weak = state_;
  for (size_t k : hooked) {
    parameters_[k].register_hook([weak, k](const Tensor& g) {
      if (auto s = weak.lock()) s->on_gradient(k, g);
      return g;
    });
  }
}

void DataParallel::synchronize() {
  const Environment& env = Environment::current();
  EMBER_CHECK(state_->no_sync == 0,
              "DataParallel::synchronize: called inside no_sync(); let the guard go first");
  const auto start = std::chrono::steady_clock::now();
  State& s = *state_;
  stats_ = SyncStats();
  stats_.overlapped_buckets = s.overlapped;
  s.overlapped = 0;
  if (env.world_size() == 1) return;  // the mean over one rank is its gradient, bit for bit
  const float scale = 1.0f / static_cast<float>(env.world_size());

  // Buckets backward did not complete: what this rank has (an accumulated gradient from
  // no_sync steps, or none: zeros, flag 0), then every bucket in order.
  for (size_t i = s.next_start; i < s.buckets.size(); ++i) {
    State::Bucket& b = s.buckets[i];
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      const size_t k = b.params[slot];
      if (s.arrived[k]) continue;
      const Tensor& p = parameters_[k];
      float* dst = b.buffer.data() + b.offsets[slot];
      const bool has = p.has_grad();
      if (has) {
        const Tensor grad = p.grad();  // a named tensor: data() of a temporary is a copy
        const Array& g = grad.data();
        std::copy(g.data(), g.data() + g.size(), dst);
      } else {
        std::fill(dst, dst + p.numel(), 0.0f);
      }
      b.buffer[b.floats + slot] = has ? 1.0f : 0.0f;
    }
    s.start(b);
  }
  s.reducer.finish();
  for (State::Bucket& b : s.buckets) {
    NoGradGuard no_grad;
    unpack_mean(parameters_, b.params, b.buffer.data(), scale);
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      // No rank had this gradient: none is made up.
      if (b.buffer[b.floats + slot] == 0.0f) parameters_[b.params[slot]].clear_grad();
      s.arrived[b.params[slot]] = 0;
    }
    b.arrived = 0;
    ++stats_.allreduce_calls;
    stats_.dense_bytes += static_cast<int64_t>(b.floats * sizeof(float));
  }
  s.next_start = 0;
  if (!s.rest.empty()) synchronize_rest(s.rest);
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// After backward: the parameters without hooks (all of them before the first synchronize(),
// or without overlap), as one small all-gather of gradient kinds and row counts, dense
// buckets, then one all-gather of rows and values per row-sparse parameter.
void DataParallel::synchronize_rest(const std::vector<size_t>& params) {
  const Environment& env = Environment::current();
  const float scale = 1.0f / static_cast<float>(env.world_size());
  // One small all-gather: every rank's gradient kind and row count per parameter (the rows it
  // will send once coalesced), so the kinds are OR-ed and the row exchange needs no count step.
  const size_t ranks = static_cast<size_t>(env.world_size()), n = params.size();
  std::vector<int64_t> mine(2 * n), all(2 * n * ranks);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = parameters_[params[i]];
    mine[2 * i] = kind_of(p);
    if (p.has_sparse_grad()) {
      std::vector<int64_t> rows = p.sparse_grad().rows;
      std::sort(rows.begin(), rows.end());
      mine[2 * i + 1] = std::unique(rows.begin(), rows.end()) - rows.begin();
    }
  }
  MPI_Request request;
  detail::check(
      MPI_Iallgather(mine.data(), int_count(static_cast<int64_t>(2 * n)), MPI_INT64_T, all.data(),
                     int_count(static_cast<int64_t>(2 * n)), MPI_INT64_T, MPI_COMM_WORLD, &request),
      "MPI_Iallgather");
  detail::wait(request, "DataParallel::synchronize (gradient kinds)");
  std::vector<int> kinds(parameters_.size(), 0);
  for (size_t r = 0; r < ranks; ++r)
    for (size_t i = 0; i < n; ++i) kinds[params[i]] |= static_cast<int>(all[2 * (r * n + i)]);

  // Dense, or sparse on some ranks and dense on others (then densified): summed as dense.
  std::vector<size_t> dense;
  for (size_t k : params)
    if (kinds[k] & kDense) {
      // Every rank sees the same kinds and dtypes, so every rank throws here alike.
      EMBER_CHECK_DTYPE(parameters_[k].dtype() == kFloat32,
                        "DataParallel::synchronize: ", "parameter ", k, " (shape ",
                        ember::detail::shape_str(parameters_[k].shape()), ") is ",
                        dtype_name(parameters_[k].dtype()), " with a dense gradient; ",
                        "dense buckets are float32 (a float64 table's row-sparse gradient is ",
                        "exchanged in float64)");
      dense.push_back(k);
    }
  auto buckets =
      cut_buckets(parameters_, dense, options_.first_bucket_bytes(), options_.bucket_bytes());
  // Through Ember's buffer cache: a fresh multi-MB vector every step cost a page fault per
  // 4 KB on top of the exchange.
  std::vector<std::vector<float, CachingAllocator<float>>> buffers(buckets.size());
  for (size_t i = 0; i < buckets.size(); ++i) {
    auto& buffer = buffers[i];
    size_t floats = 0;
    for (size_t k : buckets[i]) floats += static_cast<size_t>(parameters_[k].numel());
    buffer.resize(detail::RankOrderedReducer::padded(floats));
    size_t offset = 0;
    for (size_t k : buckets[i]) {
      const Tensor& p = parameters_[k];
      if (p.has_grad()) {
        const Tensor grad = p.grad();  // a named tensor: data() of a temporary is a copy
        const Array& g = grad.data();
        std::copy(g.data(), g.data() + g.size(), buffer.data() + offset);
      } else {
        std::fill(buffer.data() + offset, buffer.data() + offset + p.numel(), 0.0f);
      }
      offset += static_cast<size_t>(p.numel());
    }
    std::fill(buffer.begin() + static_cast<long>(offset), buffer.end(), 0.0f);
    state_->reducer.start(buffer.data(), buffer.size(), "DataParallel::synchronize (dense bucket)");
    ++stats_.allreduce_calls;
    stats_.dense_bytes += static_cast<int64_t>(offset * sizeof(float));
  }
  state_->reducer.finish();
  {
    NoGradGuard no_grad;
    for (size_t i = 0; i < buckets.size(); ++i)
      unpack_mean(parameters_, buckets[i], buffers[i].data(), scale);
  }

  for (size_t i = 0; i < n; ++i) {
    const size_t k = params[i];
    if (kinds[k] != kSparse) continue;
    Tensor& p = parameters_[k];
    // In the parameter's dtype, as its row-sparse gradient is.
    dispatch_floating(p, "DataParallel::synchronize", [&](auto real) {
      using T = decltype(real);
      auto merged = std::make_shared<RowSparseGrad>();
      merged->dense_shape = p.shape();
      const int64_t width = merged->row_size();
      const int64_t row_bytes = 8 + static_cast<int64_t>(sizeof(T)) * width;
      // Rows and values in one message per rank: [row ids (int64)][values (T)].
      std::vector<int> counts(ranks), displs(ranks);
      int64_t total = 0;
      for (size_t r = 0; r < ranks; ++r) {
        displs[r] = int_count(total * row_bytes);
        counts[r] = int_count(all[2 * (r * n + i) + 1] * row_bytes);
        total += all[2 * (r * n + i) + 1];
      }
      const int64_t count = mine[2 * i + 1];
      std::vector<char> send(static_cast<size_t>(count * row_bytes));
      if (p.has_sparse_grad()) {
        p.sparse_grad().coalesce();  // each rank sends every touched row once
        const RowSparseGrad& g = p.sparse_grad();
        std::memcpy(send.data(), g.rows.data(), static_cast<size_t>(count) * 8);
        std::memcpy(send.data() + count * 8, g.values_of<T>().data(),
                    static_cast<size_t>(count * width) * sizeof(T));
      }
      std::vector<char> received(static_cast<size_t>(total * row_bytes));
      detail::check(
          MPI_Iallgatherv(send.data(), int_count(count * row_bytes), MPI_BYTE, received.data(),
                          counts.data(), displs.data(), MPI_BYTE, MPI_COMM_WORLD, &request),
          "MPI_Iallgatherv");
      detail::wait(request, "DataParallel::synchronize (sparse rows)");
      // Every rank's rows in rank order, then their values in the same order.
      merged->rows.resize(static_cast<size_t>(total));
      ArrayOf<T>& values = merged->allocate<T>(static_cast<size_t>(total));
      int64_t at = 0;
      for (size_t r = 0; r < ranks; ++r) {
        const int64_t c = all[2 * (r * n + i) + 1];
        const char* part = received.data() + displs[r];
        std::memcpy(merged->rows.data() + at, part, static_cast<size_t>(c) * 8);
        std::memcpy(values.data() + at * width, part + c * 8,
                    static_cast<size_t>(c * width) * sizeof(T));
        at += c;
      }
      stats_.allgather_calls += 1;
      stats_.sparse_bytes += count * row_bytes;
      stats_.sparse_bytes_received += total * row_bytes;
      // Every rank now holds the same rows in rank order; the stable sort in coalesce() sums
      // duplicates in that order, so the bits agree everywhere.
      merged->coalesce();
      merged->values_of<T>() *= T(1) / static_cast<T>(env.world_size());
      if (p.has_sparse_grad()) {
        p.sparse_grad() = std::move(*merged);
      } else {
        detail::install_sparse_grad(p, std::move(merged));  // needs grad mode: no NoGradGuard
      }
    });
  }
  if (options_.overlap() && !state_->layout_known) build_overlap(kinds);
}

}  // namespace ember::distributed

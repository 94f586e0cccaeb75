// DataParallel: dense gradients summed in buckets (during backward when overlapping), row-sparse
// ones exchanged as rows and merged in rank order. Every rank runs the same sequence of
// collectives on each communicator.
#include "ember/distributed/data_parallel.hpp"

#include <mpi.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <type_traits>
#include <variant>

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

// Parameter indices cut into buckets in the given order, one dtype per bucket (as DDP's): each
// dtype fills its own open bucket, the first of a dtype up to `first` bytes, the others up to
// `rest`; a tensor larger than a bucket gets one of its own. Buckets are listed in the order
// their first parameter comes, so a float32-only model gets the buckets it always had.
std::vector<std::vector<size_t>> cut_buckets(const std::vector<Tensor>& params,
                                             const std::vector<size_t>& order, int64_t first,
                                             int64_t rest) {
  std::vector<std::vector<size_t>> buckets;
  struct Open {
    Dtype dtype;
    size_t bucket, count;  // its open bucket, and how many it has had
    int64_t filled;
  };
  std::vector<Open> open;
  for (size_t k : order) {
    const Dtype dtype = params[k].dtype();
    const int64_t bytes = params[k].numel() * static_cast<int64_t>(element_size(dtype));
    auto it =
        std::find_if(open.begin(), open.end(), [&](const Open& o) { return o.dtype == dtype; });
    if (it == open.end() || it->filled + bytes > (it->count == 1 ? first : rest)) {
      if (it == open.end()) it = open.insert(open.end(), Open{dtype, 0, 0, 0});
      buckets.emplace_back();
      *it = Open{dtype, buckets.size() - 1, it->count + 1, 0};
    }
    buckets[it->bucket].push_back(k);
    it->filled += bytes;
  }
  return buckets;
}

}  // namespace

// In detail, not the anonymous namespace: DataParallel::State holds buckets.
namespace detail {
// Copies p's gradient (as it stands) into dst, or zeros when it has none; reports which.
template <class T>
bool pack(const Tensor& p, T* dst) {
  if (!p.has_grad()) {
    std::fill(dst, dst + p.numel(), T(0));
    return false;
  }
  const auto grad = saved<T>(p.grad());  // contiguous, in the parameter's dtype
  std::copy(grad->data(), grad->data() + grad->size(), dst);
  return true;
}

template <class T>
using BufferOf = std::vector<T, CachingAllocator<T>>;

// A bucket: its parameters (one dtype), where each one's gradient starts in the buffer, and the
// buffer, in that dtype. With flags, one more element per parameter after the gradients: 1 when
// this rank has its gradient (the sum counts the ranks that do). Padded to a multiple of N.
struct Bucket {
  std::vector<size_t> params;
  std::vector<size_t> offsets;
  size_t elements = 0;  // of gradient, before the flags
  std::variant<BufferOf<float>, BufferOf<double>> buffer;
  size_t arrived = 0;

  Bucket(const std::vector<Tensor>& all, std::vector<size_t> members, bool flags)
      : params(std::move(members)) {
    for (size_t k : params) {
      offsets.push_back(elements);
      elements += static_cast<size_t>(all[k].numel());
    }
    const size_t n = RankOrderedReducer::padded(elements + (flags ? params.size() : 0));
    dispatch_floating(all[params.front()], "DataParallel", [&](auto real) {
      buffer.emplace<BufferOf<decltype(real)>>(n, decltype(real)(0));
    });
  }
  template <class T>
  T* values() {
    return std::get<BufferOf<T>>(buffer).data();
  }
  // Calls f(T{}) with the bucket's element type.
  template <class F>
  decltype(auto) visit(F&& f) {
    return std::visit([&](auto& b) { return f(typename std::decay_t<decltype(b)>::value_type{}); },
                      buffer);
  }
  // Packs what this rank has of parameter `slot` (its gradient or zeros) and its flag.
  void pack_slot(const Tensor& p, size_t slot) {
    visit([&](auto real) {
      using T = decltype(real);
      values<T>()[elements + slot] = pack(p, values<T>() + offsets[slot]) ? T(1) : T(0);
    });
  }
  bool flagged(size_t slot) {
    return visit([&](auto real) { return values<decltype(real)>()[elements + slot] != 0; });
  }
  void start(RankOrderedReducer& reducer) {
    std::visit(
        [&](auto& b) {
          reducer.start(b.data(), b.size(), "DataParallel::synchronize (dense bucket)");
        },
        buffer);
  }
  size_t bytes() const {
    return elements * (std::holds_alternative<BufferOf<float>>(buffer) ? 4 : 8);
  }
};

}  // namespace detail

namespace {
using detail::Bucket;

// The mean of a reduced bucket, written into each parameter's gradient in its dtype.
void unpack_mean(std::vector<Tensor>& params, Bucket& b, int ranks) {
  b.visit([&](auto real) {
    using T = decltype(real);
    const T scale = T(1) / static_cast<T>(ranks);
    const T* sum = b.values<T>();
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      Tensor& p = params[b.params[slot]];
      ArrayOf<T> mean = ArrayOf<T>::from_shape(ember::detail::to_xshape(p.shape()));
      for (size_t i = 0; i < mean.size(); ++i) mean.data()[i] = sum[b.offsets[slot] + i] * scale;
      p.set_grad(Tensor(std::move(mean)));
    }
  });
}
}  // namespace

struct DataParallel::State {
  std::vector<Tensor> params;
  detail::RankOrderedReducer reducer;
  std::vector<detail::Bucket> buckets;
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
    b.visit([&](auto real) {
      using T = decltype(real);
      T* dst = b.values<T>() + b.offsets[slot];
      const auto incoming_values = saved<T>(incoming);
      const T* g = incoming_values->data();
      const size_t n = incoming_values->size();
      const Tensor& p = params[k];
      if (p.has_grad() && !p.has_sparse_grad()) {
        const auto old_values = saved<T>(p.grad());
        const T* old = old_values->data();
        for (size_t i = 0; i < n; ++i) dst[i] = old[i] + g[i];
      } else {
        std::copy(g, g + n, dst);
      }
      b.values<T>()[b.elements + slot] = T(1);
    });
    ++b.arrived;
    while (next_start < buckets.size() &&
           buckets[next_start].arrived == buckets[next_start].params.size()) {
      start(buckets[next_start++]);
      ++overlapped;
    }
    reducer.progress();
  }

  void start(Bucket& b) { b.start(reducer); }
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
  // A fingerprint of the shapes and dtypes (a bucket's layout follows both): the min and max
  // over the ranks differ when any rank differs.
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
  mix(parameters_.size());
  for (const Tensor& p : parameters_) {
    mix(static_cast<uint64_t>(p.dtype()));
    for (int64_t d : p.shape()) mix(static_cast<uint64_t>(d));
  }
  uint64_t mine[2] = {h, ~h}, reduced[2];
  MPI_Request request;
  detail::check(MPI_Iallreduce(mine, reduced, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD, &request),
                "MPI_Iallreduce");
  detail::wait(request, "DataParallel");
  EMBER_CHECK_SHAPE(reduced[0] == h && reduced[1] == ~h, "DataParallel: rank ",
                    Environment::current().rank(), "'s ", parameters_.size(),
                    " parameters do not have the same shapes and dtypes as another rank's");
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
  for (std::vector<size_t>& members :
       cut_buckets(parameters_, hooked, options_.first_bucket_bytes(), options_.bucket_bytes())) {
    for (size_t slot = 0; slot < members.size(); ++slot) {
      s.bucket_of[members[slot]] = static_cast<int>(s.buckets.size());
      s.slot_of[members[slot]] = static_cast<int>(slot);
    }
    s.buckets.emplace_back(parameters_, std::move(members), true);
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

  // Buckets backward did not complete: what this rank has (an accumulated gradient from
  // no_sync steps, or none: zeros, flag 0), then every bucket in order.
  for (size_t i = s.next_start; i < s.buckets.size(); ++i) {
    Bucket& b = s.buckets[i];
    for (size_t slot = 0; slot < b.params.size(); ++slot)
      if (!s.arrived[b.params[slot]]) b.pack_slot(parameters_[b.params[slot]], slot);
    s.start(b);
  }
  s.reducer.finish();
  for (Bucket& b : s.buckets) {
    NoGradGuard no_grad;
    unpack_mean(parameters_, b, env.world_size());
    for (size_t slot = 0; slot < b.params.size(); ++slot) {
      // No rank had this gradient: none is made up.
      if (!b.flagged(slot)) parameters_[b.params[slot]].clear_grad();
      s.arrived[b.params[slot]] = 0;
    }
    b.arrived = 0;
    ++stats_.allreduce_calls;
    stats_.dense_bytes += static_cast<int64_t>(b.bytes());
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

  // Dense, or sparse on some ranks and dense on others (then densified): summed as dense, in
  // buckets of one dtype each.
  std::vector<size_t> dense;
  for (size_t k : params)
    if (kinds[k] & kDense) {
      // Every rank sees the same kinds and dtypes, so every rank throws here alike, before
      // any bucket starts.
      const Dtype dtype = parameters_[k].dtype();
      EMBER_CHECK_DTYPE(
          dtype == kFloat32 || dtype == kFloat64, "DataParallel::synchronize: ", "parameter ", k,
          " (shape ", ember::detail::shape_str(parameters_[k].shape()), ") is ", dtype_name(dtype),
          " with a dense gradient; buckets are float32 or float64");
      dense.push_back(k);
    }
  // Through Ember's buffer cache: a fresh multi-MB vector every step cost a page fault per
  // 4 KB on top of the exchange.
  std::vector<std::vector<size_t>> cuts =
      cut_buckets(parameters_, dense, options_.first_bucket_bytes(), options_.bucket_bytes());
  std::vector<Bucket> buckets;
  buckets.reserve(cuts.size());  // the reducer holds their buffers' addresses
  for (std::vector<size_t>& members : cuts) {
    Bucket& b = buckets.emplace_back(parameters_, std::move(members), false);
    for (size_t slot = 0; slot < b.params.size(); ++slot)
      b.visit([&](auto real) {
        detail::pack(parameters_[b.params[slot]], b.values<decltype(real)>() + b.offsets[slot]);
      });
    b.start(state_->reducer);
    ++stats_.allreduce_calls;
    stats_.dense_bytes += static_cast<int64_t>(b.bytes());
  }
  state_->reducer.finish();
  {
    NoGradGuard no_grad;
    for (Bucket& b : buckets) unpack_mean(parameters_, b, env.world_size());
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

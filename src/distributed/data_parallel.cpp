// DataParallel: dense gradients all-reduced in fixed buckets, row-sparse ones exchanged as rows
// and merged in rank order. Every rank runs exactly the same sequence of collectives.
#include "ember/distributed/data_parallel.hpp"

#include <mpi.h>

#include <chrono>
#include <limits>

#include "ember/autograd.hpp"
#include "ember/distributed/environment.hpp"
#include "mpi_call.hpp"

namespace ember::distributed {

namespace {
// What a rank holds for one parameter; OR-ed over the ranks.
constexpr int kDense = 1, kSparse = 2;

int kind_of(const Tensor& p) {
  if (!p.has_grad()) return 0;
  return p.has_sparse_grad() ? kSparse : kDense;
}

// Sets a row-sparse gradient on a parameter that has none, through the tape: a one-node graph
// whose backward returns it, so the engine stores it exactly as Embedding's backward would.
void install_sparse_grad(const Tensor& param, std::shared_ptr<RowSparseGrad> grad) {
  Tensor anchor = make_output(Array(xt::zeros<float>({1})), "install_sparse_grad", {param},
                              [grad](const Array&) { return gradients(grad); });
  anchor.backward(ones({1}));
}

int int_count(int64_t n) {
  EMBER_CHECK_VALUE(n <= std::numeric_limits<int>::max(), "DataParallel: a message of ", n,
                    " elements exceeds MPI's int count");
  return static_cast<int>(n);
}
}  // namespace

DataParallel::DataParallel(std::vector<Tensor> parameters, DataParallelOptions options)
    : parameters_(std::move(parameters)), options_(options) {
  Environment::current();
  EMBER_CHECK_VALUE(options_.bucket_bytes() > 0,
                    "DataParallel: bucket_bytes must be positive, got ", options_.bucket_bytes());
  // Buckets in reverse parameter order (the order backward finishes them in), cut at
  // bucket_bytes; a tensor larger than a bucket gets a bucket of its own.
  int64_t filled = 0;
  for (size_t k = parameters_.size(); k-- > 0;) {
    const int64_t bytes = parameters_[k].numel() * static_cast<int64_t>(sizeof(float));
    if (buckets_.empty() || filled + bytes > options_.bucket_bytes()) {
      buckets_.emplace_back();
      filled = 0;
    }
    buckets_.back().push_back(k);
    filled += bytes;
  }
  check_same_parameters();
  if (options_.broadcast_parameters()) broadcast_parameters();
}

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

void DataParallel::synchronize() {
  const Environment& env = Environment::current();
  const auto start = std::chrono::steady_clock::now();
  stats_ = SyncStats();
  if (env.world_size() == 1) return;  // the mean over one rank is its gradient, bit for bit
  const float scale = 1.0f / static_cast<float>(env.world_size());

  // Which kind of gradient each parameter has anywhere: one small all-reduce.
  std::vector<int> kinds(parameters_.size());
  for (size_t k = 0; k < parameters_.size(); ++k) kinds[k] = kind_of(parameters_[k]);
  MPI_Request request;
  detail::check(
      MPI_Iallreduce(MPI_IN_PLACE, kinds.data(), int_count(static_cast<int64_t>(kinds.size())),
                     MPI_INT, MPI_BOR, MPI_COMM_WORLD, &request),
      "MPI_Iallreduce");
  detail::wait(request, "DataParallel::synchronize (gradient kinds)");

  // Through Ember's buffer cache: a fresh multi-MB vector every step cost a page fault per
  // 4 KB on top of the exchange.
  std::vector<float, CachingAllocator<float>> buffer;
  for (const std::vector<size_t>& bucket : buckets_) {
    NoGradGuard no_grad;
    // Dense, or sparse on some ranks and dense on others (then densified): summed as dense.
    buffer.clear();
    size_t bucket_floats = 0;
    for (size_t k : bucket)
      if (kinds[k] & kDense) bucket_floats += static_cast<size_t>(parameters_[k].numel());
    buffer.reserve(bucket_floats);
    for (size_t k : bucket) {
      if (!(kinds[k] & kDense)) continue;
      const Tensor& p = parameters_[k];
      if (p.has_grad()) {
        const Array& g = p.grad().data();
        buffer.insert(buffer.end(), g.data(), g.data() + g.size());
      } else {
        buffer.resize(buffer.size() + static_cast<size_t>(p.numel()), 0.0f);
      }
    }
    if (buffer.empty()) continue;
    detail::check(
        MPI_Iallreduce(MPI_IN_PLACE, buffer.data(), int_count(static_cast<int64_t>(buffer.size())),
                       MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request),
        "MPI_Iallreduce");
    detail::wait(request, "DataParallel::synchronize (dense bucket)");
    ++stats_.allreduce_calls;
    stats_.dense_bytes += static_cast<int64_t>(buffer.size() * sizeof(float));
    size_t offset = 0;
    for (size_t k : bucket) {
      if (!(kinds[k] & kDense)) continue;
      Tensor& p = parameters_[k];
      Array mean = Array::from_shape(ember::detail::to_xshape(p.shape()));
      for (size_t i = 0; i < mean.size(); ++i) mean.data()[i] = buffer[offset + i] * scale;
      offset += mean.size();
      p.set_grad(Tensor(std::move(mean)));
    }
  }

  for (size_t k = 0; k < parameters_.size(); ++k) {
    if (kinds[k] != kSparse) continue;
    Tensor& p = parameters_[k];
    auto merged = std::make_shared<RowSparseGrad>();
    merged->dense_shape = p.shape();
    const int64_t width = merged->row_size();
    std::vector<int64_t> local_rows;
    const float* local_values = nullptr;
    if (p.has_sparse_grad()) {
      p.sparse_grad().coalesce();  // each rank sends every touched row once
      local_rows = p.sparse_grad().rows;
      local_values = p.sparse_grad().values.data();
    }
    const int ranks = env.world_size();
    int mine = int_count(static_cast<int64_t>(local_rows.size()));
    std::vector<int> counts(static_cast<size_t>(ranks)), displs(static_cast<size_t>(ranks));
    detail::check(
        MPI_Iallgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, MPI_COMM_WORLD, &request),
        "MPI_Iallgather");
    detail::wait(request, "DataParallel::synchronize (sparse row counts)");
    int64_t total = 0;
    for (int r = 0; r < ranks; ++r) {
      displs[static_cast<size_t>(r)] = int_count(total);
      total += counts[static_cast<size_t>(r)];
    }
    merged->rows.resize(static_cast<size_t>(total));
    detail::check(
        MPI_Iallgatherv(local_rows.data(), mine, MPI_INT64_T, merged->rows.data(), counts.data(),
                        displs.data(), MPI_INT64_T, MPI_COMM_WORLD, &request),
        "MPI_Iallgatherv");
    detail::wait(request, "DataParallel::synchronize (sparse rows)");
    // Values: the same layout, each row `width` floats.
    for (int r = 0; r < ranks; ++r) {
      counts[static_cast<size_t>(r)] =
          int_count(static_cast<int64_t>(counts[static_cast<size_t>(r)]) * width);
      displs[static_cast<size_t>(r)] =
          int_count(static_cast<int64_t>(displs[static_cast<size_t>(r)]) * width);
    }
    std::vector<size_t> shape{static_cast<size_t>(total)};
    for (size_t d = 1; d < merged->dense_shape.size(); ++d)
      shape.push_back(static_cast<size_t>(merged->dense_shape[d]));
    merged->values = Array::from_shape(shape);
    detail::check(
        MPI_Iallgatherv(local_values, int_count(mine * width), MPI_FLOAT, merged->values.data(),
                        counts.data(), displs.data(), MPI_FLOAT, MPI_COMM_WORLD, &request),
        "MPI_Iallgatherv");
    detail::wait(request, "DataParallel::synchronize (sparse values)");
    stats_.allgather_calls += 3;
    stats_.sparse_bytes += static_cast<int64_t>(mine) * (8 + 4 * width);
    stats_.sparse_bytes_received += total * (8 + 4 * width);
    // Every rank now holds the same rows in rank order; the stable sort in coalesce() sums
    // duplicates in that order, so the bits agree everywhere.
    merged->coalesce();
    merged->values *= scale;
    if (p.has_sparse_grad()) {
      p.sparse_grad() = std::move(*merged);
    } else {
      install_sparse_grad(p, std::move(merged));  // needs grad mode: outside any NoGradGuard
    }
  }
  stats_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace ember::distributed

// Collectives on tensors: non-blocking MPI calls waited on with the Environment's timeout.
#include <mpi.h>

#include <cstring>
#include <limits>
#include <memory>

#include "ember/autograd.hpp"
#include "ember/distributed/environment.hpp"
#include "mpi_call.hpp"

namespace ember::distributed {

namespace {
int count_of(int64_t n, const char* op) {
  EMBER_CHECK_VALUE(n <= std::numeric_limits<int>::max(), op, ": ", n,
                    " elements exceed MPI's int count");
  return static_cast<int>(n);
}
}  // namespace

void barrier() {
  Environment::current();
  MPI_Request request;
  detail::check(MPI_Ibarrier(MPI_COMM_WORLD, &request), "MPI_Ibarrier");
  detail::wait(request, "barrier");
}

void broadcast(Tensor& t, int root) {
  const Environment& env = Environment::current();
  EMBER_CHECK_INDEX(root >= 0 && root < env.world_size(), "broadcast: root ", root,
                    " is not a rank of ", env.world_size());
  NoGradGuard no_grad;
  dispatch_floating(t, "broadcast", [&](auto real) {
    using T = decltype(real);
    ValuesForWriteOf<T> values(t);  // through the layout: a parameter may be a view
    MPI_Request request;
    detail::check(MPI_Ibcast(values.data(), count_of(t.numel(), "broadcast"), detail::mpi_type<T>(),
                             root, MPI_COMM_WORLD, &request),
                  "MPI_Ibcast");
    detail::wait(request, "broadcast");
  });
}

void all_reduce(Tensor& t, ReduceOp op) {
  const Environment& env = Environment::current();
  NoGradGuard no_grad;
  dispatch_floating(t, "all_reduce", [&](auto real) {
    using T = decltype(real);
    ValuesForWriteOf<T> values(t);  // through the layout: a parameter may be a view
    MPI_Request request;
    detail::check(MPI_Iallreduce(MPI_IN_PLACE, values.data(), count_of(t.numel(), "all_reduce"),
                                 detail::mpi_type<T>(), op == ReduceOp::Max ? MPI_MAX : MPI_SUM,
                                 MPI_COMM_WORLD, &request),
                  "MPI_Iallreduce");
    detail::wait(request, "all_reduce");
    if (op == ReduceOp::Mean)
      for (T& v : values) v *= T(1) / static_cast<T>(env.world_size());
  });
}

double all_reduce(double value, ReduceOp op) {
  const Environment& env = Environment::current();
  MPI_Request request;
  detail::check(MPI_Iallreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE,
                               op == ReduceOp::Max ? MPI_MAX : MPI_SUM, MPI_COMM_WORLD, &request),
                "MPI_Iallreduce");
  detail::wait(request, "all_reduce");
  return op == ReduceOp::Mean ? value / env.world_size() : value;
}

// Any dtype, as torch.distributed.all_gather: the elements travel as their bytes, so every
// value (float32, float64, bfloat16, bool) arrives exact.
std::vector<Tensor> all_gather(const Tensor& t) {
  const Environment& env = Environment::current();
  const size_t ranks = static_cast<size_t>(env.world_size());
  // Shapes and dtypes first: a mismatch is an error every rank reports, not a garbled buffer.
  const Shape shape = t.shape();
  int64_t mine[3] = {static_cast<int64_t>(shape.size()), t.numel(),
                     static_cast<int64_t>(t.dtype())};
  std::vector<int64_t> all(3 * ranks);
  MPI_Request request;
  detail::check(
      MPI_Iallgather(mine, 3, MPI_INT64_T, all.data(), 3, MPI_INT64_T, MPI_COMM_WORLD, &request),
      "MPI_Iallgather");
  detail::wait(request, "all_gather");
  for (size_t r = 0; r < ranks; ++r) {
    EMBER_CHECK_SHAPE(all[3 * r] == mine[0] && all[3 * r + 1] == mine[1], "all_gather: rank ", r,
                      " has a tensor of ", all[3 * r + 1], " values in ", all[3 * r],
                      " dims, rank ", env.rank(), " one of ", mine[1], " values in ", mine[0],
                      " dims");
    EMBER_CHECK_DTYPE(all[3 * r + 2] == mine[2], "all_gather: rank ", r, " has a ",
                      dtype_name(static_cast<Dtype>(all[3 * r + 2])), " tensor, rank ", env.rank(),
                      " a ", dtype_name(t.dtype()), " one");
  }
  const int64_t bytes = t.numel() * static_cast<int64_t>(element_size(t.dtype()));
  const int n = count_of(bytes, "all_gather (bytes)");
  const Tensor local = t.contiguous();
  const char* values = static_cast<const char*>(local.impl()->storage->bytes()) +
                       local.storage_offset() * static_cast<int64_t>(element_size(t.dtype()));
  std::vector<char> gathered(static_cast<size_t>(n) * ranks);
  detail::check(
      MPI_Iallgather(values, n, MPI_BYTE, gathered.data(), n, MPI_BYTE, MPI_COMM_WORLD, &request),
      "MPI_Iallgather");
  detail::wait(request, "all_gather");
  std::vector<Tensor> out;
  for (size_t r = 0; r < ranks; ++r) {
    auto storage = std::make_shared<Storage>(t.numel(), t.dtype());
    std::memcpy(storage->bytes(), gathered.data() + r * static_cast<size_t>(n),
                static_cast<size_t>(n));
    out.emplace_back(std::move(storage), shape);
  }
  return out;
}

}  // namespace ember::distributed

// Collectives on tensors: non-blocking MPI calls waited on with the Environment's timeout.
#include <mpi.h>

#include <limits>

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

std::vector<Tensor> all_gather(const Tensor& t) {
  const Environment& env = Environment::current();
  const size_t ranks = static_cast<size_t>(env.world_size());
  // Shapes first: a mismatch is an error every rank reports, not a garbled buffer.
  Shape shape = t.shape();
  int64_t dims[2] = {static_cast<int64_t>(shape.size()), t.numel()};
  std::vector<int64_t> all_dims(2 * ranks);
  MPI_Request request;
  detail::check(MPI_Iallgather(dims, 2, MPI_INT64_T, all_dims.data(), 2, MPI_INT64_T,
                               MPI_COMM_WORLD, &request),
                "MPI_Iallgather");
  detail::wait(request, "all_gather");
  for (size_t r = 0; r < ranks; ++r) {
    EMBER_CHECK_SHAPE(all_dims[2 * r] == dims[0] && all_dims[2 * r + 1] == dims[1],
                      "all_gather: rank ", r, " has a tensor of ", all_dims[2 * r + 1],
                      " values in ", all_dims[2 * r], " dims, rank ", env.rank(), " one of ",
                      dims[1], " values in ", dims[0], " dims");
  }
  const int n = count_of(t.numel(), "all_gather");
  std::vector<float> gathered(static_cast<size_t>(n) * ranks);
  const Array& values = t.data();
  detail::check(MPI_Iallgather(values.data(), n, MPI_FLOAT, gathered.data(), n, MPI_FLOAT,
                               MPI_COMM_WORLD, &request),
                "MPI_Iallgather");
  detail::wait(request, "all_gather");
  std::vector<Tensor> out;
  for (size_t r = 0; r < ranks; ++r) {
    out.push_back(tensor(std::vector<float>(gathered.begin() + static_cast<long>(r * n),
                                            gathered.begin() + static_cast<long>((r + 1) * n)),
                         shape));
  }
  return out;
}

}  // namespace ember::distributed

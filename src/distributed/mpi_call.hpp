// Private: MPI return codes as ember::Error, and waiting on a request with the Environment's
// timeout (a blocking MPI call would wait forever for a rank that died).
#pragma once

#include <mpi.h>

#include <memory>
#include <string>
#include <type_traits>

#include "ember/autograd.hpp"

namespace ember::distributed::detail {

// Throws "ember::distributed: <call> failed on rank r of n: <MPI's error string>".
void check(int rc, const char* call);
// Polls `request` until it completes; after Environment::timeout() seconds throws an Error
// saying which call waited and that another rank has probably died.
void wait(MPI_Request& request, const char* call);
// The MPI datatype of a tensor's elements: a float64 tensor travels as doubles.
template <class T>
MPI_Datatype mpi_type() {
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}
// Sets a row-sparse gradient on a parameter that has none.
void install_sparse_grad(const Tensor& param, std::shared_ptr<RowSparseGrad> grad);

}  // namespace ember::distributed::detail

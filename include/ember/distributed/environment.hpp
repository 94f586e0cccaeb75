// ember::distributed: the MPI process group (Environment) and collectives on tensors.
//
// Built on Open MPI when CMake finds it (EMBER_WITH_MPI, on by default). Without MPI this
// header still compiles and is_available() is false; everything else throws an ember::Error
// saying that Ember was built without MPI. No MPI type appears here, so a user needs no
// mpi.h to include it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ember/options.hpp"
#include "ember/tensor.hpp"

namespace ember::distributed {

// True when this build of Ember has MPI.
bool is_available();

// MPI_THREAD_* levels. Ember calls MPI from one thread (the one that called synchronize), so
// Funneled is enough unless the program calls collectives from several threads.
enum class ThreadLevel { Single, Funneled, Serialized, Multiple };

struct EnvironmentOptions {
  EMBER_ARG(ThreadLevel, thread_level) = ThreadLevel::Funneled;
  // Seconds a collective waits for the other ranks before throwing (a rank died or threw).
  EMBER_ARG(double, timeout) = 300.0;
  // Seconds a waiting rank calls MPI_Test without pause before it sleeps between bursts of
  // tests (freeing its core for the other rank or for the kernel's network work).
  EMBER_ARG(double, spin_seconds) = 1e-3;
  // Print "rank r of n stopped by signal ..." when mpirun terminates this rank because
  // another one failed (Open MPI sends SIGTERM to the survivors).
  EMBER_ARG(bool, report_termination) = true;
};

// One per process: MPI_Init_thread at construction (checking the provided thread level),
// MPI_Finalize at destruction. MPI errors on the world communicator return (MPI_ERRORS_RETURN)
// and are thrown as ember::Error naming the call. If an exception escapes while the
// Environment is alive, its destructor calls MPI_Abort so that no other rank waits forever.
class Environment {
 public:
  explicit Environment(EnvironmentOptions options = EnvironmentOptions());
  Environment(int argc, char** argv, EnvironmentOptions options = EnvironmentOptions());
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  int rank() const { return rank_; }
  int world_size() const { return world_size_; }
  double timeout() const { return options_.timeout(); }
  double spin_seconds() const { return options_.spin_seconds(); }
  void set_timeout(double seconds);
  // Prints "ember: rank r of n stops: <message>" to stderr and stops every rank (MPI_Abort).
  [[noreturn]] void abort(const std::string& message, int exit_code = 1) const;

  // The live Environment; throws when there is none.
  static Environment& current();
  static bool exists();

 private:
  void init(int* argc, char*** argv);
  EnvironmentOptions options_;
  int rank_ = 0, world_size_ = 1;
};

enum class ReduceOp { Sum, Mean, Max };

// Collectives on the world communicator. Every rank must call them in the same order with
// tensors of the same shape; they never record autograd history. broadcast and all_reduce
// carry a float32 or float64 tensor in its dtype; all_gather any dtype (its bytes, exact).
void barrier();
// Overwrites `t` with rank `root`'s values.
void broadcast(Tensor& t, int root = 0);
// In place: the element-wise sum / mean / max over the ranks.
void all_reduce(Tensor& t, ReduceOp op = ReduceOp::Sum);
double all_reduce(double value, ReduceOp op = ReduceOp::Sum);
// Every rank's `t`, in rank order, of t's dtype (shapes and dtypes must match across ranks).
std::vector<Tensor> all_gather(const Tensor& t);

}  // namespace ember::distributed

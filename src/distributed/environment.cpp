// Environment: MPI initialisation with a checked thread level, errors returned instead of
// aborting, a bounded wait on every request, and a clear word when a rank is stopped.
#include "ember/distributed/environment.hpp"

#include <mpi.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <thread>

#include "mpi_call.hpp"

namespace ember::distributed {

namespace {
Environment* live = nullptr;
// How a rank waits for a non-blocking collective. A large message moves only while MPI_Test
// drives it (one fragment per call), so the rank tests without pause for a while
// (EnvironmentOptions::spin_seconds), then sleeps between bursts of tests; sleeping (rather
// than sched_yield, which barely yields under CFS) gives the core to whatever the rank waits
// for: the other rank on a machine with more ranks than cores, or the kernel's network work
// (ksoftirqd) on the rank's own core over TCP. Testing once per sleep made the classifier's
// 5 MB dense all-reduce take 60 ms instead of 2; spinning 20 ms before the bursts made a
// 0.5 MB row exchange over TCP take 22-35 ms instead of 1.6 (the data moved only once the
// spinning rank let ksoftirqd run).
constexpr int kTestsPerBurst = 128;
char termination_message[160];

// Async-signal-safe: write() and _exit() only; the text is formatted at start-up.
extern "C" void on_termination(int signal) {
  ssize_t written = write(STDERR_FILENO, termination_message, std::strlen(termination_message));
  (void)written;
  _exit(128 + signal);
}

int mpi_level(ThreadLevel level) {
  switch (level) {
    case ThreadLevel::Single:
      return MPI_THREAD_SINGLE;
    case ThreadLevel::Funneled:
      return MPI_THREAD_FUNNELED;
    case ThreadLevel::Serialized:
      return MPI_THREAD_SERIALIZED;
    case ThreadLevel::Multiple:
      return MPI_THREAD_MULTIPLE;
  }
  return MPI_THREAD_MULTIPLE;
}
}  // namespace

bool is_available() { return true; }

namespace detail {
void check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(rc, text, &length);
  const int rank = live ? live->rank() : -1, size = live ? live->world_size() : 0;
  EMBER_CHECK(false, "ember::distributed: ", call, " failed on rank ", rank, " of ", size, ": ",
              std::string(text, static_cast<size_t>(length)));
}

void wait(MPI_Request& request, const char* call) {
  const Environment& env = Environment::current();
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(env.timeout()));
  const auto spin_end = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(env.spin_seconds()));
  for (;;) {
    for (int t = 0; t < kTestsPerBurst; ++t) {
      int done = 0;
      check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), call);
      if (done) return;
    }
    const auto now = Clock::now();
    if (now > deadline) {
      EMBER_CHECK(false, "ember::distributed: ", call, " on rank ", env.rank(), " of ",
                  env.world_size(), " got no answer from the other ranks within ", env.timeout(),
                  " s: a rank has died, thrown or is stuck; stopping");
    }
    if (now > spin_end) std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}
}  // namespace detail

Environment::Environment(EnvironmentOptions options) : options_(options) { init(nullptr, nullptr); }

Environment::Environment(int argc, char** argv, EnvironmentOptions options) : options_(options) {
  init(&argc, &argv);
}

void Environment::init(int* argc, char*** argv) {
  EMBER_CHECK(live == nullptr, "distributed::Environment: one already exists in this process");
  EMBER_CHECK_VALUE(options_.timeout() > 0,
                    "distributed::Environment: timeout must be positive, got ", options_.timeout());
  EMBER_CHECK_VALUE(options_.spin_seconds() >= 0,
                    "distributed::Environment: spin_seconds must not be negative, got ",
                    options_.spin_seconds());
  int initialized = 0;
  MPI_Initialized(&initialized);
  EMBER_CHECK(!initialized, "distributed::Environment: MPI is already initialised");
  int provided = 0;
  int rc = MPI_Init_thread(argc, argv, mpi_level(options_.thread_level()), &provided);
  EMBER_CHECK(rc == MPI_SUCCESS, "distributed::Environment: MPI_Init_thread failed (code ", rc,
              ")");
  if (provided < mpi_level(options_.thread_level())) {
    MPI_Finalize();
    EMBER_CHECK(false, "distributed::Environment: MPI provides thread level ", provided, " but ",
                mpi_level(options_.thread_level()), " was requested");
  }
  // Errors come back as codes we turn into exceptions, instead of killing the job silently.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &world_size_);
  live = this;
  if (options_.report_termination()) {
    std::snprintf(termination_message, sizeof termination_message,
                  "ember: rank %d of %d was stopped (SIGTERM): another rank failed or the job "
                  "was cancelled\n",
                  rank_, world_size_);
    std::signal(SIGTERM, on_termination);
  }
}

Environment::~Environment() {
  if (std::uncaught_exceptions() > 0)
    abort("an exception left the scope of distributed::Environment");
  if (options_.report_termination()) std::signal(SIGTERM, SIG_DFL);
  live = nullptr;
  MPI_Finalize();
}

void Environment::set_timeout(double seconds) {
  EMBER_CHECK_VALUE(seconds > 0, "distributed::Environment: timeout must be positive, got ",
                    seconds);
  options_.timeout(seconds);
}

void Environment::abort(const std::string& message, int exit_code) const {
  std::cerr << "ember: rank " << rank_ << " of " << world_size_ << " stops: " << message
            << std::endl;
  MPI_Abort(MPI_COMM_WORLD, exit_code);
  std::_Exit(exit_code);  // MPI_Abort does not return; this is in case it does
}

Environment& Environment::current() {
  EMBER_CHECK(live != nullptr,
              "ember::distributed: no distributed::Environment exists; construct one first "
              "(at the top of main)");
  return *live;
}

bool Environment::exists() { return live != nullptr; }

}  // namespace ember::distributed

// The fault test's worker: trains dist_test::Net data-parallel, checkpointing every few
// steps; one rank can be made to die (SIGKILL), throw, or cut its host's link at a given step. Also
// compares two parameter files (--compare), so the test script needs nothing else.
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>

#include "models.hpp"

using namespace ember;
namespace dist = ember::distributed;

namespace {
int compare(const std::string& a, const std::string& b, double rtol) {
  StateDict x = io::load(a), y = io::load(b);
  double worst = 0;  // max |x - y| / max |y| per tensor, as the distributed suite
  for (auto& [name, t] : y) {
    std::vector<float> u = x.at(name).to_vector(), v = t.to_vector();
    double diff = 0, scale = 0;
    for (size_t i = 0; i < u.size(); ++i) {
      diff = std::max(diff, std::abs(double(u[i]) - v[i]));
      scale = std::max(scale, std::abs(double(v[i])));
    }
    worst = std::max(worst, diff / scale);
  }
  std::cout << "max relative difference " << worst << "\n";
  return worst <= rtol ? 0 : 1;
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> arg;
  for (int i = 1; i + 1 < argc; i += 2) arg[argv[i]] = argv[i + 1];
  auto get = [&](const std::string& k, const std::string& fallback) {
    return arg.count(k) ? arg[k] : fallback;
  };
  if (arg.count("--compare"))
    return compare(arg["--compare"], get("--with", ""), std::stod(get("--rtol", "1e-5")));

  dist::Environment env(argc, argv,
                        dist::EnvironmentOptions().timeout(std::stod(get("--timeout", "30"))));
  set_num_threads(1);
  try {
    const int64_t steps = std::stoll(get("--steps", "20")),
                  global = std::stoll(get("--global", "8"));
    const int64_t every = std::stoll(get("--every", "5"));
    const int kill_rank = std::stoi(get("--kill-rank", "-1")),
              throw_rank = std::stoi(get("--throw-rank", "-1")),
              cut_rank = std::stoi(get("--cut-link-rank", "-1"));
    const int64_t fail_step = std::stoll(get("--fail-step", "-1"));
    const std::string checkpoint = get("--checkpoint", "");
    EMBER_CHECK_VALUE(global % env.world_size() == 0, "worker: --global ", global,
                      " is not a multiple of ", env.world_size(), " ranks");
    const int64_t local = global / env.world_size();

    manual_seed(5);
    dist_test::Net net(get("--sparse", "1") == "1");
    auto opt = dist_test::make_optimizer(get("--optimizer", "adam"), net);
    int64_t start = 0;
    if (arg.count("--resume")) {
      dist::Checkpoint c = dist::load_checkpoint(arg["--resume"]);
      net.load_state_dict(c.model);
      opt->load_state_dict(c.optimizer);
      start = c.step;
      if (env.rank() == 0) std::cout << "resuming at step " << start << "\n";
    }
    dist::DataParallel dp(net.parameters());
    for (int64_t step = start; step < steps; ++step) {
      if (step == fail_step && env.rank() == kill_rank) std::raise(SIGKILL);
      if (step == fail_step && env.rank() == cut_rank) {
        // On simulated hosts (scripts/netns_hosts.sh): this rank's host loses its link.
        const char* cut = std::getenv("EMBER_NETNS_CUT_LINK");
        // Back after 15 s, so that mpirun can reach the host's daemon to end the job; the ranks
        // have given up at their timeout before that.
        EMBER_CHECK(cut != nullptr && std::system((std::string(cut) + " 15").c_str()) == 0,
                    "worker: --cut-link-rank needs scripts/netns_hosts.sh's EMBER_NETNS_CUT_LINK");
      }
      EMBER_CHECK(!(step == fail_step && env.rank() == throw_rank), "worker: rank ", env.rank(),
                  " throws at step ", step);
      dist_test::train_step(net, *opt, &dp, step, env.rank() * local, local);
      if (!checkpoint.empty() && (step + 1) % every == 0)
        dist::save_checkpoint(checkpoint, net.state_dict(), opt->state_dict(), step + 1);
    }
    if (env.rank() == 0 && arg.count("--out")) io::save(net.state_dict(), arg["--out"]);
  } catch (const std::exception& e) {
    env.abort(e.what());
  }
  return 0;
}

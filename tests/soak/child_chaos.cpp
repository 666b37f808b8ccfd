#include <signal.h>
#include <sys/wait.h>

#include <random>
#include <vector>

#include "child_clients.hpp"
#include "processes.hpp"

namespace plexus::soak {
namespace {

using Clock = std::chrono::steady_clock;

constexpr const char* kModes[] = {"caller", "subscriber", "streamer", "publisher"};

struct Slot {
  pid_t pid = -1;
  std::string mode;
  Clock::time_point kill_at;
  Clock::time_point start_at;
};

template <typename Duration>
Duration draw(std::mt19937_64& rng, Duration low, Duration high) {
  return low +
         Duration(static_cast<typename Duration::rep>(rng() % (high - low + Duration(1)).count()));
}

}  // namespace

void run_child_chaos(const LoadContext& load, const ChildPlan& plan,
                     const std::string& executable) {
  std::mt19937_64 rng(load.seed * 5000);
  std::vector<Slot> slots(static_cast<std::size_t>(plan.max_alive));
  int started = 0;
  const auto describe = [](const Slot& s) {
    return "client process " + std::to_string(s.pid) + " (" + s.mode + ")";
  };
  while (!load.tally.stopping()) {
    const auto now = Clock::now();
    for (auto& slot : slots) {
      if (slot.pid > 0) {
        if (auto status = wait_for_exit(slot.pid, std::chrono::milliseconds(0))) {
          load.tally.unexpected(describe(slot) +
                                " ended by itself: " + describe_wait_status(*status));
          slot.pid = -1;
        } else if (now >= slot.kill_at) {
          const int status = kill_and_reap(slot.pid);
          if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            // It ended by itself just before the kill.
            load.tally.unexpected(describe(slot) +
                                  " ended by itself: " + describe_wait_status(status));
          } else {
            load.tally.children_killed.fetch_add(1);
          }
          slot.pid = -1;
          slot.start_at = now + draw(rng, std::chrono::milliseconds(0), plan.max_respawn_delay);
        }
      } else if (started < plan.max_total && now >= slot.start_at) {
        slot.mode = kModes[rng() % std::size(kModes)];
        slot.pid =
            spawn_process({executable, "--child", slot.mode, "--address", load.address, "--seed",
                           std::to_string(load.seed), "--child-index", std::to_string(started)});
        if (slot.pid <= 0) {
          load.tally.unexpected("fork failed");
          break;
        }
        ++started;
        load.tally.children_started.fetch_add(1);
        slot.kill_at = now + draw(rng, plan.min_life, plan.max_life);
      }
    }
    load.tally.pause(std::chrono::milliseconds(20));
  }
  for (auto& slot : slots) {
    if (slot.pid > 0) kill_and_reap(slot.pid);  // mid-life: the stop is no failure of its own
  }
}

}  // namespace plexus::soak

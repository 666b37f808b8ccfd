// plexus_soak: `make soak` (tests/soak/soak_run.cpp), or one of its client processes.
#include "child_clients.hpp"
#include "soak_options.hpp"
#include "soak_run.hpp"

int main(int argc, char** argv) {
  auto parsed = plexus::soak::parse_options(argc, argv);
  if (parsed.exit_now) return *parsed.exit_now;
  const auto& o = parsed.options;
  if (!o.child_mode.empty()) {
    return plexus::soak::run_child(o.child_mode, o.address, o.seed, o.child_index);
  }
  return plexus::soak::run_soak(o);
}

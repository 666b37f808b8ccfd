// Private temporary directory for socket files. Removed on scope exit and,
// via an async-signal-safe handler, on SIGINT/SIGTERM, so an interrupted
// run leaves no socket files behind.
#pragma once

#include <string>

namespace plexus_bench {

class ScratchDir {
 public:
  ScratchDir();  // creates /tmp/plexus-bench-XXXXXX; installs signal cleanup
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace plexus_bench

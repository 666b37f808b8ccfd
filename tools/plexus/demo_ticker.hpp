// The demo ticker `plexus serve --demo` runs: publishes {"tick":n,"unix_ms":t} on topic
// "demo.ticker" every period, from the runtime's I/O thread.
// Ownership: owned by the caller; the Server and Runtime must outlive it.
// Threading: construct and destroy from a non-I/O thread; the destructor waits for the timer.
#pragma once

#include <memory>

#include "plexus/runtime.hpp"
#include "plexus/server.hpp"

namespace plexus::cli {

inline constexpr const char* kTickerTopic = "demo.ticker";

class DemoTicker {
 public:
  DemoTicker(Runtime& runtime, Server& server, Millis period = Millis{1000});
  ~DemoTicker();
  DemoTicker(const DemoTicker&) = delete;
  DemoTicker& operator=(const DemoTicker&) = delete;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace plexus::cli

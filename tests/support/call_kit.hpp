// Pieces of call tests that several files share: a gate a blocking handler waits on, and
// blocking calls from several threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plexus/plexus.hpp"
#include "test_kit.hpp"

namespace plexus::test {

// What a blocking handler waits on: the test opens it, or the call's cancel does.
class Gate {
 public:
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  // True when opened, false when `ctx` was cancelled first (it hooks the cancel to wake up) or
  // `limit` passed.
  bool wait(CallContext& ctx, std::chrono::milliseconds limit = std::chrono::milliseconds{10000}) {
    ctx.on_cancel([this] {
      std::lock_guard lock(mu_);
      cv_.notify_all();
    });
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, limit, [&] { return open_ || ctx.cancelled(); });
    return open_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A handler for "wait" calls: it tells `entered` that it runs (after `on_entry`, if any), waits
// on `gate`, tells `saw_cancel` whether its call was cancelled, and answers "released:<payload>",
// or cancelled when the gate did not open. Register it with offload: it blocks.
inline SyncHandler gated_handler(Gate& gate, Event<bool>& entered, Event<bool>& saw_cancel,
                                 std::function<void()> on_entry = {}) {
  return [&gate, &entered, &saw_cancel, on_entry = std::move(on_entry)](
             CallContext& ctx, std::string_view p) -> Result<std::string> {
    if (on_entry) on_entry();
    entered.set(true);
    const bool opened = gate.wait(ctx);
    saw_cancel.set(ctx.cancelled());
    if (!opened) return make_error(StatusCode::cancelled, "gave up");
    return "released:" + std::string(p);
  };
}

// `threads` threads each make `calls` blocking "echo" calls with payloads of their own, all at
// once; returns how many failed or came back with another payload.
inline int wrong_echoes_from_threads(Caller& caller, int threads, int calls) {
  std::atomic<int> wrong{0};
  std::vector<std::thread> running;
  for (int t = 0; t < threads; ++t) {
    running.emplace_back([&, t] {
      for (int i = 0; i < calls; ++i) {
        const std::string payload = std::to_string(t) + ":" + std::to_string(i);
        auto r = caller.call("echo", payload);
        if (!r || *r != payload) ++wrong;
      }
    });
  }
  for (auto& thread : running) thread.join();
  return wrong.load();
}

}  // namespace plexus::test

// De-duplication: identical in-flight requests run the handler once (include/plexus/coalesce.hpp).
#include <exception>
#include <unordered_map>

#include <asio/co_spawn.hpp>

#include "plexus/coalesce.hpp"

namespace plexus {

CoalesceStats CoalesceCounters::snapshot() const {
  CoalesceStats s;
  s.calls = calls.load(std::memory_order_relaxed);
  s.handler_runs = handler_runs.load(std::memory_order_relaxed);
  s.deduplicated = deduplicated.load(std::memory_order_relaxed);
  s.batches = batches.load(std::memory_order_relaxed);
  s.batched_calls = batched_calls.load(std::memory_order_relaxed);
  return s;
}

namespace {

// The runs in flight, by payload; each holds the responders of every caller that joined it.
struct InFlight {
  std::mutex mu;
  std::unordered_map<std::string, std::vector<Responder>> runs;  // guarded by mu
};

}  // namespace

AsyncHandler deduplicate(CoroHandler handler, std::shared_ptr<CoalesceCounters> counters) {
  if (!counters) counters = std::make_shared<CoalesceCounters>();
  auto state = std::make_shared<InFlight>();
  auto fn = std::make_shared<CoroHandler>(std::move(handler));
  return [state, fn, counters](CallContext& ctx, std::string_view payload, Responder responder) {
    counters->calls.fetch_add(1, std::memory_order_relaxed);
    std::string key(payload);
    {
      std::lock_guard lock(state->mu);
      if (auto it = state->runs.find(key); it != state->runs.end()) {
        it->second.push_back(std::move(responder));
        counters->deduplicated.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      state->runs[key].push_back(std::move(responder));
    }
    counters->handler_runs.fetch_add(1, std::memory_order_relaxed);
    // The run answers everyone who joined it by the time it finishes; the key is released
    // under the same lock, so a later request starts a new run.
    auto answer_all = [state, key](Result<std::string> result) {
      std::vector<Responder> joined;
      {
        std::lock_guard lock(state->mu);
        auto it = state->runs.find(key);
        if (it == state->runs.end()) return;
        joined = std::move(it->second);
        state->runs.erase(it);
      }
      for (auto& r : joined) r.reply(result);
    };
    asio::co_spawn(ctx.io_executor(), (*fn)(ctx, key),
                   [answer_all](std::exception_ptr ep, Result<std::string> r) {
                     if (ep) {
                       try {
                         std::rethrow_exception(ep);
                       } catch (const std::exception& e) {
                         r = make_error(StatusCode::internal,
                                        std::string("handler threw: ") + e.what());
                       } catch (...) {
                         r = make_error(StatusCode::internal, "handler threw");
                       }
                     }
                     answer_all(std::move(r));
                   });
  };
}

}  // namespace plexus

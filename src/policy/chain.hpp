// A handler's policy chain, built once from its HandlerOptions at registration. The order of
// the policies is declared in one place, chain.cpp (kAdmission and Chain::run), and described
// in docs/ARCHITECTURE.md §Policies. Each policy is its own class in this folder and usable
// alone; the chain only sequences them and turns their decisions into answers.
// Thread-safe: run() may be called from several sessions' executors at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "plexus/policy.hpp"
#include "policy/breaker.hpp"
#include "policy/cache.hpp"
#include "policy/concurrency.hpp"
#include "policy/rate_limit.hpp"
#include "policy/stats.hpp"
#include "policy/validate.hpp"
#include "rpc/handler_table.hpp"

namespace plexus::policy {

using AnyHandler = std::variant<SyncHandler, AsyncHandler, CoroHandler>;

class Chain final : public rpc::CallInterceptor, public std::enable_shared_from_this<Chain> {
 public:
  // Fails with invalid_argument when the schema is unusable.
  static Result<std::shared_ptr<Chain>> create(std::string method, HandlerOptions options,
                                               AnyHandler handler);

  std::optional<Millis> timeout() const override { return options_.timeout; }
  void on_timeout() override { bump(counters_.timeouts); }
  void run(CallContext& ctx, std::string_view payload, Done done) override;

  const std::string& method() const { return method_; }
  const HandlerOptions& options() const { return options_; }
  PolicyStats stats() const { return counters_.snapshot(); }
  // Null when the handler has no cache / no breaker.
  ResponseCache* cache() { return cache_.get(); }
  const ResponseCache* cache() const { return cache_.get(); }
  const CircuitBreaker* breaker() const { return breaker_.get(); }
  // Runs CacheOptions::warm_up, if any; returns how many entries it stored.
  std::size_t warm_up();
  // The cache key for `payload` (CacheOptions::key); `doc` receives the parsed JSON if parsed.
  std::string cache_key(std::string_view payload, std::optional<nlohmann::json>* doc) const;

  // What one call carries from one step to the next.
  struct CallState {
    std::optional<nlohmann::json> doc;  // the parsed payload, parsed at most once
    std::string key;                    // the cache key, when the handler caches
    std::string alias;                  // the raw request, when it differs from the key
    bool breaker_admitted = false;
  };

 private:
  Chain(std::string method, HandlerOptions options, AnyHandler handler);

  // Admission steps: each lets the call go on (nullopt) or answers it. kAdmission orders them.
  std::optional<rpc::Answer> rate_limit(CallContext& ctx, std::string_view payload, CallState& st);
  std::optional<rpc::Answer> cache_lookup(CallContext& ctx, std::string_view payload,
                                          CallState& st);
  std::optional<rpc::Answer> validate(CallContext& ctx, std::string_view payload, CallState& st);
  // After admission (in run): a concurrency slot, maybe after waiting; then the breaker and
  // the handler (invoke); the answer goes back through finish.
  void invoke(CallContext& ctx, std::string_view payload, CallState st, Done done);
  void finish(Result<std::string> result, CallState st, std::chrono::nanoseconds handler_time,
              const Done& done);
  void release_slot();

  std::string method_;
  HandlerOptions options_;
  AnyHandler handler_;
  PolicyCounters counters_;
  std::shared_ptr<const SchemaValidator> validator_;
  std::unique_ptr<RateLimiter> rate_limiter_;
  std::unique_ptr<ResponseCache> cache_;
  std::unique_ptr<CircuitBreaker> breaker_;
  std::unique_ptr<ConcurrencyLimiter> concurrency_;

  using Step = std::optional<rpc::Answer> (Chain::*)(CallContext&, std::string_view, CallState&);
  static const Step kAdmission[3];
};

}  // namespace plexus::policy

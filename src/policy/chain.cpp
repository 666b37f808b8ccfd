#include "policy/chain.hpp"

#include <exception>

#include <asio/post.hpp>

#include "rpc/handler_runner.hpp"
#include "rpc/session.hpp"

namespace plexus::policy {

// THE ORDER OF THE POLICIES (docs/ARCHITECTURE.md §Policies):
//   1. rate limit   - cheapest refusal first; a flood costs one bucket check per call
//   2. cache        - a hit answers here: no validation, no slot, no breaker, no handler
//                     (only valid requests are ever stored, so a hit needs no validation)
//   3. validation   - schema; the JSON parsed for the cache key is reused
//   4. concurrency  - a slot, or a place in the bounded wait queue          (Chain::run)
//   5. breaker      - checked when the call is about to run, after any wait (Chain::invoke)
//   6. timeout      - the session arms the shorter of the caller's deadline and the
//                     handler's limit when the call arrives (covers waiting and running)
//   7. the handler; its answer goes back through the breaker (outcome), the cache (store)
//      and the concurrency limit (release), in Chain::finish.
const Chain::Step Chain::kAdmission[3] = {&Chain::rate_limit, &Chain::cache_lookup,
                                          &Chain::validate};

Result<std::shared_ptr<Chain>> Chain::create(std::string method, HandlerOptions options,
                                             AnyHandler handler) {
  std::shared_ptr<Chain> chain(
      new Chain(std::move(method), std::move(options), std::move(handler)));
  if (chain->options_.schema) {
    auto v = SchemaValidator::create(*chain->options_.schema);
    if (!v) return tl::unexpected(v.error());
    chain->validator_ = std::move(*v);
  }
  return chain;
}

Chain::Chain(std::string method, HandlerOptions options, AnyHandler handler)
    : method_(std::move(method)), options_(std::move(options)), handler_(std::move(handler)) {
  if (!options_.clock) options_.clock = Clock::steady();
  if (options_.rate_limit) {
    rate_limiter_ = std::make_unique<RateLimiter>(*options_.rate_limit, options_.clock, counters_);
  }
  if (options_.cache) {
    cache_ = std::make_unique<ResponseCache>(*options_.cache, options_.clock, counters_);
  }
  if (options_.breaker) {
    breaker_ =
        std::make_unique<CircuitBreaker>(method_, *options_.breaker, options_.clock, counters_);
  }
  if (options_.concurrency) {
    concurrency_ = std::make_unique<ConcurrencyLimiter>(*options_.concurrency, counters_);
  }
}

std::string Chain::cache_key(std::string_view payload, std::optional<nlohmann::json>* doc) const {
  if (!cache_ || cache_->options().key == CacheKey::raw_bytes) return std::string(payload);
  auto parsed = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::string(payload);  // not JSON: its bytes are the key
  std::string key = parsed.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (doc) *doc = std::move(parsed);
  return key;
}

std::optional<rpc::Answer> Chain::rate_limit(CallContext& ctx, std::string_view, CallState&) {
  if (!rate_limiter_) return std::nullopt;
  if (auto ok = rate_limiter_->admit(ctx.peer_identity()); !ok) {
    return rpc::Answer{tl::unexpected(std::move(ok.error())), {}};
  }
  return std::nullopt;
}

std::optional<rpc::Answer> Chain::cache_lookup(CallContext&, std::string_view payload,
                                               CallState& st) {
  if (!cache_) return std::nullopt;
  std::optional<ResponseCache::Hit> hit;
  if (cache_->options().key == CacheKey::raw_bytes) {
    hit = cache_->get(payload);  // no key string is built for a hit
    if (!hit) st.key = std::string(payload);
  } else {
    // The same bytes as an earlier request are a hit without parsing them (the entry keeps the
    // raw request as an alias of its canonical key); other spellings parse and canonicalize.
    hit = cache_->get(payload, /*count_miss=*/false);
    if (!hit) {
      st.key = cache_key(payload, &st.doc);
      hit = cache_->get(st.key);
      if (hit) {
        cache_->add_alias(st.key, payload);
      } else if (payload != st.key) {
        st.alias = std::string(payload);
      }
    }
  }
  if (!hit) return std::nullopt;
  ResponseInfo info;
  info.cache = ResponseInfo::Cache::hit;
  info.cache_age = std::chrono::duration_cast<std::chrono::microseconds>(hit->age);
  info.handler_time = std::chrono::duration_cast<std::chrono::microseconds>(hit->handler_time);
  return rpc::Answer{std::string(*hit->response), info};
}

std::optional<rpc::Answer> Chain::validate(CallContext&, std::string_view payload, CallState& st) {
  if (!validator_) return std::nullopt;
  if (!st.doc) {
    try {
      st.doc = nlohmann::json::parse(payload);
    } catch (const nlohmann::json::exception& e) {
      bump(counters_.validation_failed);
      return rpc::Answer{tl::unexpected(SchemaValidator::not_json(e.what())), {}};
    }
  }
  if (auto ok = validator_->validate(*st.doc); !ok) {
    bump(counters_.validation_failed);
    return rpc::Answer{tl::unexpected(std::move(ok.error())), {}};
  }
  bump(counters_.validation_passed);
  return std::nullopt;
}

void Chain::run(CallContext& ctx, std::string_view payload, Done done) {
  CallState st;
  for (Step step : kAdmission) {
    if (auto answer = (this->*step)(ctx, payload, st)) {
      done(std::move(*answer));
      return;
    }
  }
  st.doc.reset();  // the handler parses for itself; the document is not needed past here
  if (!concurrency_) {
    invoke(ctx, payload, std::move(st), std::move(done));
    return;
  }
  if (concurrency_->try_acquire()) {
    invoke(ctx, payload, std::move(st), std::move(done));
    return;
  }
  // A queued call outlives the frame: it keeps a copy of the payload. `ctx` stays valid while
  // `done` lives (it owns the session's record of the call).
  // Weak: a queued call must not keep a replaced handler's chain alive.
  auto admission = concurrency_->enqueue([weak = weak_from_this(), &ctx,
                                          body = std::string(payload), st, done]() mutable {
    asio::post(ctx.io_executor(), [weak, &ctx, body = std::move(body), st = std::move(st),
                                   done = std::move(done)]() mutable {
      auto self = weak.lock();
      if (!self) {
        done(
            {make_error(StatusCode::unavailable, "handler was removed while the call waited"), {}});
        return;
      }
      if (ctx.cancelled()) {  // the caller gave up while it waited: do not run it
        self->release_slot();
        done({make_error(StatusCode::cancelled, "call cancelled while waiting for a slot"), {}});
        return;
      }
      self->invoke(ctx, body, std::move(st), std::move(done));
    });
  });
  if (!admission) {
    done({tl::unexpected(std::move(admission.error())), {}});
    return;
  }
  if (*admission == ConcurrencyLimiter::Admission::run_now) {
    invoke(ctx, payload, std::move(st), std::move(done));
  }
}

void Chain::release_slot() {
  if (!concurrency_) return;
  if (auto next = concurrency_->release()) (*next)();  // posts itself to its own executor
}

void Chain::invoke(CallContext& ctx, std::string_view payload, CallState st, Done done) {
  if (breaker_) {
    if (auto ok = breaker_->admit(); !ok) {
      release_slot();
      done({tl::unexpected(std::move(ok.error())), {}});
      return;
    }
    st.breaker_admitted = true;
  }
  const auto started = std::chrono::steady_clock::now();
  // Weak: a handler that keeps its Responder in its own state would otherwise own the chain
  // that owns it. Without the chain the answer still reaches the caller.
  auto finish_with = [weak = weak_from_this(), st = std::move(st), done = std::move(done),
                      started](Result<std::string> result) mutable {
    if (auto self = weak.lock()) {
      self->finish(std::move(result), std::move(st), std::chrono::steady_clock::now() - started,
                   done);
    } else {
      done({std::move(result), {}});
    }
  };
  if (const auto* sync = std::get_if<SyncHandler>(&handler_)) {
    finish_with(rpc::run_sync_handler(*sync, ctx, payload));
    return;
  }
  // Asynchronous and coroutine handlers answer through a call of their own whose answer is
  // forwarded to `finish_with`.
  auto inner = std::make_shared<rpc::InboundCall>();
  inner->forward = [finish = std::move(finish_with)](Result<std::string> r) mutable {
    finish(std::move(r));
  };
  rpc::start_handler(std::get_if<AsyncHandler>(&handler_), std::get_if<CoroHandler>(&handler_), ctx,
                     inner, payload, ctx.io_executor());
}

void Chain::finish(Result<std::string> result, CallState st, std::chrono::nanoseconds handler_time,
                   const Done& done) {
  if (st.breaker_admitted) {
    breaker_->record(result.has_value() || !counts_as_failure(result.error().code));
  }
  ResponseInfo info;
  info.handler_time = std::chrono::duration_cast<std::chrono::microseconds>(handler_time);
  if (cache_) {
    info.cache = ResponseInfo::Cache::miss;
    if (result) cache_->put(std::move(st.key), *result, handler_time, st.alias);
  }
  release_slot();
  done({std::move(result), info});
}

std::size_t Chain::warm_up() {
  if (!cache_ || !cache_->options().warm_up) return 0;
  struct Fill final : CacheFill {
    Chain& chain;
    std::size_t stored = 0;
    explicit Fill(Chain& c) : chain(c) {}
    void put(std::string_view request_payload, std::string response) override {
      chain.cache_->put(chain.cache_key(request_payload, nullptr), std::move(response), {},
                        request_payload);
      ++stored;
    }
  } fill(*this);
  cache_->options().warm_up(fill);
  return fill.stored;
}

}  // namespace plexus::policy

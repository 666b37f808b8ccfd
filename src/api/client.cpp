#include "plexus/client.hpp"
#include "plexus/server.hpp"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>
#include <vector>

#include <asio/dispatch.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include "observe/log.hpp"

#include "api/client_hooks.hpp"
#include "api/executor_target.hpp"
#include "api/lane_state.hpp"
#include "api/metric_families.hpp"
#include "api/runtime_internals.hpp"
#include "api/tls_options.hpp"
#include "observe/metrics.hpp"
#include "policy/breaker.hpp"
#include "rpc/backoff.hpp"
#include "rpc/pubsub_router.hpp"
#include "rpc/session.hpp"
#include "rpc/trace.hpp"
#include "transport/transport.hpp"
#include "wire/metadata.hpp"
#include "wire/topic_pattern.hpp"

namespace plexus {

std::string_view to_string(ConnectionState state) {
  switch (state) {
    case ConnectionState::connecting:
      return "connecting";
    case ConnectionState::connected:
      return "connected";
    case ConnectionState::reconnecting:
      return "reconnecting";
    case ConnectionState::closed:
      return "closed";
  }
  return "?";
}

struct Client::Impl {
  struct WaitingCall;
  struct Subscription {
    std::string pattern;
    SubscribeOptions options;
    MessageHandler handler;
  };
  struct Breakers;

  // `self` is the Client that owns this: its HandlerRegistry half (the handler table the
  // sessions serve).
  Impl(Client& self, Runtime& runtime, ClientOptions options);

  CallId next_call_id() { return call_ids_->fetch_add(1, std::memory_order_relaxed); }
  bool on_serial() const {
    return serial_io_ ? serial_io_->running_in_this_thread() : Runtime::running_in(serial_);
  }
  void dial();
  void on_session_ready(const std::shared_ptr<rpc::Session>& session, Result<void> result);
  void on_session_closed(const rpc::Session* session);
  void schedule_reconnect();
  void set_state(ConnectionState state);
  void set_session(std::shared_ptr<rpc::Session> session);
  void flush_waiting();
  void fail_waiting(const Error& error);
  void send_subscriptions();
  // The connected session (null while not connected), for sends from application threads.
  std::shared_ptr<rpc::Session> ready_session() const;

  // What the Client methods of the same names do.
  bool wait_connected(Millis timeout);
  ClientStats stats() const;
  std::uint32_t peer_max_message_size() const;
  Result<std::chrono::nanoseconds> ping(Millis timeout);
  Peer peer() const;
  Result<SubscriptionId> subscribe(std::string_view pattern, MessageHandler handler,
                                   SubscribeOptions options);
  void unsubscribe(SubscriptionId id);
  Result<void> publish(std::string_view topic, std::string payload, PublishOptions options);
  void flush();
  void close();
  void start_call(CallId id, std::string_view method, std::string&& payload, CallOptions&& options,
                  CallCallback&& done);
  void cancel_call(CallId id);
  std::optional<Result<std::string>> call_here(std::string_view method,
                                               rpc::Session::HereBody& body, CallOptions& options);
  bool start_call_loaned_here(CallId id, std::string_view method, std::size_t size,
                              const PayloadWriter& write, CallOptions& options, CallCallback& done);
  void fail_later(CallCallback&& done, Error error);
  Result<void> start_notify(std::string method, std::string payload, const SendOptions& options);
  Stream start_stream(std::string method, std::string payload, StreamOptions options);
  Result<void> send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                            std::string_view payload, const SendOptions& options);

  Client& self_;
  Runtime& runtime_;
  ClientOptions options_;
  asio::any_io_executor serial_;  // Runtime::serial_executor(): all state below lives on it
  // serial_'s io_context executor when it is one (a one-thread runtime): on_serial() asks it
  // directly, without the type checks of Runtime::running_in.
  const asio::io_context::executor_type* serial_io_ = nullptr;
  std::shared_ptr<std::atomic<CallId>> call_ids_;  // shared with every session it dials
  std::shared_ptr<transport::TlsConfig> tls_;      // a tls:// address's context (set by connect)
  std::shared_ptr<rpc::Session> session_;
  std::deque<std::shared_ptr<WaitingCall>> waiting_;
  std::unordered_map<SubscriptionId, std::shared_ptr<const Subscription>> subscriptions_;
  // detail::ClientHooks::add_ready_hook: run at every session ready, on serial_.
  std::map<std::uint64_t, std::function<void(Peer)>> ready_hooks_;
  std::uint64_t next_hook_ = 1;
  asio::steady_timer reconnect_timer_;
  int failed_attempts_ = 0;
  bool ever_connected_ = false;
  bool closing_ = false;
  std::function<void(Result<void>)> first_connect_;  // completes connect()
  // Until when connect() retries while no server answers (ClientOptions::wait_for_server).
  std::chrono::steady_clock::time_point first_connect_deadline_{};
  bool retry_first_connect(const Error& error);

  std::atomic<ConnectionState> state_{ConnectionState::connecting};
  std::atomic<std::uint64_t> reconnects_{0};
  // Summed over the sessions that closed (each adds before its waiting senders wake).
  std::shared_ptr<std::atomic<std::uint64_t>> unsent_on_close_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  mutable std::mutex mu_;
  std::condition_variable state_changed_;
  std::function<void(ConnectionState)> on_state_change_;  // guarded by mu_
  std::shared_ptr<rpc::Session> session_for_stats_;       // guarded by mu_
  bool session_alive_ = false;                            // guarded by mu_
  std::atomic<bool> close_requested_{false};
  std::shared_ptr<Breakers> breakers_;  // null without ClientOptions::breaker
  // Metrics (the runtime's registry): what this client's streams did, the reconnect counter,
  // and the collectors and status-page sections removed in ~Client.
  std::shared_ptr<rpc::StreamTotals> stream_totals_;
  // The acknowledged messages this client's handlers handled (across reconnects).
  std::shared_ptr<rpc::AckedIds> acked_ids_ = std::make_shared<rpc::AckedIds>();
  observe::Counter* reconnects_metric_ = nullptr;
  std::vector<std::uint64_t> metric_collectors_;
  std::vector<std::uint64_t> metric_sections_;
};

// A call made while disconnected with wait_for_ready: it waits for the next session, at most
// until its deadline.
struct Client::Impl::WaitingCall {
  CallId id;
  std::string method;
  std::string payload;
  CallOptions options;
  CallCallback done;
  std::unique_ptr<asio::steady_timer> deadline;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

Result<std::unique_ptr<Client>> Client::connect(Runtime& runtime, ClientOptions options) {
  if (runtime.on_io_thread()) {
    return make_error(StatusCode::failed_precondition,
                      "Client::connect blocks; do not call it on an I/O thread");
  }
  if (options.address.empty()) {
    const char* started_by = std::getenv("PLEXUS_ADDRESS");
    options.address = started_by && *started_by ? started_by : default_address();
  }
  auto address = transport::parse_address(options.address);
  if (!address) return tl::unexpected(address.error());
  // Loads the CA and client certificate files once, now: a bad one fails connect().
  auto tls = detail::tls_config_for(options.tls, /*server=*/false, address->scheme == "tls");
  if (!tls) return tl::unexpected(tls.error());
  if (options.token.size() > wire::kMaxTokenLength) {
    return make_error(StatusCode::invalid_argument, "ClientOptions::token is " +
                                                        std::to_string(options.token.size()) +
                                                        " bytes; a HELLO carries at most " +
                                                        std::to_string(wire::kMaxTokenLength));
  }
  std::unique_ptr<Client> client(new Client(runtime, std::move(options)));
  client->impl_->tls_ = std::move(*tls);
  std::promise<Result<void>> first;
  auto result = first.get_future();
  const auto wait = client->impl_->options_.wait_for_server;
  const auto now = std::chrono::steady_clock::now();
  client->impl_->first_connect_deadline_ =
      wait <= Millis{0} ? now
      : wait >=
              std::chrono::duration_cast<Millis>(std::chrono::steady_clock::time_point::max() - now)
          ? std::chrono::steady_clock::time_point::max()
          : now + wait;
  asio::dispatch(client->impl_->serial_, [c = client->impl_.get(), &first] {
    c->first_connect_ = [&first](Result<void> r) { first.set_value(std::move(r)); };
    c->dial();
  });
  if (auto r = result.get(); !r) {
    client->close();
    return tl::unexpected(r.error());
  }
  return client;
}

// One breaker per method, made on first use, each with its own counters (exported per method).
// Shared with completions, which may outlive a call to close(), and with the metrics collectors.
struct Client::Impl::Breakers {
  BreakerOptions options;
  std::shared_ptr<const Clock> clock;
  std::string target;
  struct Entry {
    policy::PolicyCounters counters;
    policy::CircuitBreaker breaker;  // counts into `counters` (declared first)
    Entry(const std::string& name, const BreakerOptions& o, std::shared_ptr<const Clock> c)
        : breaker(name, o, std::move(c), counters) {}
  };
  std::mutex mu;
  std::map<std::string, std::shared_ptr<Entry>, std::less<>> by_method;  // guarded by mu

  std::shared_ptr<policy::CircuitBreaker> get(std::string_view method) {
    std::lock_guard lock(mu);
    auto it = by_method.find(method);
    if (it == by_method.end()) {
      const std::string name(method);
      it = by_method.emplace(name, std::make_shared<Entry>(target + " " + name, options, clock))
               .first;
    }
    auto& e = it->second;
    return std::shared_ptr<policy::CircuitBreaker>(e, &e->breaker);  // keeps the entry alive
  }

  std::vector<BreakerRow> rows() {
    std::vector<BreakerRow> out;
    std::lock_guard lock(mu);
    for (const auto& [method, e] : by_method) {
      out.push_back({"client", target, method, e->breaker.state(), e->counters.snapshot()});
    }
    return out;
  }
};

Client::Client(Runtime& runtime, ClientOptions options)
    : impl_(std::make_unique<Impl>(*this, runtime, std::move(options))) {}

Client::Impl::Impl(Client& self, Runtime& runtime, ClientOptions options)
    : self_(self),
      runtime_(runtime),
      options_(std::move(options)),
      serial_(runtime.serial_executor()),
      serial_io_(detail::executor_target<asio::io_context::executor_type>(serial_)),
      call_ids_(std::make_shared<std::atomic<CallId>>(1)),
      reconnect_timer_(serial_),
      stream_totals_(std::make_shared<rpc::StreamTotals>()) {
  auto& reg = detail::runtime_metrics(runtime_);
  reconnects_metric_ =
      &reg.counter("plexus_client_reconnects_total",
                   "Times a client on this runtime connected again after losing its server")
           .with();
  if (options_.breaker) {
    breakers_ = std::make_shared<Breakers>();
    breakers_->options = *options_.breaker;
    breakers_->clock = options_.clock ? options_.clock : Clock::steady();
    breakers_->target = options_.address;
    add_breaker_metrics(
        reg, [b = breakers_] { return b->rows(); }, metric_collectors_, metric_sections_);
  }
  add_stream_metrics(reg, "client", stream_totals_, metric_collectors_);
}

PolicyStats Client::breaker_stats() const {
  PolicyStats sum;
  const auto& breakers = impl_->breakers_;
  if (!breakers) return sum;
  for (const auto& r : breakers->rows()) {
    sum.breaker_rejected += r.stats.breaker_rejected;
    sum.breaker_opened += r.stats.breaker_opened;
    sum.breaker_half_opened += r.stats.breaker_half_opened;
    sum.breaker_closed += r.stats.breaker_closed;
    sum.breaker_successes += r.stats.breaker_successes;
    sum.breaker_failures += r.stats.breaker_failures;
  }
  return sum;
}

std::uint64_t detail::ClientHooks::add_ready_hook(Client& client, std::function<void(Peer)> hook) {
  auto& d = *client.impl_;
  std::promise<std::uint64_t> added;
  auto run = [&d, &added, hook = std::move(hook)]() mutable {
    const auto id = d.next_hook_++;
    d.ready_hooks_[id] = hook;
    if (d.session_ && d.state_.load() == ConnectionState::connected) {
      asio::post(d.serial_, [&d, id] {
        auto it = d.ready_hooks_.find(id);
        if (it != d.ready_hooks_.end() && d.session_) it->second(Peer(d.session_));
      });
    }
    added.set_value(id);
  };
  if (d.on_serial()) {
    run();
  } else {
    asio::dispatch(d.serial_, run);
  }
  return added.get_future().get();
}

void detail::ClientHooks::remove_ready_hook(Client& client, std::uint64_t id) {
  auto& d = *client.impl_;
  if (d.on_serial()) {
    d.ready_hooks_.erase(id);
    return;
  }
  std::promise<void> removed;
  asio::dispatch(d.serial_, [&d, &removed, id] {
    d.ready_hooks_.erase(id);
    removed.set_value();
  });
  removed.get_future().wait();
}

Millis detail::ClientHooks::connect_timeout(const Client& client) {
  return client.impl_->options_.connect_timeout;
}

bool detail::ClientHooks::on_io_thread(const Client& client) {
  return client.on_io_thread();
}

Client::~Client() {
  auto& d = *impl_;
  auto& reg = detail::runtime_metrics(d.runtime_);
  for (const auto id : d.metric_collectors_) reg.remove_collector(id);
  for (const auto id : d.metric_sections_) reg.remove_section(id);
  d.close();  // returns once no session refers to this object
  // Wait until the strand has run everything that refers to this object.
  if (!d.runtime_.on_io_thread()) {
    std::promise<void> drained;
    asio::post(d.serial_, [&drained] { drained.set_value(); });
    drained.get_future().wait();
  }
}

void Client::Impl::set_state(ConnectionState state) {
  state_.store(state);
  std::function<void(ConnectionState)> cb;
  {
    std::lock_guard lock(mu_);
    cb = on_state_change_;
  }
  state_changed_.notify_all();
  if (cb) cb(state);
}

void Client::on_state_change(std::function<void(ConnectionState)> callback) {
  std::lock_guard lock(impl_->mu_);
  impl_->on_state_change_ = std::move(callback);
}

bool Client::Impl::wait_connected(Millis timeout) {
  std::unique_lock lock(mu_);
  return state_changed_.wait_for(lock, timeout, [&] {
    return state_.load() == ConnectionState::connected || state_.load() == ConnectionState::closed;
  }) && state_.load() == ConnectionState::connected;
}

void Client::Impl::dial() {
  auto address = *transport::parse_address(options_.address);
  transport::ConnectionOptions co;
  co.receive_limits.max_message_size = options_.max_message_size;
  co.max_pending_write_bytes = options_.max_write_queue_bytes;
  co.hot_read = detail::hot_read_slot(runtime_);
  co.tls = tls_;
  transport::dial(serial_, address, co, options_.connect_timeout,
                  [this](Result<std::shared_ptr<transport::Connection>> conn) {
                    if (closing_) {
                      if (conn)
                        (*conn)->close(Error{StatusCode::cancelled, "client closed", {}}, false);
                      return;
                    }
                    if (!conn) {
                      on_session_ready(nullptr, tl::unexpected(conn.error()));
                      return;
                    }
                    rpc::SessionOptions so;
                    so.role = rpc::SessionOptions::Role::dialer;
                    so.local_name = options_.name;
                    so.token = options_.token;
                    so.workers = detail::worker_pool(runtime_);
                    so.max_message_size = options_.max_message_size;
                    so.heartbeat_interval = options_.heartbeat_interval;
                    so.heartbeat_timeout = options_.heartbeat_timeout;
                    so.handshake_timeout = options_.connect_timeout;
                    so.call_ids = call_ids_;
                    so.batching = options_.batching;
                    so.max_queued_send_bytes = options_.max_queued_send_bytes;
                    so.stream_totals = stream_totals_;
                    so.acked_ids = acked_ids_;
                    so.unsent_total = unsent_on_close_;
                    so.heartbeat_failures =
                        &detail::runtime_metrics(runtime_)
                             .counter("plexus_heartbeat_failures_total",
                                      "Sessions closed because the peer sent nothing within the "
                                      "heartbeat timeout",
                                      {"side"})
                             .with({"client"});
                    rpc::SessionCallbacks cb;
                    cb.on_publish = [this](rpc::Session&, SubscriptionId id, std::string_view topic,
                                           std::string_view payload) {
                      auto it = subscriptions_.find(id);
                      if (it == subscriptions_.end()) return;  // unsubscribed meanwhile
                      auto sub = it->second;                   // the handler may unsubscribe
                      try {
                        sub->handler(topic, payload);
                      } catch (const std::exception& e) {
                        observe::logger().warn("plexus: subscriber of \"{}\" threw: {}",
                                               sub->pattern, e.what());
                      }
                    };
                    // Both run on serial_: the connection was dialed on it.
                    cb.on_ready = [this](rpc::Session& s, Result<void> r) {
                      on_session_ready(s.shared_from_this(), std::move(r));
                    };
                    cb.on_closed = [this](rpc::Session& s, const Error&) { on_session_closed(&s); };
                    auto session =
                        rpc::Session::create(*conn, self_.handler_table(), so, std::move(cb));
                    set_session(session);
                    session->start();
                  });
}

void Client::Impl::on_session_ready(const std::shared_ptr<rpc::Session>& session,
                                    Result<void> result) {
  if (!result) {
    if (session_ == session && session_) set_session(nullptr);
    observe::logger().debug("plexus: connect to {} failed: {}", options_.address,
                            result.error().to_string());
    if (first_connect_ && retry_first_connect(result.error())) return;
    if (first_connect_) {
      // The first connect reports its failure to the caller instead of reconnecting.
      auto first = std::move(first_connect_);
      first_connect_ = nullptr;
      set_state(ConnectionState::closed);
      first(tl::unexpected(result.error()));
      return;
    }
    ++failed_attempts_;
    schedule_reconnect();
    return;
  }
  failed_attempts_ = 0;
  {
    std::lock_guard lock(mu_);
    session_for_stats_ = session;
  }
  if (ever_connected_) {
    reconnects_.fetch_add(1);
    reconnects_metric_->inc();
    observe::logger().info("plexus: reconnected to {}", options_.address);
  }
  ever_connected_ = true;
  // Before the state says connected: anything sent after that reaches the server after these.
  send_subscriptions();
  for (auto& [id, hook] : std::map(ready_hooks_)) hook(Peer(session));
  set_state(ConnectionState::connected);
  if (first_connect_) {
    auto first = std::move(first_connect_);
    first_connect_ = nullptr;
    first({});
  }
  flush_waiting();
}

void Client::Impl::on_session_closed(const rpc::Session* session) {
  if (session_.get() != session) return;  // a failed handshake was already handled
  set_session(nullptr);
  if (closing_) return;
  if (state_.load() == ConnectionState::connected) {
    observe::logger().info("plexus: connection to {} lost", options_.address);
    schedule_reconnect();
  }
}

// While connect() waits for a server (wait_for_server): another attempt after the reconnect
// backoff, if nobody answered (unavailable, deadline_exceeded) and the wait has time left.
bool Client::Impl::retry_first_connect(const Error& error) {
  if (closing_ ||
      (error.code != StatusCode::unavailable && error.code != StatusCode::deadline_exceeded)) {
    return false;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now >= first_connect_deadline_) return false;
  const auto& r = options_.reconnect;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto delay = std::min<std::chrono::steady_clock::duration>(
      rpc::backoff_delay({r.initial_delay, r.max_delay, r.multiplier, r.jitter}, failed_attempts_,
                         std::uniform_real_distribution<double>(0.0, 1.0)(rng)),
      first_connect_deadline_ - now);
  ++failed_attempts_;
  observe::logger().debug("plexus: no server at {} yet ({}); next attempt in {} ms",
                          options_.address, error.message,
                          std::chrono::duration_cast<Millis>(delay).count());
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([this](std::error_code ec) {
    if (ec || closing_) return;
    dial();
  });
  return true;
}

void Client::Impl::schedule_reconnect() {
  if (closing_) return;
  const auto& r = options_.reconnect;
  if (!r.enabled || (r.max_attempts > 0 && failed_attempts_ >= r.max_attempts)) {
    set_state(ConnectionState::closed);
    fail_waiting(Error{StatusCode::unavailable, "disconnected and not reconnecting", {}});
    return;
  }
  set_state(ConnectionState::reconnecting);
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto delay =
      rpc::backoff_delay({r.initial_delay, r.max_delay, r.multiplier, r.jitter}, failed_attempts_,
                         std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  reconnect_timer_.expires_after(delay);
  reconnect_timer_.async_wait([this](std::error_code ec) {
    if (ec || closing_) return;
    dial();
  });
}

Stream Client::Impl::start_stream(std::string method, std::string payload, StreamOptions options) {
  auto core = std::make_shared<rpc::StreamCore>(serial_, options.window);
  if (options.trace_id.empty()) options.trace_id = rpc::trace::for_outgoing();
  asio::dispatch(serial_, [this, core, method = std::move(method), payload = std::move(payload),
                           trace = std::move(options.trace_id)]() mutable {
    if (session_ && session_->accepting_calls()) {
      session_->open_stream(core, std::move(method), std::move(payload), std::move(trace));
      return;
    }
    core->on_cancel(Error{StatusCode::unavailable, "not connected to " + options_.address, {}});
  });
  return Stream(core);
}

void Client::Impl::start_call(CallId id, std::string_view method, std::string&& payload,
                              CallOptions&& options, CallCallback&& done) {
  // On the caller's thread, where its current trace is (a handler's, a TraceScope's).
  if (options.trace_id.empty()) options.trace_id = rpc::trace::for_outgoing();
  if (breakers_) {
    auto breaker = breakers_->get(method);
    if (auto ok = breaker->admit(); !ok) {
      asio::post(serial_, [done = std::move(done), e = std::move(ok.error())]() mutable {
        done(tl::unexpected(std::move(e)));
      });
      return;
    }
    done = [breaker, done = std::move(done)](Result<std::string> r) {
      breaker->record(r.has_value() || !policy::counts_as_failure(r.error().code));
      done(std::move(r));
    };
  }
  // Already on the strand with a live session (a call made from a completion, e.g. a pipelined
  // caller refilling its window): call straight in. asio::dispatch would run inline too, but
  // only after moving every argument into a lambda and the lambda into a handler.
  if (on_serial() && session_ && session_->accepting_calls()) {
    session_->call(id, method, std::move(payload), options, std::move(done));
    return;
  }
  // From an application thread over shared memory: the request is written on this thread when
  // the connection is idle, with no hand-off to the I/O thread (which completes the call).
  // Otherwise queued for the I/O thread with the calls and one-way messages sent meanwhile
  // from any thread: one hand-over (and at most one wake-up) for all of them.
  if (auto session = ready_session()) {
    auto body = rpc::Session::HereBody::of(payload);
    if (session->start_call_here(id, method, body, options, done) ||
        session->call_from_app(id, method, payload, options, done)) {
      return;
    }
  }
  asio::dispatch(serial_, [this, id, method = std::string(method), payload = std::move(payload),
                           options = std::move(options), done = std::move(done)]() mutable {
    // A draining server (GOAWAY) takes no new calls: treat it as not connected, so waiting
    // calls wait for the next connection instead of failing.
    if (session_ && session_->accepting_calls()) {
      session_->call(id, method, std::move(payload), options, std::move(done));
      return;
    }
    const bool wait = options.wait_for_ready.value_or(options_.wait_for_ready);
    Error error{StatusCode::unavailable, "not connected to " + options_.address, {}};
    if (!wait || closing_ || state_.load() == ConnectionState::closed) {
      asio::post(serial_,
                 [done = std::move(done), error]() mutable { done(tl::unexpected(error)); });
      return;
    }
    if (waiting_.size() >= options_.max_waiting_calls) {
      error = Error{StatusCode::resource_exhausted,
                    "too many calls waiting for the connection (limit " +
                        std::to_string(options_.max_waiting_calls) + ")",
                    {}};
      asio::post(serial_,
                 [done = std::move(done), error]() mutable { done(tl::unexpected(error)); });
      return;
    }
    auto w = std::make_shared<WaitingCall>();
    w->id = id;
    w->method = std::string(method);
    w->payload = std::move(payload);
    w->options = std::move(options);
    w->done = std::move(done);
    if (w->options.timeout) {
      w->deadline = std::make_unique<asio::steady_timer>(serial_, *w->options.timeout);
      w->deadline->async_wait([this, weak = std::weak_ptr<WaitingCall>(w)](std::error_code ec) {
        auto call = weak.lock();
        if (ec || !call) return;
        std::erase(waiting_, call);
        call->done(
            make_error(StatusCode::deadline_exceeded, "not connected within the call's deadline"));
      });
    }
    waiting_.push_back(std::move(w));
  });
}

void Client::Impl::flush_waiting() {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) {
    if (w->deadline) w->deadline->cancel();
    CallOptions options = w->options;
    if (options.timeout) {
      // The time spent waiting counts against the call's deadline.
      const auto spent =
          std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - w->started);
      options.timeout = std::max(Millis{1}, *options.timeout - spent);
    }
    session_->call(w->id, w->method, std::move(w->payload), options, std::move(w->done));
  }
}

void Client::Impl::fail_waiting(const Error& error) {
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& w : waiting) {
    if (w->deadline) w->deadline->cancel();
    w->done(tl::unexpected(error));
  }
}

void Client::Impl::cancel_call(CallId id) {
  asio::dispatch(serial_, [this, id] {
    for (auto it = waiting_.begin(); it != waiting_.end(); ++it) {
      if ((*it)->id == id) {
        auto w = *it;
        waiting_.erase(it);
        if (w->deadline) w->deadline->cancel();
        w->done(make_error(StatusCode::cancelled, "cancelled by the caller"));
        return;
      }
    }
    if (session_) session_->cancel(id);
  });
}

void Client::Impl::send_subscriptions() {
  for (const auto& [id, sub] : subscriptions_) {
    session_->subscribe(id, sub->pattern, rpc::encode_subscribe_options(sub->options),
                        [pattern = sub->pattern](Result<std::string> r) {
                          if (!r) {
                            observe::logger().warn("plexus: re-subscribing to \"{}\" failed: {}",
                                                   pattern, r.error().to_string());
                          }
                        });
  }
}

Result<SubscriptionId> Client::Impl::subscribe(std::string_view pattern, MessageHandler handler,
                                               SubscribeOptions options) {
  if (runtime_.on_io_thread()) {
    return make_error(StatusCode::failed_precondition, "subscribe blocks; not on an I/O thread");
  }
  if (auto ok = wire::validate_pattern(pattern); !ok) return tl::unexpected(ok.error());
  if (!handler) return make_error(StatusCode::invalid_argument, "subscribe needs a handler");
  auto sub = std::make_shared<Subscription>(
      Subscription{std::string(pattern), options, std::move(handler)});
  const SubscriptionId id = next_call_id();
  auto acked = std::make_shared<std::promise<Result<std::string>>>();
  auto future = acked->get_future();
  asio::dispatch(serial_, [this, id, sub, acked] {
    subscriptions_[id] = sub;
    if (!session_ || !session_->ready()) {
      acked->set_value(std::string());  // recorded; sent when connected
      return;
    }
    session_->subscribe(id, sub->pattern, rpc::encode_subscribe_options(sub->options),
                        [acked](Result<std::string> r) { acked->set_value(std::move(r)); });
  });
  if (future.wait_for(options_.connect_timeout) != std::future_status::ready) {
    unsubscribe(id);
    return make_error(StatusCode::deadline_exceeded, "no answer to SUBSCRIBE in time");
  }
  if (auto r = future.get(); !r) {
    // Refused (bad options, …): forget it, so a reconnect does not send it again.
    asio::dispatch(serial_, [this, id] { subscriptions_.erase(id); });
    return tl::unexpected(r.error());
  }
  return id;
}

void Client::Impl::unsubscribe(SubscriptionId id) {
  asio::dispatch(serial_, [this, id] {
    if (subscriptions_.erase(id) == 0) return;
    if (session_ && session_->ready()) session_->unsubscribe(id);
  });
}

Result<void> Client::Impl::publish(std::string_view topic, std::string payload,
                                   PublishOptions options) {
  if (auto ok = wire::validate_topic(topic); !ok) return tl::unexpected(ok.error());
  if (on_serial()) {
    if (!session_ || !session_->ready()) {
      return make_error(StatusCode::unavailable, "not connected to " + options_.address);
    }
    if (auto fits = detail::payload_within_limit(payload.size(), session_->peer_max_message_size());
        !fits) {
      return fits;
    }
    return session_->publish(0, topic, payload, options.immediate);
  }
  auto session = ready_session();
  if (!session) return make_error(StatusCode::unavailable, "not connected to " + options_.address);
  rpc::OutboxItem item;
  item.kind = rpc::OutboxItem::Kind::publish;
  item.immediate = options.immediate;
  item.name = std::string(topic);
  item.payload = std::move(payload);
  return session->send_from_app(std::move(item), options.wait_for_room);
}

void Client::Impl::flush() {
  asio::dispatch(serial_, [this] {
    if (session_) session_->flush_batch();
  });
}

Result<void> Client::Impl::start_notify(std::string method, std::string payload,
                                        const SendOptions& options) {
  // On the strand already (a producer running on the I/O thread): straight in, as start_call.
  if (on_serial()) {
    if (!session_ || !session_->ready()) {
      return make_error(StatusCode::unavailable, "not connected to " + options_.address);
    }
    if (auto fits = detail::payload_within_limit(payload.size(), session_->peer_max_message_size());
        !fits) {
      return fits;
    }
    return session_->notify(method, std::move(payload), options.immediate);
  }
  auto session = ready_session();
  if (!session) return make_error(StatusCode::unavailable, "not connected to " + options_.address);
  rpc::OutboxItem item;
  item.kind = rpc::OutboxItem::Kind::notify;
  item.immediate = options.immediate;
  item.name = std::move(method);
  item.payload = std::move(payload);
  return session->send_from_app(std::move(item), options.wait_for_room);
}

Result<void> Client::Impl::send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                                        std::string_view payload, const SendOptions& options) {
  // On the strand (a producer on the I/O thread): written now, the transport's verdict returned.
  if (on_serial()) {
    if (!session_ || !session_->ready()) {
      return make_error(StatusCode::unavailable, "not connected to " + options_.address);
    }
    return session_->send_on_lane(lane->binding, payload);
  }
  auto session = ready_session();
  if (!session) return make_error(StatusCode::unavailable, "not connected to " + options_.address);
  rpc::OutboxItem item;
  item.kind = rpc::OutboxItem::Kind::lane;
  item.lane = lane->binding;
  item.payload = std::string(payload);
  return session->send_from_app(std::move(item), options.wait_for_room);
}

std::optional<Result<std::string>> Client::Impl::call_here(std::string_view method,
                                                           rpc::Session::HereBody& body,
                                                           CallOptions& options) {
  // How long a blocking caller waits for the I/O thread to lend an awake connection: it looks
  // for that request between two spins on the rings, a few microseconds apart.
  constexpr std::chrono::microseconds kBorrowPatience{50};
  // The breaker admits each call once, in start_call: a call this path did not send goes there.
  if (breakers_) return std::nullopt;
  auto session = ready_session();
  if (!session) return std::nullopt;
  if (options.trace_id.empty()) options.trace_id = rpc::trace::for_outgoing();
  return session->call_here(next_call_id(), method, body, options, kBorrowPatience);
}

bool Client::Impl::start_call_loaned_here(CallId id, std::string_view method, std::size_t size,
                                          const PayloadWriter& write, CallOptions& options,
                                          CallCallback& done) {
  // The breaker admits each call once, in start_call: a call this path did not send goes there.
  if (breakers_) return false;
  auto session = ready_session();
  if (!session) return false;
  if (options.trace_id.empty()) options.trace_id = rpc::trace::for_outgoing();
  auto body = rpc::Session::HereBody::loaned(size, write);
  if (!session->start_call_here(id, method, body, options, done)) return false;
  if (body.refused) fail_later(std::move(done), std::move(*body.refused));
  return true;
}

void Client::Impl::fail_later(CallCallback&& done, Error error) {
  asio::post(serial_, [done = std::move(done), error = std::move(error)]() mutable {
    done(tl::unexpected(std::move(error)));
  });
}

std::shared_ptr<rpc::Session> Client::Impl::ready_session() const {
  std::lock_guard lock(mu_);
  return session_for_stats_;
}

Result<std::chrono::nanoseconds> Client::Impl::ping(Millis timeout) {
  if (runtime_.on_io_thread()) {
    return make_error(StatusCode::failed_precondition, "ping blocks; not on an I/O thread");
  }
  auto promise = std::make_shared<std::promise<Result<std::chrono::nanoseconds>>>();
  auto future = promise->get_future();
  asio::dispatch(serial_, [this, promise] {
    if (!session_ || !session_->ready()) {
      promise->set_value(make_error(StatusCode::unavailable, "not connected"));
      return;
    }
    session_->ping([promise](Result<std::chrono::nanoseconds> r) { promise->set_value(r); });
  });
  if (future.wait_for(timeout) != std::future_status::ready) {
    return make_error(StatusCode::deadline_exceeded, "no PONG within the timeout");
  }
  return future.get();
}

std::uint32_t Client::Impl::peer_max_message_size() const {
  std::lock_guard lock(mu_);
  return session_for_stats_ ? session_for_stats_->peer_max_message_size() : 0;
}

Peer Client::Impl::peer() const {
  std::lock_guard lock(mu_);
  return Peer(session_for_stats_);
}

ClientStats Client::Impl::stats() const {
  ClientStats st;
  st.reconnects = reconnects_.load();
  if (runtime_.on_io_thread()) return st;  // transport counters live on the strand
  auto counters = std::make_shared<std::promise<transport::ConnectionStats>>();
  asio::dispatch(serial_, [this, counters] {
    counters->set_value(session_ ? session_->connection().stats() : transport::ConnectionStats{});
  });
  const auto c = counters->get_future().get();
  st.frames_in = c.frames_in;
  st.frames_out = c.frames_out;
  st.write_batches = c.write_batches;
  st.shm_mapped_bytes = c.shm_mapped_bytes;
  st.in_place_bytes = c.bytes_in_place;
  st.hot_reads = c.hot_reads;
  st.calls_on_caller_thread = c.borrowed_requests;
  st.answers_on_caller_thread = c.borrowed_answers;
  st.requests_written_in_place = c.loaned_requests;
  if (auto s = ready_session()) {
    st.send_waits = s->outbox().waits();
    st.send_refusals = s->outbox().refusals();
    st.senders_waiting = s->outbox().waiting();
  }
  st.unsent_on_close = unsent_on_close_->load(std::memory_order_relaxed);
  return st;
}

void Client::Impl::set_session(std::shared_ptr<rpc::Session> session) {
  session_ = std::move(session);
  std::lock_guard lock(mu_);
  session_alive_ = session_ != nullptr;
  if (!session_alive_) session_for_stats_.reset();
  state_changed_.notify_all();
}

void Client::Impl::close() {
  if (close_requested_.exchange(true)) return;
  auto dispatched = std::make_shared<std::promise<void>>();
  asio::dispatch(serial_, [this, dispatched] {
    closing_ = true;
    reconnect_timer_.cancel();
    fail_waiting(Error{StatusCode::unavailable, "client closed", {}});
    if (session_) session_->close(Error{StatusCode::cancelled, "client closed", {}}, true);
    set_state(ConnectionState::closed);
    dispatched->set_value();
  });
  if (runtime_.on_io_thread()) return;
  dispatched->get_future().wait();
  // Sessions call back into this object until they are closed: wait for that, flushing first,
  // then without flushing if the peer does not read.
  std::unique_lock lock(mu_);
  if (!state_changed_.wait_for(lock, Millis{1000}, [&] { return !session_alive_; })) {
    asio::dispatch(serial_, [this] {
      if (session_) session_->close(Error{StatusCode::cancelled, "client closed", {}}, false);
    });
    state_changed_.wait(lock, [&] { return !session_alive_; });
  }
}

// The public methods: each hands over to Impl (one load of impl_; nothing is allocated or
// locked on the way).
ConnectionState Client::state() const {
  return impl_->state_.load();
}

bool Client::wait_connected(Millis timeout) {
  return impl_->wait_connected(timeout);
}

ClientStats Client::stats() const {
  return impl_->stats();
}

std::uint32_t Client::peer_max_message_size() const {
  return impl_->peer_max_message_size();
}

Result<std::chrono::nanoseconds> Client::ping(Millis timeout) {
  return impl_->ping(timeout);
}

Peer Client::peer() const {
  return impl_->peer();
}

Result<SubscriptionId> Client::subscribe(std::string_view pattern, MessageHandler handler,
                                         SubscribeOptions options) {
  return impl_->subscribe(pattern, std::move(handler), std::move(options));
}

void Client::unsubscribe(SubscriptionId id) {
  impl_->unsubscribe(id);
}

Result<void> Client::publish(std::string_view topic, std::string payload, PublishOptions options) {
  return impl_->publish(topic, std::move(payload), options);
}

void Client::flush() {
  impl_->flush();
}

void Client::close() {
  impl_->close();
}

CallId Client::next_call_id() {
  return impl_->next_call_id();
}

std::optional<Result<std::string>> Client::call_on_this_thread(std::string_view method,
                                                               std::string& payload,
                                                               CallOptions& options) {
  auto body = rpc::Session::HereBody::of(payload);
  return impl_->call_here(method, body, options);
}

std::optional<Result<std::string>> Client::call_loaned_on_this_thread(std::string_view method,
                                                                      std::size_t size,
                                                                      const PayloadWriter& write,
                                                                      CallOptions& options) {
  auto body = rpc::Session::HereBody::loaned(size, write);
  return impl_->call_here(method, body, options);
}

bool Client::start_call_loaned_here(CallId id, std::string_view method, std::size_t size,
                                    const PayloadWriter& write, CallOptions& options,
                                    CallCallback& done) {
  return impl_->start_call_loaned_here(id, method, size, write, options, done);
}

void Client::fail_later(CallCallback&& done, Error error) {
  impl_->fail_later(std::move(done), std::move(error));
}

void Client::start_call(CallId id, std::string_view method, std::string&& payload,
                        CallOptions&& options, CallCallback&& done) {
  impl_->start_call(id, method, std::move(payload), std::move(options), std::move(done));
}

void Client::cancel_call(CallId id) {
  impl_->cancel_call(id);
}

Result<void> Client::start_notify(std::string method, std::string payload,
                                  const SendOptions& options) {
  return impl_->start_notify(std::move(method), std::move(payload), options);
}

bool Client::on_io_thread() const {
  return impl_->runtime_.on_io_thread();
}

Stream Client::start_stream(std::string method, std::string payload, StreamOptions options) {
  return impl_->start_stream(std::move(method), std::move(payload), std::move(options));
}

Result<void> Client::send_on_lane(const std::shared_ptr<detail::LaneState>& lane,
                                  std::string_view payload, const SendOptions& options) {
  return impl_->send_on_lane(lane, payload, options);
}

}  // namespace plexus

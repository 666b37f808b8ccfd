#include "server.hpp"

#include <asio/post.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <mutex>
#include <utility>

#include "stream.hpp"

namespace plexus_node {

namespace {

[[noreturn]] void throw_error(Napi::Env env, const plexus::Error& error) {
  throw Napi::Error(env, make_error(env, error));
}

plexus::ServerOptions server_options(const Napi::Object& o) {
  plexus::ServerOptions options;
  Napi::Value listen = o.Get("listen");
  if (listen.IsString()) {
    options.listen.push_back(listen.As<Napi::String>().Utf8Value());
  } else if (listen.IsArray()) {
    auto list = listen.As<Napi::Array>();
    for (uint32_t i = 0; i < list.Length(); ++i) {
      options.listen.push_back(string_arg(list.Get(i), "options.listen[i]"));
    }
  } else if (!listen.IsUndefined() && !listen.IsNull()) {
    throw Napi::TypeError::New(o.Env(), "options.listen must be a string or an array of strings");
  }
  if (auto v = string_option(o, "name")) options.name = *v;
  if (auto v = string_option(o, "http")) options.http = *v;
  if (auto v = number_option(o, "maxMessageSize")) {
    if (*v < 1 || *v > 4294967295.0) {
      throw Napi::RangeError::New(o.Env(), "options.maxMessageSize must be 1 .. 2^32-1");
    }
    options.max_message_size = static_cast<std::uint32_t>(*v);
  }
  if (auto v = number_option(o, "maxConnections")) options.max_connections = std::size_t(*v);
  if (auto v = millis_option(o, "heartbeatIntervalMs")) options.heartbeat_interval = *v;
  if (auto v = millis_option(o, "heartbeatTimeoutMs")) options.heartbeat_timeout = *v;
  if (auto v = number_option(o, "socketMode")) options.unix_socket_mode = unsigned(*v);
  return options;
}

// The handler policies of handle(method, options) (index.d.ts HandlerOptions).
plexus::HandlerOptions handler_options(const Napi::Object& o) {
  plexus::HandlerOptions options;
  Napi::Env env = o.Env();
  if (auto schema = string_option(o, "schema")) {  // lib/server.js passes it as JSON text
    options.schema = nlohmann::json::parse(*schema, nullptr, false);
    if (options.schema->is_discarded()) throw Napi::TypeError::New(env, "schema is not JSON");
  }
  if (auto v = millis_option(o, "timeoutMs")) options.timeout = *v;
  auto rate = [&](const char* key) -> std::optional<plexus::RateLimit> {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return std::nullopt;
    if (!v.IsObject()) throw Napi::TypeError::New(env, std::string(key) + " must be an object");
    plexus::RateLimit limit;
    if (auto n = number_option(v.As<Napi::Object>(), "perSecond")) limit.per_second = *n;
    if (auto n = number_option(v.As<Napi::Object>(), "burst")) limit.burst = *n;
    return limit;
  };
  auto per_handler = rate("rateLimit");
  auto per_client = rate("rateLimitPerClient");
  if (per_handler || per_client)
    options.rate_limit = plexus::RateLimitOptions{per_handler, per_client};
  if (Napi::Value v = o.Get("concurrency"); v.IsObject()) {
    plexus::ConcurrencyOptions c;
    if (auto n = number_option(v.As<Napi::Object>(), "maxInFlight"))
      c.max_in_flight = std::size_t(*n);
    if (auto n = number_option(v.As<Napi::Object>(), "maxQueue")) c.max_queue = std::size_t(*n);
    options.concurrency = c;
  }
  if (Napi::Value v = o.Get("breaker"); v.IsObject() || v.IsBoolean()) {
    plexus::BreakerOptions b;
    if (v.IsObject()) {
      auto bo = v.As<Napi::Object>();
      if (auto n = number_option(bo, "failuresToOpen")) b.failures_to_open = int(*n);
      if (auto n = number_option(bo, "successesToClose")) b.successes_to_close = int(*n);
      if (auto n = millis_option(bo, "openForMs")) b.open_for = *n;
      if (auto n = number_option(bo, "halfOpenMaxCalls")) b.half_open_max_calls = int(*n);
    }
    if (!v.IsBoolean() || v.As<Napi::Boolean>().Value()) options.breaker = b;
  }
  if (Napi::Value v = o.Get("cache"); v.IsObject() || v.IsBoolean()) {
    plexus::CacheOptions c;
    if (v.IsObject()) {
      auto co = v.As<Napi::Object>();
      if (auto n = millis_option(co, "ttlMs")) c.ttl = *n;
      if (auto n = number_option(co, "maxEntries")) c.max_entries = std::size_t(*n);
      if (auto n = number_option(co, "maxBytes")) c.max_bytes = std::size_t(*n);
    }
    if (!v.IsBoolean() || v.As<Napi::Boolean>().Value()) options.cache = c;
  }
  return options;
}

// What a JavaScript handler's ctx says of the call.
Napi::Object call_meta(Napi::Env env, const plexus::PeerIdentity& peer, const std::string& trace,
                       const std::string& message_id, std::optional<double> deadline_ms) {
  Napi::Object meta = Napi::Object::New(env);
  Napi::Object p = Napi::Object::New(env);
  p.Set("name", peer.name);
  if (peer.pid) p.Set("pid", *peer.pid);
  if (peer.uid) p.Set("uid", static_cast<double>(*peer.uid));
  if (peer.gid) p.Set("gid", static_cast<double>(*peer.gid));
  if (!peer.executable.empty()) p.Set("executable", peer.executable);
  if (!peer.host.empty()) p.Set("host", peer.host);
  if (!peer.subject.empty()) p.Set("subject", peer.subject);
  meta.Set("peer", p);
  meta.Set("traceId", trace);
  if (!message_id.empty()) meta.Set("messageId", message_id);
  if (deadline_ms) meta.Set("timeoutMs", *deadline_ms);
  return meta;
}

struct CallFacts {
  plexus::PeerIdentity peer;
  std::string trace;
  std::string message_id;
  std::optional<double> timeout_ms;  // what is left of the caller's deadline
};

CallFacts facts_of(plexus::CallContext& ctx) {
  CallFacts f{ctx.peer_identity(), std::string(ctx.trace_id()), std::string(ctx.message_id()),
              std::nullopt};
  if (auto deadline = ctx.deadline()) {
    auto left =
        std::chrono::duration<double, std::milli>(*deadline - std::chrono::steady_clock::now());
    f.timeout_ms = std::max(0.0, left.count());
  }
  return f;
}

// Where a stream handler's coroutine waits for its JavaScript generator to end.
class Completion : public std::enable_shared_from_this<Completion> {
 public:
  explicit Completion(asio::any_io_executor executor)
      : executor_(executor), timer_(executor, asio::steady_timer::time_point::max()) {}

  void complete(plexus::Result<std::string> result) {  // any thread
    {
      std::lock_guard lock(mu_);
      if (result_) return;
      result_.emplace(std::move(result));
    }
    asio::post(executor_, [self = shared_from_this()] { self->timer_.cancel(); });
  }

  asio::awaitable<plexus::Result<std::string>> wait() {
    for (;;) {
      {
        std::lock_guard lock(mu_);
        if (result_) co_return std::move(*result_);
      }
      asio::error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

 private:
  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  std::mutex mu_;
  std::optional<plexus::Result<std::string>> result_;
};

}  // namespace

void NativeServer::define(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(
      env, "NativeServer",
      {StaticMethod<&NativeServer::create>("create"),
       InstanceMethod<&NativeServer::handle>("handle"),
       InstanceMethod<&NativeServer::handle_stream>("handleStream"),
       InstanceMethod<&NativeServer::remove>("remove"),
       InstanceMethod<&NativeServer::reply>("reply"), InstanceMethod<&NativeServer::fail>("fail"),
       InstanceMethod<&NativeServer::publish>("publish"),
       InstanceMethod<&NativeServer::broadcast>("broadcast"),
       InstanceMethod<&NativeServer::addresses>("addresses"),
       InstanceMethod<&NativeServer::http_address>("httpAddress"),
       InstanceMethod<&NativeServer::metrics_text>("metricsText"),
       InstanceMethod<&NativeServer::metrics_json>("metricsJson"),
       InstanceMethod<&NativeServer::connection_count>("connectionCount"),
       InstanceMethod<&NativeServer::close>("close"), InstanceMethod<&NativeServer::ref>("ref"),
       InstanceMethod<&NativeServer::unref>("unref")});
  addon(env).server_class = Napi::Persistent(cls);
  exports.Set("NativeServer", cls);
}

// create(options, onEvent) -> NativeServer, listening. Binding is quick: no thread pool.
Napi::Value NativeServer::create(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "options must be an object");
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onEvent must be a function");
  auto server = plexus::Server::create(runtime(env), server_options(info[0].As<Napi::Object>()));
  if (!server) throw_error(env, server.error());
  if (auto started = (*server)->start(); !started) throw_error(env, started.error());
  auto* holder = new std::shared_ptr<plexus::Server>(std::move(*server));
  return addon(env).server_class.New(
      {Napi::External<std::shared_ptr<plexus::Server>>::New(
           env, holder, [](Napi::Env, std::shared_ptr<plexus::Server>* h) { delete h; }),
       info[1]});
}

NativeServer::NativeServer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeServer>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "use plexus.serve() to make a server");
  }
  server_ = std::move(*info[0].As<Napi::External<std::shared_ptr<plexus::Server>>>().Data());
  // Weak, kept alive by the wrapper object (see NativeClient's constructor).
  Value().Set("_onEvent", info[1]);
  on_event_ = Napi::Weak(info[1].As<Napi::Function>());
  mailbox_ = Mailbox::create(env, "plexus.Server", addon(env).exiting);
  owner_ = std::make_shared<Owner<NativeServer>>();
  owner_->object = this;
  owner_->mailbox = mailbox_;
  addon(env).live.insert(this);
  hold(*this, *mailbox_);  // a listening server keeps the process alive, as net.Server does
}

NativeServer::~NativeServer() {
  teardown();
}

void NativeServer::emit(std::initializer_list<napi_value> args) {
  // Empty once the wrapper is being collected: nobody is left to tell.
  if (on_event_.IsEmpty() || on_event_.Value().IsEmpty()) return;
  on_event_.Call(args);
}

void NativeServer::teardown() {
  finish_close(false);
}

plexus::Server& NativeServer::open_server(Napi::Env env) {
  if (!server_ || closing_) {
    throw_error(env, plexus::Error{plexus::StatusCode::unavailable, "the server is closed", ""});
  }
  return *server_;
}

// handle(method, options | undefined): calls arrive as onEvent('call', number, method, Buffer,
// meta); cancels as onEvent('cancel', number).
Napi::Value NativeServer::handle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::Server& server = open_server(env);
  std::string method = string_arg(info[0], "method");
  std::weak_ptr<Owner<NativeServer>> weak = owner_;
  auto mailbox = mailbox_;
  auto counter = next_call_;
  plexus::AsyncHandler handler = [weak, mailbox, counter](plexus::CallContext& ctx,
                                                          std::string_view payload,
                                                          plexus::Responder responder) {
    const std::uint64_t number = ++*counter;
    // Shared: a mailbox event must be copyable, a Responder is not.
    auto held = std::make_shared<plexus::Responder>(std::move(responder));
    mailbox->post([weak, number, method = std::string(ctx.method()), payload = std::string(payload),
                   facts = facts_of(ctx), held](napi_env raw) mutable {
      auto owner = weak.lock();
      if (!owner || owner->object == nullptr) return;  // the responder fails the call
      NativeServer& self = *owner->object;
      Napi::Env env(raw);
      self.calls_.emplace(number, std::move(*held));
      self.emit({Napi::String::New(env, "call"),
                 Napi::Number::New(env, static_cast<double>(number)),
                 Napi::String::New(env, method), to_buffer(env, std::move(payload)),
                 call_meta(env, facts.peer, facts.trace, facts.message_id, facts.timeout_ms)});
    });
    // After the call's event, so that JavaScript always sees the call before its cancel.
    ctx.on_cancel([weak, mailbox, number] {
      mailbox->post([weak, number](napi_env raw) {
        auto owner = weak.lock();
        if (!owner || owner->object == nullptr) return;
        Napi::Env env(raw);
        NativeServer& self = *owner->object;
        if (!self.calls_.count(number)) return;  // answered already
        // Nobody waits for this call's answer any more: its responder goes now, so that a
        // handler that never settles (ignoring ctx.signal) leaks nothing.
        self.calls_.erase(number);
        self.emit({Napi::String::New(env, "cancel"),
                   Napi::Number::New(env, static_cast<double>(number))});
      });
    });
  };
  if (info[1].IsObject()) {
    if (auto ok = server.handle_async(method, std::move(handler),
                                      handler_options(info[1].As<Napi::Object>()));
        !ok) {
      throw_error(env, ok.error());
    }
  } else {
    server.handle_async(method, std::move(handler));
  }
  return env.Undefined();
}

// handleStream(method): opened streams arrive as onEvent('stream', method, Buffer,
// NativeStream, meta); the generator's end calls the stream's finish().
Napi::Value NativeServer::handle_stream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::Server& server = open_server(env);
  std::string method = string_arg(info[0], "method");
  std::weak_ptr<Owner<NativeServer>> weak = owner_;
  auto mailbox = mailbox_;
  server.handle_stream(
      method,
      [weak, mailbox](plexus::CallContext& ctx, std::string payload,
                      plexus::Stream stream) -> asio::awaitable<plexus::Result<std::string>> {
        auto done = std::make_shared<Completion>(ctx.io_executor());
        auto outcome = std::make_shared<HandlerOutcome>();
        outcome->finish = [done](plexus::Result<std::string> r) { done->complete(std::move(r)); };
        mailbox->post([weak, method = std::string(ctx.method()), payload = std::move(payload),
                       stream, outcome, facts = facts_of(ctx)](napi_env raw) mutable {
          auto owner = weak.lock();
          if (!owner || owner->object == nullptr) return;  // ~HandlerOutcome ends the stream
          Napi::Env env(raw);
          Napi::Object js_stream = NativeStream::wrap(env, stream, std::move(outcome));
          owner->object->emit(
              {Napi::String::New(env, "stream"), Napi::String::New(env, method),
               to_buffer(env, std::move(payload)), js_stream,
               call_meta(env, facts.peer, facts.trace, facts.message_id, facts.timeout_ms)});
        });
        outcome.reset();  // the event (then the stream object) owns it now
        co_return co_await done->wait();
      });
  return env.Undefined();
}

Napi::Value NativeServer::remove(const Napi::CallbackInfo& info) {
  open_server(info.Env()).remove(string_arg(info[0], "method"));
  return info.Env().Undefined();
}

// reply(number, payload): the handler's answer. Unknown numbers (answered, cancelled) are ignored.
Napi::Value NativeServer::reply(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw Napi::TypeError::New(env, "call number expected");
  auto it = calls_.find(static_cast<std::uint64_t>(info[0].As<Napi::Number>().DoubleValue()));
  if (it == calls_.end()) return env.Undefined();
  plexus::Responder responder = std::move(it->second);
  calls_.erase(it);
  try {
    responder.reply(payload_arg(info[1], "the handler's answer"));
  } catch (const Napi::Error& e) {
    responder.reply(plexus::make_error(plexus::StatusCode::internal, e.Message()));
    throw;
  }
  return env.Undefined();
}

// fail(number, status, message, detailsJson | undefined)
Napi::Value NativeServer::fail(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "bad arguments");
  auto it = calls_.find(static_cast<std::uint64_t>(info[0].As<Napi::Number>().DoubleValue()));
  if (it == calls_.end()) return env.Undefined();
  plexus::Responder responder = std::move(it->second);
  calls_.erase(it);
  auto code = plexus::status_code_from_wire(
      static_cast<std::uint16_t>(info[1].As<Napi::Number>().Uint32Value()));
  std::string message = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
  std::string details = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
  responder.reply(plexus::make_error(code, std::move(message), std::move(details)));
  return env.Undefined();
}

Napi::Value NativeServer::publish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::PublishOptions options;
  options.wait_for_room = std::chrono::milliseconds(0);  // never block the event loop
  if (auto ok = open_server(env).publish(string_arg(info[0], "topic"),
                                         payload_arg(info[1], "value"), options);
      !ok) {
    throw_error(env, ok.error());
  }
  return env.Undefined();
}

Napi::Value NativeServer::broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::size_t n =
      open_server(env).broadcast(string_arg(info[0], "method"), payload_arg(info[1], "value"));
  return Napi::Number::New(env, static_cast<double>(n));
}

Napi::Value NativeServer::addresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array list = Napi::Array::New(env);
  if (server_) {
    uint32_t i = 0;
    for (const auto& a : server_->addresses()) list.Set(i++, a);
  }
  return list;
}

Napi::Value NativeServer::http_address(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), server_ ? server_->http_address() : "");
}

Napi::Value NativeServer::metrics_text(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), open_server(info.Env()).metrics_text());
}

Napi::Value NativeServer::metrics_json(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), open_server(info.Env()).metrics().dump());
}

Napi::Value NativeServer::connection_count(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(),
                           server_ ? static_cast<double>(server_->connection_count()) : 0.0);
}

Napi::Value NativeServer::ref(const Napi::CallbackInfo& info) {
  set_ref(*this, mailbox_.get(), ref_, true);
  return info.Env().Undefined();
}

Napi::Value NativeServer::unref(const Napi::CallbackInfo& info) {
  set_ref(*this, mailbox_.get(), ref_, false);
  return info.Env().Undefined();
}

// close(drainMs) -> Promise: shutdown (GOAWAY, in-flight calls finish up to drainMs) runs on the
// thread pool, so JavaScript handlers can still answer while it drains.
Napi::Value NativeServer::close(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::Millis drain{5000};
  if (info[0].IsNumber()) {
    drain = plexus::Millis(static_cast<std::int64_t>(info[0].As<Napi::Number>().DoubleValue()));
  }
  if (!server_ || closing_) {
    return run_blocking<bool>(
        env, [] { return plexus::Result<bool>(true); },
        [](Napi::Env env, bool&) -> Napi::Value { return env.Undefined(); });
  }
  closing_ = true;
  auto server = server_;
  std::weak_ptr<Owner<NativeServer>> weak = owner_;
  return run_blocking<bool>(
      env,
      [server, drain]() -> plexus::Result<bool> {
        server->shutdown(drain);
        return true;
      },
      [weak](Napi::Env env, bool&) -> Napi::Value {
        if (auto owner = weak.lock(); owner && owner->object) owner->object->finish_close(true);
        return env.Undefined();
      });
}

void NativeServer::finish_close(bool run_javascript) {
  if (!mailbox_) return;
  if (server_) {
    if (!closing_) server_->shutdown(plexus::Millis{0});
    server_.reset();
  }
  Napi::Env env = Env();
  const int held = run_javascript ? mailbox_->close() : mailbox_->close_silently();
  calls_.clear();  // each unanswered responder fails its call
  if (run_javascript && held > 0) Unref();
  owner_->object = nullptr;
  addon(env).live.erase(this);
  mailbox_.reset();
}

}  // namespace plexus_node

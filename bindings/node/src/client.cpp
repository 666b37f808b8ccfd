#include "client.hpp"

#include <utility>

#include "stream.hpp"

namespace plexus_node {

namespace {

plexus::Error closed_error() {
  return plexus::Error{plexus::StatusCode::unavailable, "the client is closed", ""};
}

[[noreturn]] void throw_error(Napi::Env env, const plexus::Error& error) {
  throw Napi::Error(env, make_error(env, error));
}

plexus::ClientOptions client_options(const Napi::Object& o) {
  plexus::ClientOptions options;
  if (auto v = string_option(o, "address")) options.address = *v;
  if (auto v = string_option(o, "name")) options.name = *v;
  if (auto v = string_option(o, "token")) options.token = *v;
  if (auto v = millis_option(o, "connectTimeoutMs")) options.connect_timeout = *v;
  if (auto v = millis_option(o, "waitForServerMs")) options.wait_for_server = *v;
  if (auto v = bool_option(o, "waitForReady")) options.wait_for_ready = *v;
  if (auto v = number_option(o, "maxMessageSize")) {
    if (*v < 1 || *v > 4294967295.0) {
      throw Napi::RangeError::New(o.Env(), "options.maxMessageSize must be 1 .. 2^32-1");
    }
    options.max_message_size = static_cast<std::uint32_t>(*v);
  }
  if (auto v = millis_option(o, "heartbeatIntervalMs")) options.heartbeat_interval = *v;
  if (auto v = millis_option(o, "heartbeatTimeoutMs")) options.heartbeat_timeout = *v;
  Napi::Value reconnect = o.Get("reconnect");
  if (reconnect.IsBoolean()) {
    options.reconnect.enabled = reconnect.As<Napi::Boolean>().Value();
  } else if (reconnect.IsObject()) {
    auto r = reconnect.As<Napi::Object>();
    if (auto v = bool_option(r, "enabled")) options.reconnect.enabled = *v;
    if (auto v = millis_option(r, "initialDelayMs")) options.reconnect.initial_delay = *v;
    if (auto v = millis_option(r, "maxDelayMs")) options.reconnect.max_delay = *v;
    if (auto v = number_option(r, "maxAttempts")) options.reconnect.max_attempts = int(*v);
  } else if (!reconnect.IsUndefined() && !reconnect.IsNull()) {
    throw Napi::TypeError::New(o.Env(), "options.reconnect must be a boolean or an object");
  }
  Napi::Value tls = o.Get("tls");
  if (tls.IsObject()) {
    auto t = tls.As<Napi::Object>();
    if (auto v = string_option(t, "caFile")) options.tls.ca_file = *v;
    if (auto v = string_option(t, "serverName")) options.tls.server_name = *v;
    if (auto v = string_option(t, "certificateFile")) options.tls.certificate_file = *v;
    if (auto v = string_option(t, "privateKeyFile")) options.tls.private_key_file = *v;
  }
  return options;
}

}  // namespace

void NativeClient::define(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(
      env, "NativeClient",
      {StaticMethod<&NativeClient::connect>("connect"), InstanceMethod<&NativeClient::call>("call"),
       InstanceMethod<&NativeClient::cancel>("cancel"),
       InstanceMethod<&NativeClient::notify>("notify"),
       InstanceMethod<&NativeClient::publish>("publish"),
       InstanceMethod<&NativeClient::subscribe>("subscribe"),
       InstanceMethod<&NativeClient::unsubscribe>("unsubscribe"),
       InstanceMethod<&NativeClient::open_stream>("openStream"),
       InstanceMethod<&NativeClient::state>("state"), InstanceMethod<&NativeClient::stats>("stats"),
       InstanceMethod<&NativeClient::ping>("ping"), InstanceMethod<&NativeClient::close>("close"),
       InstanceMethod<&NativeClient::ref>("ref"), InstanceMethod<&NativeClient::unref>("unref")});
  addon(env).client_class = Napi::Persistent(cls);
  exports.Set("NativeClient", cls);
}

// connect(options, onEvent) -> Promise<NativeClient>. The handshake blocks, so it runs on the
// thread pool; the event loop stays free.
Napi::Value NativeClient::connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsObject()) throw Napi::TypeError::New(env, "options must be an object");
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onEvent must be a function");
  plexus::ClientOptions options = client_options(info[0].As<Napi::Object>());
  auto on_event =
      std::make_shared<Napi::FunctionReference>(Napi::Persistent(info[1].As<Napi::Function>()));
  plexus::Runtime* rt = &runtime(env);
  return run_blocking<std::shared_ptr<plexus::Client>>(
      env,
      [rt, options = std::move(options)]() -> plexus::Result<std::shared_ptr<plexus::Client>> {
        auto client = plexus::Client::connect(*rt, options);
        if (!client) return tl::unexpected(client.error());
        return std::shared_ptr<plexus::Client>(std::move(*client));
      },
      [on_event](Napi::Env env, std::shared_ptr<plexus::Client>& client) -> Napi::Value {
        auto* holder = new std::shared_ptr<plexus::Client>(std::move(client));
        return addon(env).client_class.New(
            {Napi::External<std::shared_ptr<plexus::Client>>::New(
                 env, holder, [](Napi::Env, std::shared_ptr<plexus::Client>* h) { delete h; }),
             on_event->Value()});
      });
}

NativeClient::NativeClient(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeClient>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal() || !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "use plexus.connect() to make a client");
  }
  auto* holder = info[0].As<Napi::External<std::shared_ptr<plexus::Client>>>().Data();
  client_ = std::move(*holder);
  // Weak here, kept alive by the wrapper object itself: the listener refers back to the
  // JavaScript client, and a strong reference from native code would make that a cycle the
  // collector cannot free.
  Value().Set("_onEvent", info[1]);
  on_event_ = Napi::Weak(info[1].As<Napi::Function>());
  mailbox_ = Mailbox::create(env, "plexus.Client", addon(env).exiting);
  owner_ = std::make_shared<Owner<NativeClient>>();
  owner_->object = this;
  owner_->mailbox = mailbox_;
  addon(env).live.insert(this);
  hold(*this, *mailbox_);  // ref_
  std::weak_ptr<Owner<NativeClient>> weak = owner_;
  auto mailbox = mailbox_;
  client_->on_state_change([weak, mailbox](plexus::ConnectionState state) {
    mailbox->post([weak, state](napi_env raw) {
      auto owner = weak.lock();
      if (!owner || owner->object == nullptr) return;
      Napi::Env env(raw);
      owner->object->emit(env, {Napi::String::New(env, "state"),
                                Napi::String::New(env, std::string(plexus::to_string(state)))});
    });
  });
}

NativeClient::~NativeClient() {
  teardown();
}

void NativeClient::teardown() {
  close_now(false);
}

void NativeClient::emit(Napi::Env env, std::initializer_list<napi_value> args) {
  // Empty once the wrapper is being collected: nobody is left to tell.
  if (on_event_.IsEmpty() || on_event_.Value().IsEmpty()) return;
  // lib/client.js's dispatcher never throws: it reports a listener's exception as uncaught.
  on_event_.Call(args);
  (void)env;
}

plexus::Client& NativeClient::open_client(Napi::Env env) {
  if (!client_) throw_error(env, closed_error());
  return *client_;
}

// call(method, payload, timeoutMs | undefined, traceId | undefined) -> [number, Promise<Buffer>]
Napi::Value NativeClient::call(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::Client& c = open_client(env);
  std::string method = string_arg(info[0], "method");
  std::string payload = payload_arg(info[1], "value");
  plexus::CallOptions options;
  if (info[2].IsNumber()) {
    double ms = info[2].As<Napi::Number>().DoubleValue();
    if (!(ms >= 0 && ms <= 1e12)) throw Napi::RangeError::New(env, "timeoutMs must be 0 .. 1e12");
    options.timeout = plexus::Millis(static_cast<std::int64_t>(ms));
  }
  if (info[3].IsString()) options.trace_id = info[3].As<Napi::String>().Utf8Value();

  napi_deferred deferred;
  napi_value promise;
  napi_create_promise(env, &deferred, &promise);
  const std::uint64_t number = ++next_call_;
  pending_.emplace(number, PendingCall{deferred, 0});
  hold(*this, *mailbox_);
  std::weak_ptr<Owner<NativeClient>> weak = owner_;
  auto mailbox = mailbox_;
  const plexus::CallId id = c.call_async(
      method, std::move(payload), std::move(options),
      [weak, mailbox, number](plexus::Result<std::string> result) mutable {
        mailbox->post([weak, number, result = std::move(result)](napi_env raw) mutable {
          auto owner = weak.lock();
          if (!owner || owner->object == nullptr) return;
          NativeClient& self = *owner->object;
          auto it = self.pending_.find(number);
          if (it == self.pending_.end()) return;  // rejected by close()
          napi_deferred d = it->second.deferred;
          self.pending_.erase(it);
          Napi::Env env(raw);
          if (result) {
            napi_resolve_deferred(env, d, to_buffer(env, std::move(*result)));
          } else {
            napi_reject_deferred(env, d, make_error(env, result.error()));
          }
          unhold(self, *self.mailbox_);
        });
      });
  if (auto it = pending_.find(number); it != pending_.end()) it->second.id = id;
  Napi::Array pair = Napi::Array::New(env, 2);
  pair.Set(0u, Napi::Number::New(env, static_cast<double>(number)));
  pair.Set(1u, Napi::Value(env, promise));
  return pair;
}

// cancel(number): the call completes with `cancelled` and the callee is told to stop.
Napi::Value NativeClient::cancel(const Napi::CallbackInfo& info) {
  if (!client_ || !info[0].IsNumber()) return info.Env().Undefined();
  auto number = static_cast<std::uint64_t>(info[0].As<Napi::Number>().DoubleValue());
  if (auto it = pending_.find(number); it != pending_.end()) client_->cancel(it->second.id);
  return info.Env().Undefined();
}

namespace {
// One-way sends from the JavaScript thread never wait for room: a full send queue fails at once
// with resource_exhausted instead of blocking the event loop.
plexus::SendOptions no_wait() {
  plexus::SendOptions options;
  options.wait_for_room = std::chrono::milliseconds(0);
  return options;
}
}  // namespace

Napi::Value NativeClient::notify(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::Client& c = open_client(env);
  std::string method = string_arg(info[0], "method");
  std::string payload = payload_arg(info[1], "value");
  if (auto sent = c.notify(method, std::move(payload), no_wait()); !sent) {
    throw_error(env, sent.error());
  }
  return env.Undefined();
}

Napi::Value NativeClient::publish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::Client& c = open_client(env);
  std::string topic = string_arg(info[0], "topic");
  std::string payload = payload_arg(info[1], "value");
  if (auto sent = c.publish(topic, std::move(payload), no_wait()); !sent) {
    throw_error(env, sent.error());
  }
  return env.Undefined();
}

// subscribe(pattern, queueLimit, policy, key) -> Promise<id>; messages arrive as
// onEvent('message', key, topic, Buffer), `key` being the caller's name for the subscription.
Napi::Value NativeClient::subscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  open_client(env);
  std::string pattern = string_arg(info[0], "pattern");
  plexus::SubscribeOptions options;
  if (info[1].IsNumber()) {
    double limit = info[1].As<Napi::Number>().DoubleValue();
    if (!(limit >= 1 && limit <= 1e6)) {
      throw Napi::RangeError::New(env, "queueLimit must be 1 .. 1000000");
    }
    options.queue_limit = static_cast<std::size_t>(limit);
  }
  if (info[2].IsString()) {
    auto policy = plexus::parse_slow_policy(info[2].As<Napi::String>().Utf8Value());
    if (!policy) throw Napi::TypeError::New(env, policy.error().message);
    options.policy = *policy;
  }
  const double key = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : 0;
  std::weak_ptr<Owner<NativeClient>> weak = owner_;
  auto mailbox = mailbox_;
  plexus::MessageHandler handler = [weak, mailbox, key](std::string_view topic,
                                                        std::string_view payload) {
    mailbox->post([weak, key, topic = std::string(topic),
                   payload = std::string(payload)](napi_env raw) mutable {
      auto owner = weak.lock();
      if (!owner || owner->object == nullptr) return;
      Napi::Env env(raw);
      owner->object->emit(env, {Napi::String::New(env, "message"), Napi::Number::New(env, key),
                                Napi::String::New(env, topic), to_buffer(env, std::move(payload))});
    });
  };
  // The subscription holds the process open, like a socket with a 'data' listener.
  hold(*this, *mailbox_);
  ++subscriptions_;
  auto client = client_;
  auto promise = run_blocking<plexus::SubscriptionId>(
      env,
      [client, pattern = std::move(pattern), handler = std::move(handler),
       options]() mutable -> plexus::Result<plexus::SubscriptionId> {
        return client->subscribe(pattern, std::move(handler), options);
      },
      [](Napi::Env env, plexus::SubscriptionId& id) -> Napi::Value {
        return Napi::Number::New(env, static_cast<double>(id));
      });
  return promise;
}

// unsubscribe(id | undefined): undefined undoes a subscribe() that failed.
Napi::Value NativeClient::unsubscribe(const Napi::CallbackInfo& info) {
  if (client_ && info[0].IsNumber()) {
    client_->unsubscribe(
        static_cast<plexus::SubscriptionId>(info[0].As<Napi::Number>().DoubleValue()));
  }
  if (subscriptions_ > 0) {
    --subscriptions_;
    unhold(*this, *mailbox_);
  }
  return info.Env().Undefined();
}

Napi::Value NativeClient::open_stream(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::Client& c = open_client(env);
  std::string method = string_arg(info[0], "method");
  std::string payload = payload_arg(info[1], "value");
  plexus::StreamOptions options;
  if (info[2].IsNumber()) {
    double items = info[2].As<Napi::Number>().DoubleValue();
    if (!(items >= 1 && items <= 4294967295.0)) {
      throw Napi::RangeError::New(env, "window.items must be 1 .. 2^32-1");
    }
    options.window.items = static_cast<std::uint32_t>(items);
  }
  if (info[3].IsNumber()) {
    double bytes = info[3].As<Napi::Number>().DoubleValue();
    if (!(bytes >= 1 && bytes <= 9007199254740991.0)) {
      throw Napi::RangeError::New(env, "window.bytes must be >= 1");
    }
    options.window.bytes = static_cast<std::uint64_t>(bytes);
  }
  plexus::Stream stream = c.open_stream(method, std::move(payload), options);
  return NativeStream::wrap(env, std::move(stream));
}

Napi::Value NativeClient::state(const Napi::CallbackInfo& info) {
  std::string_view s = client_ ? plexus::to_string(client_->state()) : "closed";
  return Napi::String::New(info.Env(), std::string(s));
}

Napi::Value NativeClient::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::ClientStats s = open_client(env).stats();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* key, std::uint64_t v) { o.Set(key, static_cast<double>(v)); };
  set("reconnects", s.reconnects);
  set("framesIn", s.frames_in);
  set("framesOut", s.frames_out);
  set("writeBatches", s.write_batches);
  set("shmMappedBytes", s.shm_mapped_bytes);
  set("sendRefusals", s.send_refusals);
  set("unsentOnClose", s.unsent_on_close);
  set("callsInFlight", pending_.size());
  return o;
}

// ping(timeoutMs) -> Promise<number>: a protocol round trip in microseconds.
Napi::Value NativeClient::ping(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  open_client(env);
  plexus::Millis timeout{5000};
  if (info[0].IsNumber()) {
    timeout = plexus::Millis(static_cast<std::int64_t>(info[0].As<Napi::Number>().DoubleValue()));
  }
  auto client = client_;
  return run_blocking<std::chrono::nanoseconds>(
      env, [client, timeout] { return client->ping(timeout); },
      [](Napi::Env env, std::chrono::nanoseconds& rtt) -> Napi::Value {
        return Napi::Number::New(env, static_cast<double>(rtt.count()) / 1000.0);
      });
}

Napi::Value NativeClient::ref(const Napi::CallbackInfo& info) {
  set_ref(*this, mailbox_.get(), ref_, true);
  return info.Env().Undefined();
}

Napi::Value NativeClient::unref(const Napi::CallbackInfo& info) {
  set_ref(*this, mailbox_.get(), ref_, false);
  return info.Env().Undefined();
}

Napi::Value NativeClient::close(const Napi::CallbackInfo& info) {
  close_now(true);
  return info.Env().Undefined();
}

void NativeClient::close_now(bool run_javascript) {
  if (!mailbox_) return;
  if (client_) {
    client_->close();
    // Drops this reference; the client is destroyed here (which waits for its last completions)
    // unless blocking work on the thread pool still holds it.
    client_.reset();
  }
  Napi::Env env = Env();
  if (run_javascript) {
    const bool held = mailbox_->close() > 0;  // settles what the completions posted
    auto left = std::move(pending_);
    for (auto& [number, call] : left) {
      napi_reject_deferred(env, call.deferred, make_error(env, closed_error()));
    }
    if (held) Unref();
  } else {
    // Teardown: no JavaScript may run; promises left unsettled go with the environment.
    mailbox_->close_silently();
    pending_.clear();
  }
  owner_->object = nullptr;
  addon(env).live.erase(this);
  mailbox_.reset();
}

}  // namespace plexus_node

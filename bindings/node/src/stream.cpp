#include "stream.hpp"

#include <utility>
#include <vector>

namespace plexus_node {

namespace {
// One pull takes what has arrived, up to these: enough to amortise the hop to the JavaScript
// thread, small enough that a pull never holds much more than the stream's window.
constexpr std::size_t kPullItems = 512;
constexpr std::size_t kPullBytes = 1u << 20;

struct Batch {
  std::vector<std::string> items;
  bool end = false;
  std::optional<plexus::Error> error;
};
}  // namespace

void NativeStream::define(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(
      env, "NativeStream",
      {InstanceMethod<&NativeStream::pull>("pull"), InstanceMethod<&NativeStream::write>("write"),
       InstanceMethod<&NativeStream::close_write>("closeWrite"),
       InstanceMethod<&NativeStream::cancel>("cancel"),
       InstanceMethod<&NativeStream::set_progress>("setProgress"),
       InstanceMethod<&NativeStream::progress>("progress"),
       InstanceMethod<&NativeStream::outcome>("outcome"),
       InstanceMethod<&NativeStream::stats>("stats"),
       InstanceMethod<&NativeStream::finish>("finish")});
  addon(env).stream_class = Napi::Persistent(cls);
  exports.Set("NativeStream", cls);
}

namespace {
struct StreamSeed {
  plexus::Stream stream;
  std::shared_ptr<HandlerOutcome> outcome;
};
}  // namespace

Napi::Object NativeStream::wrap(Napi::Env env, plexus::Stream stream,
                                std::shared_ptr<HandlerOutcome> outcome) {
  auto* seed = new StreamSeed{std::move(stream), std::move(outcome)};
  return addon(env).stream_class.New(
      {Napi::External<StreamSeed>::New(env, seed, [](Napi::Env, StreamSeed* s) { delete s; })});
}

NativeStream::NativeStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeStream>(info) {
  Napi::Env env = info.Env();
  if (!info[0].IsExternal()) throw Napi::TypeError::New(env, "use client.openStream()");
  auto* seed = info[0].As<Napi::External<StreamSeed>>().Data();
  stream_ = std::move(seed->stream);
  outcome_ = std::move(seed->outcome);
  mailbox_ = Mailbox::create(env, "plexus.Stream", addon(env).exiting);
  owner_ = std::make_shared<Owner<NativeStream>>();
  owner_->object = this;
  owner_->mailbox = mailbox_;
  addon(env).live.insert(this);
}

NativeStream::~NativeStream() {
  teardown();
}

void NativeStream::teardown() {
  if (released_) return;
  // Dropped while open (collected, or the environment going away): end it both ways, and let a
  // handler's coroutine finish.
  if (!ended_) stream_.cancel("the stream's JavaScript object was dropped");
  if (outcome_ && outcome_->finish) {
    outcome_->finish(plexus::make_error(plexus::StatusCode::cancelled, "stream dropped"));
  }
  mailbox_->close_silently();
  released_ = true;
  owner_->object = nullptr;
  addon(Env()).live.erase(this);
}

napi_deferred NativeStream::begin(Napi::Env env, napi_value* promise) {
  napi_deferred deferred;
  napi_create_promise(env, &deferred, promise);
  if (in_flight_++ == 0) hold(*this, *mailbox_);
  return deferred;
}

void NativeStream::settle_and_unhold(Napi::Env env, napi_deferred deferred, napi_value value,
                                     bool ok) {
  if (ok) {
    napi_resolve_deferred(env, deferred, value);
  } else {
    napi_reject_deferred(env, deferred, value);
  }
  if (--in_flight_ == 0) unhold(*this, *mailbox_);
}

// pull() -> Promise<Buffer[] | null>: the items that arrived (at least one), null at the end;
// rejects with the stream's error. One pull at a time.
Napi::Value NativeStream::pull(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  napi_value promise;
  napi_deferred deferred = begin(env, &promise);
  std::weak_ptr<Owner<NativeStream>> weak = owner_;
  auto mailbox = mailbox_;
  plexus::Stream stream = stream_;
  stream_.start_read(
      [weak, mailbox, deferred, stream](plexus::Result<std::optional<std::string>> first) mutable {
        Batch batch;
        if (!first) {
          batch.error = first.error();
        } else if (!*first) {
          batch.end = true;
        } else {
          std::size_t bytes = (*first)->size();
          batch.items.push_back(std::move(**first));
          // On the stream's I/O thread here: take what has already arrived without another hop.
          while (batch.items.size() < kPullItems && bytes < kPullBytes) {
            auto more = stream.try_read();
            if (!more) break;
            bytes += more->size();
            batch.items.push_back(std::move(*more));
          }
        }
        mailbox->post([weak, deferred, batch = std::move(batch)](napi_env raw) mutable {
          auto owner = weak.lock();
          if (!owner || owner->object == nullptr) return;
          NativeStream& self = *owner->object;
          Napi::Env env(raw);
          if (batch.error) {
            self.ended_ = true;
            self.settle_and_unhold(env, deferred, make_error(env, *batch.error), false);
            return;
          }
          if (batch.end) {
            self.ended_ = true;
            self.settle_and_unhold(env, deferred, env.Null(), true);
            return;
          }
          Napi::Array items = Napi::Array::New(env, batch.items.size());
          for (std::size_t i = 0; i < batch.items.size(); ++i) {
            items.Set(static_cast<uint32_t>(i), to_buffer(env, std::move(batch.items[i])));
          }
          self.settle_and_unhold(env, deferred, items, true);
        });
      });
  return Napi::Value(env, promise);
}

// write(payload) -> Promise<void>: settles once the item went out within the peer's credit.
Napi::Value NativeStream::write(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string item = payload_arg(info[0], "item");
  napi_value promise;
  napi_deferred deferred = begin(env, &promise);
  std::weak_ptr<Owner<NativeStream>> weak = owner_;
  auto mailbox = mailbox_;
  stream_.start_write(std::move(item), [weak, mailbox, deferred](plexus::Result<void> r) {
    mailbox->post([weak, deferred, r = std::move(r)](napi_env raw) {
      auto owner = weak.lock();
      if (!owner || owner->object == nullptr) return;
      Napi::Env env(raw);
      if (r) {
        owner->object->settle_and_unhold(env, deferred, env.Undefined(), true);
      } else {
        owner->object->settle_and_unhold(env, deferred, make_error(env, r.error()), false);
      }
    });
  });
  return Napi::Value(env, promise);
}

Napi::Value NativeStream::close_write(const Napi::CallbackInfo& info) {
  stream_.close_write();
  return info.Env().Undefined();
}

Napi::Value NativeStream::cancel(const Napi::CallbackInfo& info) {
  std::string reason = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value()
                                          : std::string("cancelled by the reader");
  stream_.cancel(reason);
  return info.Env().Undefined();
}

// setProgress(total, done?): the producer's progress, carried on the next item written.
Napi::Value NativeStream::set_progress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || info[0].As<Napi::Number>().DoubleValue() < 0) {
    throw Napi::TypeError::New(env, "total must be a number >= 0");
  }
  std::optional<std::uint64_t> done;
  if (info[1].IsNumber())
    done = static_cast<std::uint64_t>(info[1].As<Napi::Number>().DoubleValue());
  stream_.set_progress(static_cast<std::uint64_t>(info[0].As<Napi::Number>().DoubleValue()), done);
  return env.Undefined();
}

// progress() -> { done, total?, rate, etaMs? }
Napi::Value NativeStream::progress(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::StreamProgress p = stream_.progress();
  Napi::Object o = Napi::Object::New(env);
  o.Set("done", static_cast<double>(p.done));
  if (p.total) o.Set("total", static_cast<double>(*p.total));
  o.Set("rate", p.rate);
  if (p.eta) o.Set("etaMs", p.eta->count() * 1000.0);
  return o;
}

// outcome() -> Buffer (the handler's returned payload) | PlexusError | undefined (still open)
Napi::Value NativeStream::outcome(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto o = stream_.outcome();
  if (!o) return env.Undefined();
  if (!*o) return make_error(env, o->error());
  return to_buffer(env, std::string(**o));
}

Napi::Value NativeStream::stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  plexus::StreamStats s = stream_.stats();
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* key, std::uint64_t v) { o.Set(key, static_cast<double>(v)); };
  set("itemsSent", s.items_sent);
  set("itemsReceived", s.items_received);
  set("bufferedItems", s.buffered_items);
  set("peakBufferedItems", s.peak_buffered_items);
  set("peakBufferedBytes", s.peak_buffered_bytes);
  set("creditWaits", s.credit_waits);
  return o;
}

// finish(payload) or finish(undefined, code, message, details): a stream handler's end.
Napi::Value NativeStream::finish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!outcome_ || !outcome_->finish) return env.Undefined();
  auto finish = std::exchange(outcome_->finish, nullptr);
  if (info.Length() >= 2 && info[1].IsNumber()) {
    auto code = plexus::status_code_from_wire(
        static_cast<std::uint16_t>(info[1].As<Napi::Number>().Uint32Value()));
    std::string message = info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
    std::string details = info[3].IsString() ? info[3].As<Napi::String>().Utf8Value() : "";
    finish(plexus::make_error(code, std::move(message), std::move(details)));
  } else {
    finish(info[0].IsUndefined() ? std::string() : payload_arg(info[0], "result"));
  }
  ended_ = true;
  return env.Undefined();
}

}  // namespace plexus_node

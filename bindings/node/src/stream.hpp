// A plexus::Stream's native half, for both ends: the opener's (client.openStream) and a Node
// stream handler's (server.handleStream). Items are read ahead in batches on the I/O thread, at
// most one batch per pull(): the JavaScript consumer's pace is what grants the producer credit.
#pragma once

#include <napi.h>

#include <functional>
#include <memory>

#include "addon.hpp"
#include "mailbox.hpp"
#include "owner.hpp"
#include "plexus/stream.hpp"

namespace plexus_node {

// How a stream handler's coroutine learns that its JavaScript generator is done (server.cpp).
// Dropped without an answer (the server closed before the handler ran, or the stream object
// was collected), it ends the handler with `cancelled`, so no coroutine waits forever.
struct HandlerOutcome {
  std::function<void(plexus::Result<std::string>)> finish;  // any thread, once
  ~HandlerOutcome() {
    if (finish) finish(plexus::make_error(plexus::StatusCode::cancelled, "stream handler dropped"));
  }
};

class NativeStream final : public Napi::ObjectWrap<NativeStream>, public Closable {
 public:
  static void define(Napi::Env env, Napi::Object exports);
  // A JavaScript object for `stream`; `outcome` is set for a handler's end.
  static Napi::Object wrap(Napi::Env env, plexus::Stream stream,
                           std::shared_ptr<HandlerOutcome> outcome = nullptr);
  explicit NativeStream(const Napi::CallbackInfo& info);
  ~NativeStream() override;
  void teardown() override;

 private:
  Napi::Value pull(const Napi::CallbackInfo& info);
  Napi::Value write(const Napi::CallbackInfo& info);
  Napi::Value close_write(const Napi::CallbackInfo& info);
  Napi::Value cancel(const Napi::CallbackInfo& info);
  Napi::Value set_progress(const Napi::CallbackInfo& info);
  Napi::Value progress(const Napi::CallbackInfo& info);
  Napi::Value outcome(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value finish(const Napi::CallbackInfo& info);
  // A pull's or a write's promise; the stream is held until settle_and_unhold settles it.
  napi_deferred begin(Napi::Env env, napi_value* promise);
  void settle_and_unhold(Napi::Env env, napi_deferred deferred, napi_value value, bool ok);

  plexus::Stream stream_;
  std::shared_ptr<HandlerOutcome> outcome_;
  std::shared_ptr<Owner<NativeStream>> owner_;
  std::shared_ptr<Mailbox> mailbox_;
  int in_flight_ = 0;   // pulls and writes not yet settled
  bool ended_ = false;  // a pull saw the end or an error
  bool released_ = false;
};

}  // namespace plexus_node

// plexus.Client's native half: one plexus::Client, its calls, one-way messages, subscriptions
// and streams. index.js wraps it in the JavaScript API (lib/client.js).
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>
#include <unordered_map>

#include "addon.hpp"
#include "mailbox.hpp"
#include "owner.hpp"
#include "plexus/client.hpp"

namespace plexus_node {

class NativeClient final : public Napi::ObjectWrap<NativeClient>, public Closable {
 public:
  static void define(Napi::Env env, Napi::Object exports);
  explicit NativeClient(const Napi::CallbackInfo& info);
  ~NativeClient() override;
  void teardown() override;

  // For the streams it opens.
  plexus::Client* client() { return client_.get(); }
  Mailbox& mailbox() { return *mailbox_; }

 private:
  static Napi::Value connect(const Napi::CallbackInfo& info);
  Napi::Value call(const Napi::CallbackInfo& info);
  Napi::Value cancel(const Napi::CallbackInfo& info);
  Napi::Value notify(const Napi::CallbackInfo& info);
  Napi::Value publish(const Napi::CallbackInfo& info);
  Napi::Value subscribe(const Napi::CallbackInfo& info);
  Napi::Value unsubscribe(const Napi::CallbackInfo& info);
  Napi::Value open_stream(const Napi::CallbackInfo& info);
  Napi::Value state(const Napi::CallbackInfo& info);
  Napi::Value stats(const Napi::CallbackInfo& info);
  Napi::Value ping(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value ref(const Napi::CallbackInfo& info);
  Napi::Value unref(const Napi::CallbackInfo& info);

  plexus::Client& open_client(Napi::Env env);  // throws PlexusError unavailable once closed
  void emit(Napi::Env env, std::initializer_list<napi_value> args);
  void close_now(bool run_javascript);

  // Shared with blocking work on the thread pool (subscribe, ping), so that close() while one
  // runs does not free the client under it; the last holder destroys it.
  std::shared_ptr<plexus::Client> client_;
  std::shared_ptr<Owner<NativeClient>> owner_;
  std::shared_ptr<Mailbox> mailbox_;
  Napi::FunctionReference on_event_;  // (kind, ...): 'state', 'message'
  struct PendingCall {
    napi_deferred deferred;
    plexus::CallId id;
  };
  // Calls in flight by their number here (what cancel() takes): settled by their completion,
  // or rejected by close() when the completion can no longer come.
  std::unordered_map<std::uint64_t, PendingCall> pending_;
  std::uint64_t next_call_ = 0;
  std::size_t subscriptions_ = 0;
  // An open client keeps the process alive, as an open net.Socket does, until close() or
  // unref(); an unref'd idle client can be collected (which closes it).
  bool ref_ = true;  // each holds the event loop open, as a listening socket does
  friend struct ClientEvents;
};

}  // namespace plexus_node

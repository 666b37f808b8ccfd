// plexus.Server's native half: one plexus::Server whose handlers are JavaScript functions. A
// call reaches the JavaScript thread as an event; the handler's promise answers it through the
// call's Responder (any thread may answer).
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <unordered_map>

#include "addon.hpp"
#include "mailbox.hpp"
#include "owner.hpp"
#include "plexus/server.hpp"

namespace plexus_node {

class NativeServer final : public Napi::ObjectWrap<NativeServer>, public Closable {
 public:
  static void define(Napi::Env env, Napi::Object exports);
  explicit NativeServer(const Napi::CallbackInfo& info);
  ~NativeServer() override;
  void teardown() override;

 private:
  static Napi::Value create(const Napi::CallbackInfo& info);
  Napi::Value handle(const Napi::CallbackInfo& info);
  Napi::Value handle_stream(const Napi::CallbackInfo& info);
  Napi::Value remove(const Napi::CallbackInfo& info);
  Napi::Value reply(const Napi::CallbackInfo& info);
  Napi::Value fail(const Napi::CallbackInfo& info);
  Napi::Value publish(const Napi::CallbackInfo& info);
  Napi::Value broadcast(const Napi::CallbackInfo& info);
  Napi::Value addresses(const Napi::CallbackInfo& info);
  Napi::Value http_address(const Napi::CallbackInfo& info);
  Napi::Value metrics_text(const Napi::CallbackInfo& info);
  Napi::Value metrics_json(const Napi::CallbackInfo& info);
  Napi::Value connection_count(const Napi::CallbackInfo& info);
  Napi::Value close(const Napi::CallbackInfo& info);
  Napi::Value ref(const Napi::CallbackInfo& info);
  Napi::Value unref(const Napi::CallbackInfo& info);

  plexus::Server& open_server(Napi::Env env);
  void emit(std::initializer_list<napi_value> args);
  void finish_close(bool run_javascript);

  std::shared_ptr<plexus::Server> server_;
  std::shared_ptr<Owner<NativeServer>> owner_;
  std::shared_ptr<Mailbox> mailbox_;
  Napi::FunctionReference on_event_;  // (kind, ...): 'call', 'cancel', 'stream'
  // Calls handed to JavaScript and not answered yet, by their number (JavaScript thread only).
  std::unordered_map<std::uint64_t, plexus::Responder> calls_;
  std::shared_ptr<std::atomic<std::uint64_t>> next_call_ =
      std::make_shared<std::atomic<std::uint64_t>>(0);
  bool closing_ = false;
  bool ref_ = true;  // a listening server keeps the process alive until close() or unref()
  friend struct ServerEvents;
};

}  // namespace plexus_node

// The addon's entry point: registers the native classes and the PlexusError factory that
// lib/errors.js hands over.
#include <napi.h>

#include <cstdlib>

#include "addon.hpp"
#include "client.hpp"
#include "mailbox.hpp"
#include "plexus/log.hpp"
#include "server.hpp"
#include "stream.hpp"

namespace plexus_node {
namespace {

Napi::Value set_error_factory(const Napi::CallbackInfo& info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "a function is expected");
  addon(info.Env()).make_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

}  // namespace

// setLogLevel('trace' | 'debug' | 'info' | 'warn' | 'error' | 'off')
Napi::Value set_log_level(const Napi::CallbackInfo& info) {
  static const std::pair<const char*, plexus::LogLevel> kLevels[] = {
      {"trace", plexus::LogLevel::trace}, {"debug", plexus::LogLevel::debug},
      {"info", plexus::LogLevel::info},   {"warn", plexus::LogLevel::warn},
      {"error", plexus::LogLevel::error}, {"off", plexus::LogLevel::off}};
  std::string level = string_arg(info[0], "level");
  for (const auto& [name, value] : kLevels) {
    if (level == name) {
      plexus::set_log_level(value);
      return info.Env().Undefined();
    }
  }
  throw Napi::TypeError::New(info.Env(), "level must be trace, debug, info, warn, error or off");
}

// exiting(): called from process.on('exit') (lib/native.js).
Napi::Value exiting(const Napi::CallbackInfo& info) {
  addon(info.Env()).exiting->store(true);
  return info.Env().Undefined();
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  // A library in a Node.js process stays quiet unless asked: warnings and errors only, unless
  // PLEXUS_LOG says otherwise.
  if (std::getenv("PLEXUS_LOG") == nullptr) plexus::set_log_level(plexus::LogLevel::warn);
  env.SetInstanceData(new AddonData());
  NativeClient::define(env, exports);
  NativeServer::define(env, exports);
  NativeStream::define(env, exports);
  exports.Set("setErrorFactory", Napi::Function::New(env, set_error_factory));
  exports.Set("setLogLevel", Napi::Function::New(env, set_log_level));
  exports.Set("exiting", Napi::Function::New(env, exiting));
  return exports;
}

}  // namespace plexus_node

static Napi::Object InitPlexus(Napi::Env env, Napi::Object exports) {
  return plexus_node::init(env, exports);
}

NODE_API_MODULE(plexus, InitPlexus)

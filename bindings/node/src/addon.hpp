// What the addon's native objects share: the per-environment state (one plexus Runtime, the
// JavaScript constructors, the PlexusError factory), argument conversion and blocking work.
#pragma once

#include <napi.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "plexus/runtime.hpp"
#include "plexus/status.hpp"

namespace plexus_node {

// A native object that must be closed before its environment goes (a client, a server).
class Closable {
 public:
  virtual ~Closable() = default;
  // Closes without running JavaScript: the environment is being torn down.
  virtual void teardown() = 0;
};

struct AddonData {
  Napi::FunctionReference make_error;  // (code, status, message, details) -> PlexusError
  Napi::FunctionReference client_class;
  Napi::FunctionReference server_class;
  Napi::FunctionReference stream_class;
  std::unique_ptr<plexus::Runtime> runtime;  // made on first use
  std::set<Closable*> live;                  // closed at teardown, before the runtime
  // Set by process.on('exit') in this environment (lib/native.js).
  std::shared_ptr<std::atomic<bool>> exiting = std::make_shared<std::atomic<bool>>(false);
  ~AddonData();
};

AddonData& addon(Napi::Env env);
plexus::Runtime& runtime(Napi::Env env);

// A PlexusError (code name, status number, message, details parsed from JSON when they are).
Napi::Value make_error(Napi::Env env, const plexus::Error& error);

// A payload from JavaScript: a string (UTF-8), a Buffer or any ArrayBufferView. TypeError else.
std::string payload_arg(const Napi::Value& value, const char* what);
std::string string_arg(const Napi::Value& value, const char* what);
// Optional option members: undefined/null give nullopt; a wrong type throws TypeError.
std::optional<double> number_option(const Napi::Object& options, const char* key);
std::optional<std::string> string_option(const Napi::Object& options, const char* key);
std::optional<bool> bool_option(const Napi::Object& options, const char* key);
// A millisecond option: a finite number >= 0.
std::optional<std::chrono::milliseconds> millis_option(const Napi::Object& options,
                                                       const char* key);

// Bytes into a new Buffer (copied when small, moved when large).
Napi::Value to_buffer(Napi::Env env, std::string&& bytes);

// Runs `work` on the libuv thread pool (plexus calls that block: connect, subscribe, shutdown)
// and settles the returned promise on the JavaScript thread with `done`'s value, or rejects it
// with a PlexusError.
template <typename T>
Napi::Promise run_blocking(Napi::Env env, std::function<plexus::Result<T>()> work,
                           std::function<Napi::Value(Napi::Env, T&)> done);

}  // namespace plexus_node

#include "addon_blocking.hpp"

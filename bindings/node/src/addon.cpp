#include "addon.hpp"

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>

namespace plexus_node {

AddonData::~AddonData() {
  // The environment is going away: close what is still open (no JavaScript runs now), then stop
  // the runtime's threads.
  auto open = std::move(live);
  for (Closable* object : open) object->teardown();
  runtime.reset();
}

AddonData& addon(Napi::Env env) {
  return *env.GetInstanceData<AddonData>();
}

plexus::Runtime& runtime(Napi::Env env) {
  auto& data = addon(env);
  if (!data.runtime) {
    // The I/O thread sleeps at once when idle (block), unlike the library's adaptive default:
    // every completion wakes the JavaScript thread anyway, so polling saves only the I/O
    // thread's own wake-up and takes a core from the JavaScript thread and the peer (on 2 cores
    // it doubled the round trip). PLEXUS_NODE_IDLE_WAIT (spin, adaptive, block) overrides it.
    plexus::RuntimeOptions options;
    options.idle_wait = plexus::WaitStrategy::block;
    if (const char* wait = std::getenv("PLEXUS_NODE_IDLE_WAIT")) {
      if (auto parsed = plexus::parse_wait_strategy(wait)) options.idle_wait = *parsed;
    }
    data.runtime = std::make_unique<plexus::Runtime>(options);
  }
  return *data.runtime;
}

Napi::Value make_error(Napi::Env env, const plexus::Error& error) {
  Napi::Value details = env.Undefined();
  if (!error.details.empty()) {
    // Details are JSON object text by contract; anything else is passed on as a string.
    details = Napi::String::New(env, error.details);
    auto parse = env.Global().Get("JSON").As<Napi::Object>().Get("parse").As<Napi::Function>();
    try {
      details = parse.Call({details});
    } catch (const Napi::Error&) {
    }
  }
  return addon(env).make_error.Call(
      {Napi::String::New(env, std::string(plexus::to_string(error.code))),
       Napi::Number::New(env, static_cast<double>(error.code)),
       Napi::String::New(env, error.message), details});
}

std::string payload_arg(const Napi::Value& value, const char* what) {
  if (value.IsString()) return value.As<Napi::String>().Utf8Value();
  if (value.IsBuffer()) {
    auto buffer = value.As<Napi::Buffer<char>>();
    return std::string(buffer.Data(), buffer.Length());
  }
  if (value.IsTypedArray()) {
    auto array = value.As<Napi::TypedArray>();
    auto bytes = array.ArrayBuffer();
    return std::string(static_cast<const char*>(bytes.Data()) + array.ByteOffset(),
                       array.ByteLength());
  }
  if (value.IsArrayBuffer()) {
    auto bytes = value.As<Napi::ArrayBuffer>();
    return std::string(static_cast<const char*>(bytes.Data()), bytes.ByteLength());
  }
  throw Napi::TypeError::New(value.Env(),
                             std::string(what) + " must be a string, a Buffer or a Uint8Array");
}

std::string string_arg(const Napi::Value& value, const char* what) {
  if (!value.IsString()) {
    throw Napi::TypeError::New(value.Env(), std::string(what) + " must be a string");
  }
  return value.As<Napi::String>().Utf8Value();
}

namespace {
Napi::Value member(const Napi::Object& options, const char* key) {
  Napi::Value v = options.Get(key);
  return v;
}
}  // namespace

std::optional<double> number_option(const Napi::Object& options, const char* key) {
  Napi::Value v = member(options, key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue())) {
    throw Napi::TypeError::New(options.Env(),
                               std::string("options.") + key + " must be a finite number");
  }
  return v.As<Napi::Number>().DoubleValue();
}

std::optional<std::string> string_option(const Napi::Object& options, const char* key) {
  Napi::Value v = member(options, key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsString()) {
    throw Napi::TypeError::New(options.Env(), std::string("options.") + key + " must be a string");
  }
  return v.As<Napi::String>().Utf8Value();
}

std::optional<bool> bool_option(const Napi::Object& options, const char* key) {
  Napi::Value v = member(options, key);
  if (v.IsUndefined() || v.IsNull()) return std::nullopt;
  if (!v.IsBoolean()) {
    throw Napi::TypeError::New(options.Env(), std::string("options.") + key + " must be a boolean");
  }
  return v.As<Napi::Boolean>().Value();
}

std::optional<std::chrono::milliseconds> millis_option(const Napi::Object& options,
                                                       const char* key) {
  auto n = number_option(options, key);
  if (!n) return std::nullopt;
  if (*n < 0 || *n > 1e15) {
    throw Napi::RangeError::New(
        options.Env(), std::string("options.") + key + " must be between 0 and 1e15 milliseconds");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(*n));
}

Napi::Value to_buffer(Napi::Env env, std::string&& bytes) {
  // Small answers are copied (cheaper than a finalizer); large ones keep their string.
  if (bytes.size() < 4096) return Napi::Buffer<char>::Copy(env, bytes.data(), bytes.size());
  auto* owned = new std::string(std::move(bytes));
  return Napi::Buffer<char>::NewOrCopy(
      env, owned->data(), owned->size(), [](Napi::Env, char*, std::string* s) { delete s; }, owned);
}

}  // namespace plexus_node

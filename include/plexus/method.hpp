/// \file
/// Typed methods: a descriptor names a method with its request and response types; the codec
/// turns them into payload bytes. JSON (nlohmann::json's to_json/from_json) by default; the type
/// plexus::Bytes passes raw bytes through untouched.
///
/// ```
/// inline constexpr plexus::Method<AddRequest, AddReply> kAdd{"calc.add"};
///
/// plexus::Result<AddReply> add(plexus::CallContext&, AddRequest r) {
///   return AddReply{r.a + r.b};
/// }
///
/// plexus::handle(server, kAdd, add);
///
/// plexus::CallOptions options;
/// options.timeout = plexus::Millis{5000};
/// plexus::Result<AddReply> sum = plexus::call(client, kAdd, AddRequest{1, 2}, options);
/// ```
///
/// Errors: a payload that does not decode fails with invalid_argument, details naming the
/// reason ({"codec":"json","error":"…","errors":[{"path":"","rule":"decode","message":"…"}]},
/// the shape schema validation uses).
#pragma once

#include <string>
#include <string_view>
#include <type_traits>
#include <typeinfo>

#include <nlohmann/json.hpp>

#include "plexus/caller.hpp"
#include "plexus/export.hpp"
#include "plexus/handlers.hpp"

namespace plexus {

/// Raw payload bytes, for methods that carry their own encoding.
struct PLEXUS_EXPORT Bytes {
  std::string data;  ///< the payload, untouched
};

/// A typed method descriptor: the method's name with its request and response types.
/// \tparam Request the request type (JSON-encodable, or Bytes)
/// \tparam Response the response type (JSON-encodable, or Bytes)
template <typename Request, typename Response>
struct Method {
  std::string_view name;  ///< the method's name on the wire
};

/// The payload codec of typed methods and channels: JSON through nlohmann::json, or Bytes as
/// they are.
namespace codec {

/// The payload for `value`: its JSON text, or a Bytes' data unchanged.
template <typename T>
std::string encode(const T& value) {
  if constexpr (std::is_same_v<T, Bytes>) {
    return value.data;
  } else {
    return nlohmann::json(value).dump();
  }
}

/// `payload` as a T: parsed JSON, or for Bytes the bytes unchanged. Fails with invalid_argument
/// (details as above) when it does not parse as a T.
template <typename T>
Result<T> decode(std::string_view payload) {
  if constexpr (std::is_same_v<T, Bytes>) {
    return Bytes{std::string(payload)};
  } else {
    try {
      return nlohmann::json::parse(payload).template get<T>();
    } catch (const nlohmann::json::exception& e) {
      return make_error(
          StatusCode::invalid_argument,
          std::string("payload does not decode as ") + typeid(T).name() + ": " + e.what(),
          // The same shape as a schema violation (plexus/policy.hpp), plus the codec.
          nlohmann::json{{"codec", "json"},
                         {"error", e.what()},
                         {"errors", nlohmann::json::array({nlohmann::json{
                                        {"path", ""}, {"rule", "decode"}, {"message", e.what()}}})}}
              .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    }
  }
}

}  // namespace codec

/// Blocking typed call (not on an I/O thread). Fails as Caller::call does, or with
/// invalid_argument when the answer does not decode.
template <typename Req, typename Resp>
Result<Resp> call(Caller& caller, const Method<Req, Resp>& method, const Req& request,
                  CallOptions options = {}) {
  auto raw = caller.call(method.name, codec::encode(request), std::move(options));
  if (!raw) return tl::unexpected(std::move(raw.error()));
  return codec::decode<Resp>(*raw);
}

/// Callback typed call: `done` gets Result<Resp> on an I/O thread. Returns the id that
/// Caller::cancel takes.
template <typename Req, typename Resp, typename Done>
CallId call_async(Caller& caller, const Method<Req, Resp>& method, const Req& request,
                  CallOptions options, Done done) {
  return caller.call_async(method.name, codec::encode(request), std::move(options),
                           [done = std::move(done)](Result<std::string> raw) mutable {
                             if (!raw) {
                               done(Result<Resp>(tl::unexpected(std::move(raw.error()))));
                               return;
                             }
                             done(codec::decode<Resp>(*raw));
                           });
}

namespace detail {
template <typename Req, typename Resp, typename Fn>
SyncHandler typed_handler(Fn fn) {
  return [fn = std::move(fn)](CallContext& ctx, std::string_view payload) -> Result<std::string> {
    auto request = codec::decode<Req>(payload);
    if (!request) return tl::unexpected(std::move(request.error()));
    Result<Resp> response = fn(ctx, std::move(*request));
    if (!response) return tl::unexpected(std::move(response.error()));
    return codec::encode(*response);
  };
}
}  // namespace detail

/// Typed handler: decodes the request, encodes the answer. Runs on the I/O thread. A request
/// that does not decode is answered with invalid_argument without calling `fn`.
/// `fn(CallContext&, Req) -> Result<Resp>`.
template <typename Req, typename Resp, typename Fn>
void handle(HandlerRegistry& registry, const Method<Req, Resp>& method, Fn fn) {
  registry.handle(std::string(method.name), detail::typed_handler<Req, Resp>(std::move(fn)));
}

/// The same with policies (plexus/policy.hpp); fails as HandlerRegistry::handle does.
template <typename Req, typename Resp, typename Fn>
Result<void> handle(HandlerRegistry& registry, const Method<Req, Resp>& method, Fn fn,
                    HandlerOptions options) {
  return registry.handle(std::string(method.name), detail::typed_handler<Req, Resp>(std::move(fn)),
                         std::move(options));
}

}  // namespace plexus

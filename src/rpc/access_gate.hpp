// What a session asks before it serves its peer: whether the peer may make this call, send
// this notification, publish, subscribe or open this stream. The session's owner builds one
// gate per session once the peer is authenticated (SessionCallbacks::on_hello); a session
// without a gate serves everything, at no cost per message.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/status.hpp"

namespace plexus::rpc {

// The same order as plexus::AccessAction.
enum class PeerAction : std::uint8_t { call, notify, publish, subscribe, stream };

// Called on the session's strand only.
class AccessGate {
 public:
  virtual ~AccessGate() = default;
  // nullopt: allowed. Otherwise the error the peer is told (permission_denied); one-way
  // messages are dropped instead, and counted by the gate.
  virtual std::optional<Error> check(PeerAction action, std::string_view target) = 0;
};

// What the owner's on_hello learned of an accepted peer, beyond what the kernel told.
struct Admission {
  std::string subject;               // a verified token's subject; empty: none presented
  std::vector<std::string> scopes;   // its scopes
  std::shared_ptr<AccessGate> gate;  // null: the peer may do anything a handler serves
  // When the token stops being valid (its "exp"): the session ends then with unauthenticated,
  // and the client must connect again with a fresh token. Unset: no token, no end.
  std::optional<std::chrono::system_clock::time_point> expires;
};

}  // namespace plexus::rpc

#include "wire/handshake.hpp"

namespace plexus::wire {

Metadata hello_metadata(const PeerHello& hello) {
  Metadata md;
  md.magic = kMagic;
  md.version = hello.version;
  md.peer_name = std::string_view(hello.peer_name).substr(0, kMaxNameLength);
  md.capabilities = hello.capabilities;
  md.max_message_size = hello.max_message_size;
  md.heartbeat_interval_ms = hello.heartbeat_interval_ms;
  if (hello.token.size() <= kMaxTokenLength) md.token = hello.token;
  return md;
}

void encode_hello(FrameKind kind, const PeerHello& hello, std::string& out) {
  // A handshake frame has no payload, so the limit check cannot fail.
  (void)encode_frame(kind, 0, hello_metadata(hello), {}, kDefaultMaxMessageSize, out);
}

Result<PeerHello> decode_hello(const Metadata& md) {
  if (md.magic != kMagic) {
    return make_error(StatusCode::protocol_error, "bad handshake magic (expected \"PLXS\")");
  }
  if (!md.version) return make_error(StatusCode::protocol_error, "handshake lacks a version");
  if (*md.version != kProtocolVersion) {
    return make_error(StatusCode::protocol_error,
                      "unsupported protocol version " + std::to_string(*md.version) +
                          " (this peer speaks " + std::to_string(kProtocolVersion) + ")",
                      "{\"supported\":[" + std::to_string(kProtocolVersion) +
                          "],\"offered\":" + std::to_string(*md.version) + "}");
  }
  PeerHello h;
  h.version = *md.version;
  h.peer_name = std::string(md.peer_name);
  h.capabilities = md.capabilities.value_or(0);
  h.max_message_size = md.max_message_size.value_or(kDefaultMaxMessageSize);
  h.heartbeat_interval_ms = md.heartbeat_interval_ms.value_or(0);
  h.token = std::string(md.token);
  return h;
}

}  // namespace plexus::wire

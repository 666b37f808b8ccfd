// TlsConnection: the stream connection (transport/stream/stream_connection.hpp) over a TLS
// stream on a TCP socket. The handshake is done before one is made (tls_transport.cpp), so a
// TlsConnection only reads and writes frames; hot reads are not supported.
#pragma once

#include <string>
#include <system_error>

#include <asio/ip/tcp.hpp>
#include <asio/ssl/stream.hpp>

#include "transport/stream/stream_connection.hpp"

namespace plexus::transport {

// The protocol tag StreamConnection is instantiated with for TLS.
struct TlsOverTcp {
  static constexpr bool is_tls = true;
  using socket = asio::ssl::stream<asio::ip::tcp::socket>;
  // The verified peer certificate's subject, RFC 2253 ("CN=alice,O=Example"); empty if none.
  static std::string peer_subject(socket& stream);
  // The peer closed the TCP connection without a TLS close_notify: an end of stream too.
  static bool closed_without_notify(const std::error_code& ec);
};

using TlsConnection = StreamConnection<TlsOverTcp>;
extern template class StreamConnection<TlsOverTcp>;

}  // namespace plexus::transport

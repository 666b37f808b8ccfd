// TlsConnection: the stream connection (transport/stream/stream_connection.hpp) over a TCP
// socket whose bytes pass through a TlsSession (TLS records made and read in memory). The
// handshake is done before one is made (tls_transport.cpp), so a TlsConnection only reads and
// writes frames, with plain TCP's hot reads and synchronous writes.
#pragma once

#include <asio/ip/tcp.hpp>

#include "transport/stream/stream_connection.hpp"
#include "transport/tls/tls_session.hpp"

namespace plexus::transport {

// The protocol tag StreamConnection is instantiated with for TLS.
struct TlsOverTcp {
  static constexpr bool is_tls = true;
  using socket = asio::ip::tcp::socket;
  using Session = TlsSession;
};

using TlsConnection = StreamConnection<TlsOverTcp>;
extern template class StreamConnection<TlsOverTcp>;

}  // namespace plexus::transport

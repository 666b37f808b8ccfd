// tls://host:port: TCP with TLS (1.3 by default) around the same frames (docs/PROTOCOL.md,
// "The TLS transport"). The listener completes each TLS handshake within the configured
// timeout before it hands the connection out; the dialer verifies the server's certificate
// against the configured CA and name. Both need ConnectionOptions::tls.
#pragma once

#include "transport/registry.hpp"

namespace plexus::transport::tls {

// tls://host:port, parsed as tcp:// is (a numeric IP or localhost; no DNS).
Transport tls_transport();

// tls://host:port for the parser: the address parsed as tcp://, its scheme "tls".
Result<Address> parse_tls_address(std::string_view text);

}  // namespace plexus::transport::tls

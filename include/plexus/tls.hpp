/// \file
/// TlsOptions: certificates, keys and trust for the tls:// transport (ServerOptions::tls,
/// ClientOptions::tls; docs/SECURITY.md, "TLS").
#pragma once

#include <chrono>
#include <string>

#include "plexus/export.hpp"

namespace plexus {

/// TLS settings for tls://host:port addresses. A server reads the server-side members for its
/// tls:// listeners, a client the client-side ones when its address is tls://; each builds its
/// TLS context once (Server::create, Client::connect), loading every file then: a file that
/// cannot be read or used fails with invalid_argument naming it. Files are PEM.
struct PLEXUS_EXPORT TlsOptions {
  /// The certificate chain this side presents: the server's (required for a tls:// listener,
  /// else Server::create fails with failed_precondition), or the client's for mutual TLS.
  std::string certificate_file;
  /// The private key of certificate_file.
  std::string private_key_file;
  /// Server side: when set, mutual TLS: every client must present a certificate signed by this
  /// CA, or its handshake fails; the verified certificate's subject is then
  /// PeerIdentity::certificate. Empty: clients are not asked for a certificate.
  std::string client_ca_file;
  /// Client side: the CA that must have signed the server's certificate. Empty: the system's
  /// default trust store.
  std::string ca_file;
  /// Client side: the name the server's certificate must carry (a subjectAltName DNS name or IP
  /// address), sent as SNI when it is a DNS name. Empty: the host of the address dialed.
  std::string server_name;
  /// The lowest TLS version accepted: "1.3" (the default) or "1.2".
  std::string min_version = "1.3";
  /// Server side: an accepted connection must finish its TLS handshake within this, or it is
  /// closed.
  std::chrono::milliseconds handshake_timeout{5000};
};

}  // namespace plexus

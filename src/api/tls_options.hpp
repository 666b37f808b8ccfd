// TlsOptions (plexus/tls.hpp) as the tls transport's settings, and the TlsConfig a server or a
// client builds from them once (transport/tls/tls_config.hpp).
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "plexus/tls.hpp"
#include "transport/tls/tls_config.hpp"

namespace plexus::detail {

inline transport::TlsSettings tls_settings(const TlsOptions& o, bool server) {
  transport::TlsSettings s;
  s.server = server;
  s.certificate_file = o.certificate_file;
  s.private_key_file = o.private_key_file;
  s.ca_file = server ? o.client_ca_file : o.ca_file;
  s.min_version = o.min_version;
  s.server_name = o.server_name;
  s.handshake_timeout = o.handshake_timeout;
  return s;
}

// The TLS context of a server or client, built when one of its addresses is tls:// (null
// otherwise).
inline Result<std::shared_ptr<transport::TlsConfig>> tls_config_for(const TlsOptions& options,
                                                                    bool server, bool needed) {
  if (!needed) return std::shared_ptr<transport::TlsConfig>();
  return transport::TlsConfig::create(tls_settings(options, server));
}

}  // namespace plexus::detail

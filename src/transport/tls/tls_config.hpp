// The TLS side of a tls:// listener or client: the files it was configured with and the
// asio::ssl::context built from them. Built once per server or client (building loads and
// checks every file); reload() builds a new context from the same files, which connections
// made afterwards use while the ones open keep theirs. Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include <asio/ssl/context.hpp>

#include "plexus/status.hpp"

namespace plexus::transport {

// What a TlsConfig is built from (the public TlsOptions, plexus/tls.hpp, translated).
struct TlsSettings {
  bool server = false;           // a listener's (presents a certificate) or a dialer's
  std::string certificate_file;  // PEM chain: the server's, or the client's for mutual TLS
  std::string private_key_file;  // PEM
  // Server: the CA a client certificate must be signed by (set: mutual TLS, a client without
  // one is refused). Client: the CA that verifies the server; empty: the system's default paths.
  std::string ca_file;
  std::string min_version = "1.3";  // "1.3" or "1.2"
  std::string server_name;          // client: the name the server's certificate must carry
  std::chrono::milliseconds handshake_timeout{5000};  // server: per accepted connection
};

class TlsConfig {
 public:
  // Loads the files: invalid_argument naming the file that cannot be read or used;
  // failed_precondition for a server without a certificate or key.
  static Result<std::shared_ptr<TlsConfig>> create(TlsSettings settings);

  // Builds a new context from the same files; on failure the current one stays.
  Result<void> reload();

  // The context new connections use.
  std::shared_ptr<asio::ssl::context> context() const;
  const TlsSettings& settings() const { return settings_; }

 private:
  explicit TlsConfig(TlsSettings settings) : settings_(std::move(settings)) {}
  static Result<std::shared_ptr<asio::ssl::context>> build(const TlsSettings& settings);
  static Result<std::shared_ptr<asio::ssl::context>> build_or_fail(const TlsSettings& settings);

  TlsSettings settings_;
  mutable std::mutex mu_;
  std::shared_ptr<asio::ssl::context> context_;  // guarded by mu_
};

}  // namespace plexus::transport

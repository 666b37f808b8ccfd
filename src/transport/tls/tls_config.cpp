#include "transport/tls/tls_config.hpp"

#include <exception>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace plexus::transport {
namespace {

// The newest OpenSSL error on the queue, as text (and the queue emptied); `fallback` if none.
std::string openssl_reason(const std::error_code& ec) {
  const unsigned long code = ERR_peek_last_error();
  std::string reason;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    reason = buf;
  } else if (ec) {
    reason = ec.message();
  } else {
    reason = "unknown error";
  }
  ERR_clear_error();
  return reason;
}

Error file_error(const std::string& what, const std::string& file, const std::string& reason) {
  return Error{
      StatusCode::invalid_argument, "cannot use TLS " + what + " file " + file + ": " + reason, {}};
}

}  // namespace

Result<std::shared_ptr<asio::ssl::context>> TlsConfig::build(const TlsSettings& s) {
  ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(s.server ? asio::ssl::context::tls_server
                                                           : asio::ssl::context::tls_client);
  SSL_CTX* native = ctx->native_handle();
  int min_version = 0;
  if (s.min_version == "1.3" || s.min_version.empty()) {
    min_version = TLS1_3_VERSION;
  } else if (s.min_version == "1.2") {
    min_version = TLS1_2_VERSION;
  } else {
    return make_error(StatusCode::invalid_argument,
                      "TLS min_version must be \"1.2\" or \"1.3\", not \"" + s.min_version + "\"");
  }
  SSL_CTX_set_min_proto_version(native, min_version);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_compression |
                   asio::ssl::context::single_dh_use);
  std::error_code ec;
  if (!s.certificate_file.empty() || !s.private_key_file.empty()) {
    if (s.certificate_file.empty()) {
      return make_error(StatusCode::invalid_argument,
                        "a TLS private key file (" + s.private_key_file + ") needs a certificate");
    }
    if (s.private_key_file.empty()) {
      return make_error(StatusCode::invalid_argument,
                        "a TLS certificate file (" + s.certificate_file + ") needs a private key");
    }
    if (ctx->use_certificate_chain_file(s.certificate_file, ec); ec) {
      return tl::unexpected(file_error("certificate", s.certificate_file, openssl_reason(ec)));
    }
    if (ctx->use_private_key_file(s.private_key_file, asio::ssl::context::pem, ec); ec) {
      return tl::unexpected(file_error("private key", s.private_key_file, openssl_reason(ec)));
    }
    if (SSL_CTX_check_private_key(native) != 1) {
      return tl::unexpected(file_error("private key", s.private_key_file,
                                       "it does not match the certificate in " +
                                           s.certificate_file + " (" + openssl_reason({}) + ")"));
    }
  } else if (s.server) {
    return make_error(StatusCode::failed_precondition,
                      "a tls:// listener needs a certificate and a private key "
                      "(TlsOptions::certificate_file, private_key_file; plexus serve --tls-cert, "
                      "--tls-key)");
  }
  if (s.server) {
    if (!s.ca_file.empty()) {
      if (ctx->load_verify_file(s.ca_file, ec); ec) {
        return tl::unexpected(file_error("client CA", s.ca_file, openssl_reason(ec)));
      }
      // The CAs a client is told it may present a certificate of.
      if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(s.ca_file.c_str())) {
        SSL_CTX_set_client_CA_list(native, names);
      }
      ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    } else {
      ctx->set_verify_mode(asio::ssl::verify_none);
    }
    // Resumed sessions keep the verified client certificate; OpenSSL requires a context id.
    static constexpr unsigned char kSessionContext[] = "plexus";
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
  } else {
    if (s.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
      if (ec) {
        return make_error(StatusCode::invalid_argument,
                          "cannot load the system's TLS trust store: " + openssl_reason(ec));
      }
    } else if (ctx->load_verify_file(s.ca_file, ec); ec) {
      return tl::unexpected(file_error("CA", s.ca_file, openssl_reason(ec)));
    }
    ctx->set_verify_mode(asio::ssl::verify_peer);
  }
  ERR_clear_error();
  return ctx;
}

Result<std::shared_ptr<asio::ssl::context>> TlsConfig::build_or_fail(const TlsSettings& s) {
  // asio::ssl::context throws when OpenSSL cannot make a context at all (out of memory).
  try {
    return build(s);
  } catch (const std::exception& e) {
    ERR_clear_error();
    return make_error(StatusCode::internal, std::string("cannot make a TLS context: ") + e.what());
  }
}

Result<std::shared_ptr<TlsConfig>> TlsConfig::create(TlsSettings settings) {
  auto ctx = build_or_fail(settings);
  if (!ctx) return tl::unexpected(ctx.error());
  std::shared_ptr<TlsConfig> config(new TlsConfig(std::move(settings)));
  config->context_ = std::move(*ctx);
  return config;
}

Result<void> TlsConfig::reload() {
  auto ctx = build_or_fail(settings_);
  if (!ctx) return tl::unexpected(ctx.error());
  std::lock_guard lock(mu_);
  context_ = std::move(*ctx);
  return {};
}

std::shared_ptr<asio::ssl::context> TlsConfig::context() const {
  std::lock_guard lock(mu_);
  return context_;
}

}  // namespace plexus::transport

#include "transport/tls/tls_connection.hpp"

#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <asio/ssl/error.hpp>

#include "transport/stream/stream_connection_impl.hpp"

namespace plexus::transport {

std::string TlsOverTcp::peer_subject(socket& stream) {
  SSL* ssl = stream.native_handle();
  if (ssl == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio == nullptr) return {};
  std::string subject;
  if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    if (n > 0 && data != nullptr) subject.assign(data, static_cast<std::size_t>(n));
  }
  BIO_free(bio);
  return subject;
}

bool TlsOverTcp::closed_without_notify(const std::error_code& ec) {
  return ec == asio::ssl::error::stream_truncated;
}

template class StreamConnection<TlsOverTcp>;

}  // namespace plexus::transport

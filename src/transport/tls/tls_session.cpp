#include "transport/tls/tls_session.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace plexus::transport {
// Named, not anonymous: unity builds put several source files in one translation unit.
namespace tls_session_detail {

// The output BIO: what OpenSSL writes is appended to the session's std::string, which
// take_output() hands over whole (a swap) and output_size() measures without a BIO call. A
// memory BIO would copy every record once more and answer each size query through BIO_ctrl.
int output_write(BIO* bio, const char* data, std::size_t n, std::size_t* written) {
  try {
    static_cast<std::string*>(BIO_get_data(bio))->append(data, n);
  } catch (const std::bad_alloc&) {
    return 0;  // SSL_write fails: TlsSession::encrypt reports it
  }
  *written = n;
  return 1;
}

long output_ctrl(BIO* bio, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // nothing to flush: the connection writes what take_output() gives
      return 1;
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
      return static_cast<long>(static_cast<std::string*>(BIO_get_data(bio))->size());
    default:
      return 0;
  }
}

// The input BIO: OpenSSL reads the ciphertext put_input() appended to the session's Input.
// Empty, it asks for more (retry), as a memory BIO with eof_return -1 does, without a memory
// BIO's bookkeeping per record.
int input_read(BIO* bio, char* data, std::size_t n, std::size_t* read) {
  auto* in = static_cast<TlsSession::Input*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  const std::size_t have = in->bytes.size() - in->offset;
  if (have == 0) {
    BIO_set_retry_read(bio);
    return 0;
  }
  const std::size_t k = std::min(n, have);
  std::memcpy(data, in->bytes.data() + in->offset, k);
  in->offset += k;
  *read = k;
  return 1;
}

long input_ctrl(BIO* bio, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_PENDING: {
      const auto* in = static_cast<TlsSession::Input*>(BIO_get_data(bio));
      return static_cast<long>(in->bytes.size() - in->offset);
    }
    default:
      return 0;
  }
}

int bio_create(BIO* bio) {
  BIO_set_init(bio, 1);
  return 1;
}

// Made once, kept for the life of the process (BIO_METHODs are shared by every BIO of the
// kind); nullptr only if OpenSSL is out of memory.
const BIO_METHOD* output_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "plexus TLS output");
    if (m == nullptr) return m;
    BIO_meth_set_write_ex(m, output_write);
    BIO_meth_set_ctrl(m, output_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

const BIO_METHOD* input_method() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "plexus TLS input");
    if (m == nullptr) return m;
    BIO_meth_set_read_ex(m, input_read);
    BIO_meth_set_ctrl(m, input_ctrl);
    BIO_meth_set_create(m, bio_create);
    return m;
  }();
  return method;
}

// SSL_get_error reads the thread's error queue, so a call whose result it may have to explain
// must start with an empty queue. ERR_clear_error empties it by clearing all 16 slots, freeing
// each one's strings (~0.1-0.2 µs, four times per round trip); the queue is nearly always empty
// already, which a peek sees for a tenth of that.
void clear_stale_errors() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace tls_session_detail

using tls_session_detail::clear_stale_errors;
using tls_session_detail::input_method;
using tls_session_detail::output_method;

Result<std::unique_ptr<TlsSession>> TlsSession::create(std::shared_ptr<asio::ssl::context> context,
                                                       bool server) {
  std::unique_ptr<TlsSession> s(new TlsSession());
  s->context_ = std::move(context);
  s->ssl_ = SSL_new(s->context_->native_handle());
  const BIO_METHOD* input = input_method();
  s->in_ = input != nullptr ? BIO_new(input) : nullptr;
  if (s->in_ != nullptr) BIO_set_data(s->in_, &s->input_);
  const BIO_METHOD* output = output_method();
  s->out_ = output != nullptr ? BIO_new(output) : nullptr;
  if (s->out_ != nullptr) BIO_set_data(s->out_, &s->output_);
  if (s->ssl_ == nullptr || s->in_ == nullptr || s->out_ == nullptr) {
    if (s->ssl_ == nullptr) {
      BIO_free(s->in_);
      BIO_free(s->out_);
      s->in_ = s->out_ = nullptr;
    }
    ERR_clear_error();
    return make_error(StatusCode::internal, "cannot start TLS: OpenSSL is out of memory");
  }
  SSL_set_bio(s->ssl_, s->in_, s->out_);  // the session owns both from here
  if (server) {
    SSL_set_accept_state(s->ssl_);
  } else {
    SSL_set_connect_state(s->ssl_);
  }
  return s;
}

TlsSession::~TlsSession() {
  if (ssl_ != nullptr) {
    SSL_free(ssl_);  // and its BIOs
  } else {
    BIO_free(in_);
    BIO_free(out_);
  }
}

void TlsSession::fail(const char* what) {
  const unsigned long e = ERR_peek_last_error();
  const char* reason = e != 0 ? ERR_reason_error_string(e) : nullptr;
  failure_ = reason != nullptr ? reason : what;
  const long verify = SSL_get_verify_result(ssl_);
  if (verify != X509_V_OK) {
    failure_ += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
  }
  ERR_clear_error();
}

TlsSession::Progress TlsSession::handshake() {
  ERR_clear_error();  // SSL_get_error reads the thread's error queue
  const int r = SSL_do_handshake(ssl_);
  if (r == 1) return Progress::done;
  const int err = SSL_get_error(ssl_, r);
  if (err == SSL_ERROR_WANT_READ) return Progress::want_input;
  fail(err == SSL_ERROR_SYSCALL ? "the peer closed the connection during the TLS handshake"
                                : "TLS handshake failed");
  return Progress::failed;
}

void TlsSession::put_input(const char* data, std::size_t n) {
  if (input_.offset == input_.bytes.size()) {
    input_.bytes.clear();  // all read: start over at the front
    input_.offset = 0;
  } else if (input_.offset >= kInputCompactBytes && input_.offset * 2 >= input_.bytes.size()) {
    input_.bytes.erase(0, input_.offset);  // mostly read: drop what was
    input_.offset = 0;
  }
  // Out of memory, the bytes are dropped: the record they belonged to stays incomplete and
  // the connection fails when OpenSSL finds the next one malformed.
  try {
    input_.bytes.append(data, n);
  } catch (const std::bad_alloc&) {
  }
}

TlsSession::Plain TlsSession::read(char* dst, std::size_t n) {
  clear_stale_errors();
  std::size_t got = 0;
  const int r = SSL_read_ex(ssl_, dst, n, &got);
  if (r == 1) return {got, ReadState::data};
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:  // a memory BIO never refuses output: not reached
      return {0, ReadState::want_input};
    case SSL_ERROR_ZERO_RETURN:  // the peer's close_notify
      return {0, ReadState::closed};
    default:
      fail("TLS read failed");
      return {0, ReadState::failed};
  }
}

bool TlsSession::has_buffered_input() const {
  // SSL_has_pending: also a record read but not yet decrypted, not only plaintext left over.
  return SSL_has_pending(ssl_) == 1 || input_.offset < input_.bytes.size();
}

bool TlsSession::encrypt(const char* data, std::size_t n) {
  clear_stale_errors();
  while (n > 0) {
    std::size_t written = 0;
    if (SSL_write_ex(ssl_, data, n, &written) != 1) {
      fail("TLS write failed");
      return false;
    }
    data += written;
    n -= written;
  }
  return true;
}

void TlsSession::take_output(std::string& out) {
  if (out.empty()) {
    out.swap(output_);  // out's capacity comes back here for the next records
  } else {
    out += output_;
  }
  output_.clear();
}

std::string TlsSession::peer_subject() const {
  if (SSL_get_verify_result(ssl_) != X509_V_OK) return {};
  X509* cert = SSL_get0_peer_certificate(ssl_);
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

}  // namespace plexus::transport

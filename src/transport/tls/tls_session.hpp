// One TLS connection's OpenSSL state in memory (BIOs of its own that read from and append to
// strings of the session): ciphertext goes in with put_input() and comes out with
// take_output(), so the socket stays the plain TCP socket that StreamConnection already reads
// without waiting (hot reads) and writes synchronously, and whole batches of frames go through
// one SSL_write and one writev. The handshake is driven by tls_transport.cpp before the
// connection is made. Not thread-safe: one strand owns it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include <asio/ssl/context.hpp>

#include "plexus/status.hpp"

typedef struct ssl_st SSL;
typedef struct bio_st BIO;

namespace plexus::transport {

class TlsSession {
 public:
  // A session of `context` (kept alive with it) for the server's or the client's side;
  // internal when OpenSSL cannot allocate one.
  static Result<std::unique_ptr<TlsSession>> create(std::shared_ptr<asio::ssl::context> context,
                                                    bool server);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  SSL* native_handle() const { return ssl_; }

  enum class Progress { done, want_input, failed };
  // One step of the handshake; what it produced waits in take_output() (also when it failed:
  // the alert that tells the peer why).
  Progress handshake();
  // Why the handshake or a read failed, for people: OpenSSL's reason and, for a certificate
  // that did not verify, what was wrong with it.
  std::string failure() const { return failure_; }

  // Ciphertext from the socket.
  void put_input(const char* data, std::size_t n);
  // Plaintext into [dst, dst + n): bytes > 0, or the reason there is none.
  enum class ReadState { data, want_input, closed, failed };
  struct Plain {
    std::size_t bytes = 0;
    ReadState state = ReadState::want_input;
  };
  Plain read(char* dst, std::size_t n);
  // Whether read() may have plaintext without more input (input not yet decrypted).
  bool has_buffered_input() const;

  // Encrypts plaintext into TLS records waiting in take_output(); false (with failure()) only
  // if OpenSSL fails (out of memory).
  bool encrypt(const char* data, std::size_t n);
  std::size_t output_size() const { return output_.size(); }
  // Moves the ciphertext waiting to be sent to the end of `out`.
  void take_output(std::string& out);

  // Ciphertext received and not yet read by OpenSSL (the input BIO reads it from here).
  struct Input {
    std::string bytes;
    std::size_t offset = 0;  // bytes before it have been read
  };

  // The verified peer certificate's subject, RFC 2253 ("CN=alice,O=Example"); empty if none.
  std::string peer_subject() const;

 private:
  TlsSession() = default;
  void fail(const char* what);

  std::shared_ptr<asio::ssl::context> context_;
  SSL* ssl_ = nullptr;
  // Input read partly (reads paused mid-batch) is moved to the front once this much is read.
  static constexpr std::size_t kInputCompactBytes = 64 * 1024;

  BIO* in_ = nullptr;   // ciphertext received, owned by ssl_; reads input_
  BIO* out_ = nullptr;  // ciphertext to send, owned by ssl_; appends to output_
  Input input_;
  std::string output_;  // ciphertext waiting for take_output()
  std::string failure_;
};

}  // namespace plexus::transport

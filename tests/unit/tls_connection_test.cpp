// TlsConnection's data path (transport/tls/tls_session.hpp): a server connection on a real TCP
// socket whose peer is a bare TlsSession the test drives, so the test decides exactly which TLS
// records arrive when. Frames that came with the handshake, a pause part-way through a burst,
// a frame spread over many records, the connection's own answers, and corrupt records.
#include <gtest/gtest.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "stream_pair.hpp"
#include "transport/tls/tls_connection.hpp"
#include "transport/tls/tls_session.hpp"

namespace plexus::test::tls_connection {
namespace {

using namespace std::chrono_literals;
using transport::TlsConnection;
using transport::TlsSession;
using transport::test_support::frame;
using transport::test_support::Recorder;
using Tcp = asio::ip::tcp;

// A server context with a fresh self-signed P-256 certificate, made in memory.
std::shared_ptr<asio::ssl::context> server_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_set_pubkey(cert, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(cert), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("server"), -1, -1, 0);
  X509_set_issuer_name(cert, X509_get_subject_name(cert));
  X509_sign(cert, key, EVP_sha256());
  EXPECT_EQ(SSL_CTX_use_certificate(ctx->native_handle(), cert), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(ctx->native_handle(), key), 1);
  X509_free(cert);
  EVP_PKEY_free(key);
  return ctx;
}

std::shared_ptr<asio::ssl::context> client_context() {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_verify_mode(asio::ssl::verify_none);  // the data path is under test, not trust
  return ctx;
}

void move_output(TlsSession& from, TlsSession& to) {
  std::string bytes;
  from.take_output(bytes);
  to.put_input(bytes.data(), bytes.size());
}

// The handshake between the two sessions, in memory, to its end on both sides.
void handshake(TlsSession& client, TlsSession& server) {
  for (int i = 0; i < 8; ++i) {
    const auto c = client.handshake();
    move_output(client, server);
    const auto s = server.handshake();
    move_output(server, client);
    ASSERT_NE(c, TlsSession::Progress::failed) << client.failure();
    ASSERT_NE(s, TlsSession::Progress::failed) << server.failure();
    if (c == TlsSession::Progress::done && s == TlsSession::Progress::done) return;
  }
  FAIL() << "the handshake did not finish";
}

// The server end: a TlsConnection on an accepted TCP socket; the client end: the raw socket
// and a session the test encrypts with.
struct TlsPair {
  explicit TlsPair(const std::string& sent_with_handshake = {}) {
    auto c = TlsSession::create(client_context(), false);
    auto s = TlsSession::create(server_context(), true);
    EXPECT_TRUE(c && s);
    client = std::move(*c);
    auto server = std::move(*s);
    handshake(*client, *server);
    if (!sent_with_handshake.empty()) {  // as if they came in the handshake's last read
      EXPECT_TRUE(client->encrypt(sent_with_handshake.data(), sent_with_handshake.size()));
      move_output(*client, *server);
    }
    Tcp::acceptor acceptor(io, Tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    peer.connect(acceptor.local_endpoint());
    Tcp::socket ours(io);
    acceptor.accept(ours);
    connection = std::make_shared<TlsConnection>(std::move(ours), transport::ConnectionOptions{},
                                                 "tls-test");
    connection->adopt_tls(std::move(server));
    recorder->connection = connection.get();
    connection->start(recorder);
  }
  ~TlsPair() {
    if (connection) connection->close(Error{StatusCode::cancelled, "test over", {}}, false);
    io.restart();
    io.poll();
  }
  // Encrypts `plain` with the client session and writes the records to the socket.
  void send(const std::string& plain) {
    ASSERT_TRUE(client->encrypt(plain.data(), plain.size()));
    std::string records;
    client->take_output(records);
    ASSERT_EQ(asio::write(peer, asio::buffer(records)), records.size());
  }
  void run_until(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(10ms);
    }
  }

  asio::io_context io;
  Tcp::socket peer{io};
  std::unique_ptr<TlsSession> client;
  std::shared_ptr<TlsConnection> connection;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
};

TEST(TlsConnectionTest, FramesThatCameWithTheHandshakeAreDeliveredWithoutMoreInput) {
  TlsPair p(frame("early-1") + frame("early-2"));
  p.run_until([&] { return p.recorder->payloads.size() == 2; });
  ASSERT_EQ(p.recorder->payloads.size(), 2u);
  EXPECT_EQ(p.recorder->payloads[0], "early-1");
  EXPECT_EQ(p.recorder->payloads[1], "early-2");
}

TEST(TlsConnectionTest, APauseInsideABurstKeepsTheRestForTheResume) {
  TlsPair p;
  p.recorder->pause_at = 1;
  std::string burst;
  for (int i = 0; i < 100; ++i) burst += frame("m" + std::to_string(i));
  p.send(burst.substr(0, burst.size() / 2));  // two writes: two groups of records
  p.send(burst.substr(burst.size() / 2));
  p.run_until([&] { return !p.recorder->payloads.empty(); });
  // Everything has arrived and is held (in the frame reader or still encrypted in the session);
  // while paused, none of it is delivered.
  for (int i = 0; i < 5; ++i) {
    p.io.restart();
    p.io.run_for(5ms);
  }
  ASSERT_EQ(p.recorder->payloads.size(), 1u);
  p.connection->resume_reading();
  p.run_until([&] { return p.recorder->payloads.size() == 100; });
  ASSERT_EQ(p.recorder->payloads.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(p.recorder->payloads[i], "m" + std::to_string(i));
  EXPECT_TRUE(p.recorder->closed_reason.empty()) << p.recorder->closed_reason;
}

TEST(TlsConnectionTest, AFrameOverManyRecordsArrivesWhole) {
  TlsPair p;
  std::string big(1 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  p.send(frame(big) + frame("after"));
  p.run_until([&] { return p.recorder->payloads.size() == 2; });
  ASSERT_EQ(p.recorder->payloads.size(), 2u);
  EXPECT_TRUE(p.recorder->payloads[0] == big) << "1 MiB payload differs";
  EXPECT_EQ(p.recorder->payloads[1], "after");
}

TEST(TlsConnectionTest, WhatTheConnectionSendsDecryptsOnThePeer) {
  TlsPair p;
  std::string expected;
  for (int i = 0; i < 50; ++i) {
    const std::string payload = "answer-" + std::to_string(i);
    wire::Metadata md;
    md.method = "m";
    ASSERT_TRUE(p.connection->send(wire::FrameKind::notify, 0, md, payload));
    expected += frame(payload);
  }
  std::string plain;
  char cipher[16384];
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (plain.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
    p.io.restart();
    p.io.poll();
    std::error_code ec;
    p.peer.non_blocking(true);
    const std::size_t n = p.peer.read_some(asio::buffer(cipher), ec);
    if (ec == asio::error::would_block) continue;
    ASSERT_FALSE(ec) << ec.message();
    p.client->put_input(cipher, n);
    for (;;) {
      char out[4096];
      const auto r = p.client->read(out, sizeof out);
      if (r.state != TlsSession::ReadState::data) break;
      plain.append(out, r.bytes);
    }
  }
  EXPECT_EQ(plain, expected);
}

TEST(TlsConnectionTest, ACorruptRecordClosesTheConnectionWithATlsError) {
  TlsPair p;
  p.send(frame("fine"));
  ASSERT_TRUE(p.client->encrypt("0123456789", 10));
  std::string records;
  p.client->take_output(records);
  records[records.size() - 3] ^= 0x55;  // inside the authentication tag
  asio::write(p.peer, asio::buffer(records));
  p.run_until([&] { return !p.recorder->closed_reason.empty(); });
  ASSERT_EQ(p.recorder->payloads.size(), 1u);
  EXPECT_NE(p.recorder->closed_reason.find("TLS read failed"), std::string::npos)
      << p.recorder->closed_reason;
}

TEST(TlsConnectionTest, APeerThatClosesIsAnEndOfStream) {
  TlsPair p;
  p.send(frame("last"));
  p.peer.close();
  p.run_until([&] { return !p.recorder->closed_reason.empty(); });
  ASSERT_EQ(p.recorder->payloads.size(), 1u);
  EXPECT_NE(p.recorder->closed_reason.find("peer closed the connection"), std::string::npos)
      << p.recorder->closed_reason;
}

}  // namespace
}  // namespace plexus::test::tls_connection

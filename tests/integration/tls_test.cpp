// The tls:// transport end to end: certificates made at run time with the openssl command-line
// tool (a CA, a server certificate for 127.0.0.1 and localhost, a client certificate, and a
// second CA with a client and a server certificate of its own); calls, large payloads and
// pub/sub over TLS; a client that does not trust the server; mutual TLS (the identity a handler
// sees, clients without a certificate or with one from the wrong CA refused); certificate
// reload; missing files; a silent handshake dropped at its timeout; plexus serve and the CLI.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <asio/connect.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <nlohmann/json.hpp>

#include "cli_serve.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

// A namespace of its own: the unity build puts this file beside others.
namespace plexus::test::tls {

using nlohmann::json;

// The certificates every test uses, made once per run into one directory.
struct Certificates {
  std::unique_ptr<TempDir> dir;
  std::string file(const std::string& name) const { return dir->file(name); }
  bool ok = false;
  std::string log;
};

inline bool openssl(Certificates& c, const std::string& args) {
  auto r = run_command("cd " + c.dir->path() + " && openssl " + args + " 2>&1");
  c.log += "openssl " + args + "\n" + r.output;
  return r.exit_code == 0;
}

// A CA: NAME.pem and NAME.key.
inline bool make_ca(Certificates& c, const std::string& name, const std::string& subject) {
  return openssl(c,
                 "req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                 "-keyout " +
                     name + ".key -out " + name + ".pem -subj '" + subject + "'");
}

// NAME.pem and NAME.key, signed by CA with `extensions` (an extfile's lines).
inline bool make_leaf(Certificates& c, const std::string& name, const std::string& subject,
                      const std::string& ca, const std::string& extensions, int serial) {
  std::ofstream(c.file(name + ".ext")) << extensions;
  return openssl(c, "req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout " + name +
                        ".key -out " + name + ".csr -subj '" + subject + "'") &&
         openssl(c, "x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
                        ".key -set_serial " + std::to_string(serial) + " -days 2 -out " + name +
                        ".pem -extfile " + name + ".ext");
}

inline const Certificates& certificates() {
  static Certificates c = [] {
    Certificates made;
    made.dir = std::make_unique<TempDir>();
    const std::string server_ext =
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
    const std::string client_ext = "extendedKeyUsage=clientAuth\n";
    made.ok =
        make_ca(made, "ca", "/O=Example/CN=plexus test CA") &&
        make_leaf(made, "server", "/O=Example/CN=localhost", "ca", server_ext, 1) &&
        make_leaf(made, "client", "/O=Example/CN=alice", "ca", client_ext, 2) &&
        make_ca(made, "wrong-ca", "/O=Elsewhere/CN=wrong CA") &&
        make_leaf(made, "wrong-client", "/O=Elsewhere/CN=mallory", "wrong-ca", client_ext, 3) &&
        make_leaf(made, "server2", "/O=Elsewhere/CN=localhost", "wrong-ca", server_ext, 4);
    return made;
  }();
  return c;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto& c = certificates();
    ASSERT_TRUE(c.ok) << c.log;
  }
  void TearDown() override {
    if (server_) server_->shutdown(Millis{1000});
  }
  static std::string cert(const std::string& name) { return certificates().file(name); }

  ServerOptions server_options(const std::string& client_ca = {}) {
    ServerOptions options;
    options.listen = {"tls://127.0.0.1:0"};
    options.tls.certificate_file = cert("server.pem");
    options.tls.private_key_file = cert("server.key");
    options.tls.client_ca_file = client_ca;
    return options;
  }
  // A server serving "echo", "whoami" (the identity it sees) and "size".
  void start(ServerOptions options) {
    auto server = Server::create(runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("echo", [](CallContext&, std::string_view p) -> Result<std::string> {
      return std::string(p);
    });
    server_->handle("whoami", [](CallContext& ctx, std::string_view) -> Result<std::string> {
      const auto& id = ctx.peer_identity();
      return json{{"certificate", id.certificate}, {"key", id.verified_key()}, {"host", id.host}}
          .dump();
    });
    ASSERT_TRUE(server_->start());
    address_ = server_->addresses().at(0);
  }
  Result<std::unique_ptr<Client>> connect(const std::string& ca, const std::string& client = {},
                                          const std::string& address = {}) {
    ClientOptions options;
    options.address = address.empty() ? address_ : address;
    options.reconnect.enabled = false;
    options.connect_timeout = Millis{3000};
    options.tls.ca_file = ca;
    if (!client.empty()) {
      options.tls.certificate_file = cert(client + ".pem");
      options.tls.private_key_file = cert(client + ".key");
    }
    return Client::connect(runtime_, options);
  }

  Runtime runtime_;
  std::unique_ptr<Server> server_;
  std::string address_;
};

// Calls (small and 1 MiB) and a published message go over tls:// as over tcp://; the server
// knows the peer by its IP address, and the address names the scheme.
TEST_F(TlsTest, CallsLargePayloadsAndMessagesRoundTrip) {
  start(server_options());
  EXPECT_TRUE(address_.starts_with("tls://127.0.0.1:")) << address_;
  auto client = connect(cert("ca.pem"));
  ASSERT_TRUE(client) << client.error().to_string();
  auto echoed = (*client)->call("echo", "hello over TLS");
  ASSERT_TRUE(echoed) << echoed.error().to_string();
  EXPECT_EQ(*echoed, "hello over TLS");
  const std::string big = pattern_bytes(1 << 20, 7);
  auto big_echoed = (*client)->call("echo", big);
  ASSERT_TRUE(big_echoed) << big_echoed.error().to_string();
  EXPECT_TRUE(*big_echoed == big);
  auto who = (*client)->call("whoami", "");
  ASSERT_TRUE(who) << who.error().to_string();
  const auto id = json::parse(*who);
  EXPECT_EQ(id["certificate"], "");  // no client certificate without mutual TLS
  EXPECT_EQ(id["host"], "127.0.0.1");
  EXPECT_EQ(id["key"], "host:127.0.0.1");

  Countdown got(1);
  std::string payload;
  auto sub = (*client)->subscribe("news.>", [&](std::string_view, std::string_view p) {
    payload = std::string(p);
    got.done();
  });
  ASSERT_TRUE(sub) << sub.error().to_string();
  ASSERT_TRUE(server_->publish("news.tls", "secret news"));
  ASSERT_TRUE(got.wait_for(Millis{5000}));
  EXPECT_EQ(payload, "secret news");
}

// A client that does not trust the server's CA fails to connect and says why; so does one
// that expects another name.
TEST_F(TlsTest, AClientThatDoesNotTrustTheServerIsRefused) {
  start(server_options());
  auto untrusting = connect(cert("wrong-ca.pem"));
  ASSERT_FALSE(untrusting);
  EXPECT_EQ(untrusting.error().code, StatusCode::unavailable);
  EXPECT_NE(untrusting.error().message.find("certificate verify failed"), std::string::npos)
      << untrusting.error().message;
  // The system's trust store does not hold the test CA either.
  auto system = connect("");
  ASSERT_FALSE(system);
  EXPECT_NE(system.error().message.find("certificate verify failed"), std::string::npos)
      << system.error().message;
  // localhost is in the certificate too; another name is not.
  const auto port = address_.substr(address_.rfind(':'));
  auto by_name = connect(cert("ca.pem"), {}, "tls://localhost" + port);
  EXPECT_TRUE(by_name) << by_name.error().to_string();
  ClientOptions options;
  options.address = address_;
  options.reconnect.enabled = false;
  options.tls.ca_file = cert("ca.pem");
  options.tls.server_name = "example.org";
  auto wrong_name = Client::connect(runtime_, options);
  ASSERT_FALSE(wrong_name);
  EXPECT_NE(wrong_name.error().message.find("hostname mismatch"), std::string::npos)
      << wrong_name.error().message;
}

// Mutual TLS: a client with a certificate from the server's client CA is admitted and known by
// its certificate's subject; clients without a certificate, or with one from another CA, are
// refused.
TEST_F(TlsTest, MutualTlsAdmitsOnlyClientsWithACertificateFromItsCa) {
  start(server_options(cert("ca.pem")));
  auto alice = connect(cert("ca.pem"), "client");
  ASSERT_TRUE(alice) << alice.error().to_string();
  auto who = (*alice)->call("whoami", "");
  ASSERT_TRUE(who) << who.error().to_string();
  const auto id = json::parse(*who);
  EXPECT_EQ(id["certificate"], "CN=alice,O=Example");
  EXPECT_EQ(id["key"], "cert:CN=alice,O=Example");

  auto anonymous = connect(cert("ca.pem"));
  ASSERT_FALSE(anonymous);
  EXPECT_TRUE(anonymous.error().code == StatusCode::unavailable ||
              anonymous.error().code == StatusCode::deadline_exceeded)
      << anonymous.error().to_string();
  auto mallory = connect(cert("ca.pem"), "wrong-client");
  ASSERT_FALSE(mallory);
  EXPECT_TRUE(mallory.error().code == StatusCode::unavailable ||
              mallory.error().code == StatusCode::deadline_exceeded)
      << mallory.error().to_string();
  // Alice is still served.
  EXPECT_TRUE((*alice)->call("echo", "still here"));
}

// reload_tls: the next connection gets the new certificate (here from another CA), the open
// one keeps working; a reload that fails names the file and keeps the running certificate.
TEST_F(TlsTest, ReloadedCertificateServesTheNextConnection) {
  TempDir dir;
  const auto cert_file = dir.file("live.pem");
  const auto key_file = dir.file("live.key");
  std::filesystem::copy_file(cert("server.pem"), cert_file);
  std::filesystem::copy_file(cert("server.key"), key_file);
  auto options = server_options();
  options.tls.certificate_file = cert_file;
  options.tls.private_key_file = key_file;
  start(std::move(options));
  auto old_client = connect(cert("ca.pem"));
  ASSERT_TRUE(old_client) << old_client.error().to_string();
  EXPECT_FALSE(connect(cert("wrong-ca.pem")));

  const auto over = std::filesystem::copy_options::overwrite_existing;
  std::filesystem::copy_file(cert("server2.pem"), cert_file, over);
  std::filesystem::copy_file(cert("server2.key"), key_file, over);
  auto reloaded = server_->reload_tls();
  ASSERT_TRUE(reloaded) << reloaded.error().to_string();
  auto new_client = connect(cert("wrong-ca.pem"));
  ASSERT_TRUE(new_client) << new_client.error().to_string();
  EXPECT_FALSE(connect(cert("ca.pem")));  // the old certificate is no longer presented
  auto still = (*old_client)->call("echo", "old connection");
  ASSERT_TRUE(still) << still.error().to_string();
  EXPECT_EQ(*still, "old connection");

  std::ofstream(key_file, std::ios::trunc) << "not a key\n";
  auto failed = server_->reload_tls();
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, StatusCode::invalid_argument);
  EXPECT_NE(failed.error().message.find(key_file), std::string::npos) << failed.error().message;
  EXPECT_TRUE(connect(cert("wrong-ca.pem")));  // the reloaded certificate stays
}

// A tls:// listener needs readable files (the one that is not is named) and a certificate at
// all; a client's CA file is checked at connect.
TEST_F(TlsTest, MissingFilesAndMissingCertificatesAreNamed) {
  auto options = server_options();
  options.tls.private_key_file = cert("no-such.key");
  auto missing = Server::create(runtime_, options);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, StatusCode::invalid_argument);
  EXPECT_NE(missing.error().message.find(cert("no-such.key")), std::string::npos)
      << missing.error().message;

  ServerOptions bare;
  bare.listen = {"tls://127.0.0.1:0"};
  auto no_cert = Server::create(runtime_, bare);
  ASSERT_FALSE(no_cert);
  EXPECT_EQ(no_cert.error().code, StatusCode::failed_precondition);
  EXPECT_NE(no_cert.error().message.find("certificate"), std::string::npos)
      << no_cert.error().message;

  start(server_options());
  auto client = connect(cert("no-such-ca.pem"));
  ASSERT_FALSE(client);
  EXPECT_EQ(client.error().code, StatusCode::invalid_argument);
  EXPECT_NE(client.error().message.find(cert("no-such-ca.pem")), std::string::npos)
      << client.error().message;
}

// tls:// is the secure form: it may listen beyond loopback without allow_insecure_tcp, which
// plain tcp:// still needs.
TEST_F(TlsTest, TlsMayListenBeyondLoopbackPlainTcpMayNot) {
  auto options = server_options();
  options.listen = {"tls://0.0.0.0:0"};
  auto tls = Server::create(runtime_, options);
  EXPECT_TRUE(tls) << tls.error().to_string();
  options.listen = {"tcp://0.0.0.0:0"};
  auto tcp = Server::create(runtime_, options);
  ASSERT_FALSE(tcp);
  EXPECT_EQ(tcp.error().code, StatusCode::failed_precondition);
}

// A peer that connects and never starts its TLS handshake is dropped at the handshake timeout.
TEST_F(TlsTest, ASilentHandshakeIsDroppedAtItsTimeout) {
  auto options = server_options();
  options.tls.handshake_timeout = Millis{300};
  start(std::move(options));
  const auto port =
      static_cast<unsigned short>(std::stoi(address_.substr(address_.rfind(':') + 1)));
  asio::io_context io;
  asio::ip::tcp::socket socket(io);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  timeval limit{5, 0};  // a read that fails the test instead of hanging it
  ::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  const auto began = std::chrono::steady_clock::now();
  char byte;
  std::error_code ec;
  const auto n = socket.read_some(asio::buffer(&byte, 1), ec);
  const auto waited = std::chrono::steady_clock::now() - began;
  EXPECT_EQ(n, 0u);
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
  EXPECT_GE(waited, std::chrono::milliseconds(250));
  EXPECT_LT(waited, std::chrono::milliseconds(3000));
  // The server still serves.
  auto client = connect(cert("ca.pem"));
  EXPECT_TRUE(client) << client.error().to_string();
}

// TLS handshakes in progress count against max_handshaking: with two silent connections
// holding both places, a third is closed at once, long before the handshake timeout; once they
// are dropped, clients get in again.
TEST_F(TlsTest, PastMaxHandshakingASilentTlsConnectionIsClosedAtOnce) {
  auto options = server_options();
  options.tls.handshake_timeout = Millis{1500};
  options.max_handshaking = 2;
  start(std::move(options));
  const auto port =
      static_cast<unsigned short>(std::stoi(address_.substr(address_.rfind(':') + 1)));
  asio::io_context io;
  std::vector<asio::ip::tcp::socket> silent;
  for (int i = 0; i < 2; ++i) {
    silent.emplace_back(io);
    silent.back().connect({asio::ip::make_address("127.0.0.1"), port});
  }
  // Bounded retries: the server may not yet have accepted the first two when the third comes.
  bool closed_at_once = false;
  for (int attempt = 0; attempt < 50 && !closed_at_once; ++attempt) {
    asio::ip::tcp::socket third(io);
    third.connect({asio::ip::make_address("127.0.0.1"), port});
    timeval limit{0, 500000};  // well under the 1.5 s handshake timeout
    ::setsockopt(third.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    char byte;
    std::error_code ec;
    third.read_some(asio::buffer(&byte, 1), ec);
    closed_at_once = ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  EXPECT_TRUE(closed_at_once);
  silent.clear();  // the places free as the server sees them close (bounded retries)
  auto client = connect(cert("ca.pem"));
  for (int attempt = 0; attempt < 50 && !client; ++attempt) client = connect(cert("ca.pem"));
  EXPECT_TRUE(client) << client.error().to_string();
}

// plexus serve --tls-cert/--tls-key and the CLI's --tls-ca: a call over tls://; without the
// CA the CLI says the certificate did not verify; SIGHUP reloads the certificate.
TEST(TlsCliTest, ServeAndCallOverTls) {
  const auto& c = certificates();
  ASSERT_TRUE(c.ok) << c.log;
  CliServe serve({"--listen", "tls://127.0.0.1:0", "--tls-cert", c.file("server.pem"), "--tls-key",
                  c.file("server.key"), "--no-http", "--demo"});
  const auto address = serve.address();
  ASSERT_TRUE(address.starts_with("tls://127.0.0.1:")) << address;
  auto call = run_cli("--tls-ca " + c.file("ca.pem") + " call " + address + " echo '{\"x\":1}'");
  EXPECT_EQ(call.exit_code, 0) << call.output;
  EXPECT_NE(call.output.find("\"x\""), std::string::npos) << call.output;
  auto untrusted = run_cli("call " + address + " echo '{}'");
  EXPECT_NE(untrusted.exit_code, 0) << untrusted.output;
  EXPECT_NE(untrusted.output.find("certificate verify failed"), std::string::npos)
      << untrusted.output;
  ::kill(serve.pid(), SIGHUP);
  EXPECT_NE(serve.line_containing("reloaded the TLS certificate"), "");
  auto again = run_cli("--tls-ca " + c.file("ca.pem") + " call " + address + " echo '{}'");
  EXPECT_EQ(again.exit_code, 0) << again.output;
}

}  // namespace plexus::test::tls

// src/transport/registry.cpp: the scheme -> transport table behind parse_address, listen and
// dial. A registry of the test's own for the table's rules; the process's registry (the one the
// public API uses) for the built-in transports and for a test scheme a Server and a Client use.
#include "transport/registry.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/strand.hpp>

#include "connect.hpp"
#include "plexus/client.hpp"
#include "plexus/runtime.hpp"
#include "plexus/server.hpp"
#include "test_kit.hpp"

namespace plexus::transport {
namespace {

using namespace std::chrono_literals;
using test::TempDir;

// What a test transport's factories saw.
struct Calls {
  int listens = 0;
  int dials = 0;
  std::optional<Address> last;
};

// A transport under `scheme` that records each call and fails it with unavailable, naming
// `tag` (the dial through `done`, posted, as dial() promises).
Transport recording(std::string scheme, Calls& calls, std::string tag = "recorded") {
  Transport t;
  t.scheme = std::move(scheme);
  t.listen = [&calls, tag](asio::io_context&, const Address& a,
                           const ListenOptions&) -> Result<std::unique_ptr<Listener>> {
    ++calls.listens;
    calls.last = a;
    return make_error(StatusCode::unavailable, tag + " listen");
  };
  t.dial = [&calls, tag](asio::any_io_executor strand, const Address& a, const ConnectionOptions&,
                         std::chrono::milliseconds, DialCallback done) {
    ++calls.dials;
    calls.last = a;
    asio::post(strand, [done = std::move(done), tag] {
      done(make_error(StatusCode::unavailable, tag + " dial"));
    });
  };
  return t;
}

// Dials `address` through `registry` and runs the io_context until `done` ran: its result.
// Checks that `done` did not run inside dial().
Result<std::shared_ptr<Connection>> dial_and_wait(const TransportRegistry& registry,
                                                  const Address& address) {
  asio::io_context io;
  std::optional<Result<std::shared_ptr<Connection>>> got;
  registry.dial(asio::make_strand(io), address, ConnectionOptions{}, 2000ms,
                [&got](Result<std::shared_ptr<Connection>> r) { got = std::move(r); });
  EXPECT_FALSE(got) << "done ran inside dial()";
  io.run();
  if (!got) return make_error(StatusCode::internal, "done never ran");
  return std::move(*got);
}

Address parsed(const TransportRegistry& registry, std::string_view text) {
  auto a = registry.parse(text);
  EXPECT_TRUE(a) << a.error().to_string();
  return a ? *a : Address{};
}

TEST(TransportRegistry, AnUnknownSchemeFailsToParseWithTheMessageItAlwaysHad) {
  TransportRegistry r;  // the built-in transports, in a registry of the test's own
  ASSERT_TRUE(register_builtin_transports(r));
  for (const std::string text : {"http://h:80", "udp://h:1", "UNIX:///tmp/x", "unix:/tmp/x", ""}) {
    SCOPED_TRACE(text);
    auto a = r.parse(text);
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().code, StatusCode::invalid_argument);
    EXPECT_EQ(a.error().message,
              "bad address \"" + text +
                  "\": unknown scheme (expected unix://, unix:@, tcp://, fd://, tls://, dir://, "
                  "exec:// or inherited:)");
  }
  // The process's registry, behind parse_address, has the same transports (and whatever a
  // test added to it: the alias scheme below, when this binary runs as one process).
  auto a = parse_address("http://h:80");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, StatusCode::invalid_argument);
  EXPECT_TRUE(a.error().message.starts_with(
      "bad address \"http://h:80\": unknown scheme (expected unix://, unix:@"))
      << a.error().message;
  EXPECT_NE(a.error().message.find("tcp://"), std::string::npos) << a.error().message;
}

TEST(TransportRegistry, AnEmptyRegistrySaysSo) {
  TransportRegistry r;
  auto a = r.parse("unix:///tmp/x");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, StatusCode::invalid_argument);
  EXPECT_NE(a.error().message.find("unknown scheme (no transport is registered)"),
            std::string::npos)
      << a.error().message;
}

TEST(TransportRegistry, TheBuiltinSchemesParseToTheirTransport) {
  TransportRegistry r;
  ASSERT_TRUE(register_builtin_transports(r));
  EXPECT_EQ(parsed(r, "unix:///tmp/x.sock").scheme, "unix");
  EXPECT_EQ(parsed(r, "unix:@name").scheme, "unix");
  EXPECT_EQ(parsed(r, "tcp://127.0.0.1:1").scheme, "tcp");
  ASSERT_TRUE(r.find("unix"));
  ASSERT_TRUE(r.find("tcp"));
  EXPECT_FALSE(r.find("shm"));  // an option of unix addresses, not a scheme
  EXPECT_FALSE(r.find("http"));
  // The process's registry is made with them.
  EXPECT_TRUE(transports().find("unix"));
  EXPECT_TRUE(transports().find("tcp"));
  EXPECT_EQ(parse_address("unix:@name")->scheme, "unix");
}

TEST(TransportRegistry, ListenAndDialRefuseASchemeNoTransportServes) {
  TransportRegistry r;
  ASSERT_TRUE(register_builtin_transports(r));
  Address a;
  a.kind = Address::Kind::other;
  a.scheme = "nope";
  a.path = "x";
  asio::io_context io;
  auto listener = r.listen(io, a, ListenOptions{});
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(listener.error().message,
            "bad address \"nope://x\": unknown scheme \"nope\" (expected unix://, unix:@, tcp://, "
            "fd://, tls://, dir://, exec:// or inherited:)");
  auto dialed = dial_and_wait(r, a);
  ASSERT_FALSE(dialed);
  EXPECT_EQ(dialed.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(dialed.error().message, listener.error().message);

  // The same through the free functions, which use the process's registry.
  a.scheme = "nope-free";
  auto free_listener = transport::listen(io, a, ListenOptions{});
  ASSERT_FALSE(free_listener);
  EXPECT_EQ(free_listener.error().code, StatusCode::invalid_argument);
  EXPECT_NE(free_listener.error().message.find("unknown scheme \"nope-free\""), std::string::npos)
      << free_listener.error().message;
  std::optional<Result<std::shared_ptr<Connection>>> got;
  transport::dial(asio::make_strand(io), a, ConnectionOptions{}, 1000ms,
                  [&got](Result<std::shared_ptr<Connection>> c) { got = std::move(c); });
  EXPECT_FALSE(got);
  io.run();
  ASSERT_TRUE(got);
  ASSERT_FALSE(*got);
  EXPECT_EQ(got->error().code, StatusCode::invalid_argument);
}

TEST(TransportRegistry, ATestSchemeIsParsedListenedAndDialedByItsOwnFactories) {
  TransportRegistry r;
  ASSERT_TRUE(register_builtin_transports(r));
  Calls calls;
  ASSERT_TRUE(r.add(recording("loop", calls)));

  const auto a = parsed(r, "loop://name?k=v");
  EXPECT_EQ(a.kind, Address::Kind::other);
  EXPECT_EQ(a.scheme, "loop");
  EXPECT_EQ(a.path, "name");
  EXPECT_EQ(a.options, (decltype(a.options){{"k", "v"}}));
  EXPECT_EQ(a.to_string(), "loop://name?k=v");
  auto empty = r.parse("loop://?k=v");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, StatusCode::invalid_argument);
  // The unknown-scheme message lists the new form too.
  EXPECT_NE(r.parse("udp://h:1")
                .error()
                .message.find("(expected unix://, unix:@, tcp://, fd://, tls://, dir://, "
                              "exec://, inherited: or loop://)"),
            std::string::npos);

  asio::io_context io;
  auto listener = r.listen(io, a, ListenOptions{});
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().message, "recorded listen");
  EXPECT_EQ(calls.listens, 1);
  ASSERT_TRUE(calls.last);
  EXPECT_EQ(calls.last->path, "name");

  auto dialed = dial_and_wait(r, a);
  ASSERT_FALSE(dialed);
  EXPECT_EQ(dialed.error().message, "recorded dial");
  EXPECT_EQ(calls.dials, 1);
  EXPECT_EQ(calls.listens, 1);
}

TEST(TransportRegistry, ATransportWithFormsOfItsOwnParsesThemItself) {
  TransportRegistry r;
  Calls calls;
  auto t = recording("pipe", calls);
  t.forms = {"pipe:"};
  t.parse = [](std::string_view text) -> Result<Address> {
    Address a;
    a.kind = Address::Kind::other;
    a.scheme = "not what the registry keeps";
    a.path = std::string(text.substr(5));
    return a;
  };
  ASSERT_TRUE(r.add(std::move(t)));
  const auto a = parsed(r, "pipe:3");
  EXPECT_EQ(a.scheme, "pipe");  // the registry's key, whatever the parser wrote
  EXPECT_EQ(a.path, "3");
  EXPECT_NE(r.parse("x").error().message.find("(expected pipe:)"), std::string::npos);
}

TEST(TransportRegistry, ASecondTransportForOneSchemeIsRefusedAndTheFirstStays) {
  TransportRegistry r;
  ASSERT_TRUE(register_builtin_transports(r));
  Calls first, second;
  ASSERT_TRUE(r.add(recording("loop", first, "first")));
  auto again = r.add(recording("loop", second, "second"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, StatusCode::failed_precondition);
  EXPECT_EQ(again.error().message, "transport scheme \"loop\" is already registered");

  asio::io_context io;
  auto listener = r.listen(io, parsed(r, "loop://x"), ListenOptions{});
  ASSERT_FALSE(listener);
  EXPECT_EQ(listener.error().message, "first listen");
  EXPECT_EQ(first.listens, 1);
  EXPECT_EQ(second.listens, 0);

  // A built-in scheme cannot be taken over either, here or in the process's registry.
  Calls unix_calls;
  EXPECT_EQ(r.add(recording("unix", unix_calls)).error().code, StatusCode::failed_precondition);
  EXPECT_EQ(transports().add(recording("tcp", unix_calls)).error().code,
            StatusCode::failed_precondition);
  auto twice = register_builtin_transports(r);
  ASSERT_FALSE(twice);
  EXPECT_EQ(twice.error().code, StatusCode::failed_precondition);
  EXPECT_EQ(parsed(r, "unix:@name").scheme, "unix");
}

TEST(TransportRegistry, AnIncompleteOrMisnamedTransportIsRefused) {
  TransportRegistry r;
  Calls calls;
  for (const std::string scheme : {"", "Loop", "1x", "lo op", "lo:op", "lo/op"}) {
    SCOPED_TRACE(scheme);
    auto added = r.add(recording(scheme, calls));
    ASSERT_FALSE(added);
    EXPECT_EQ(added.error().code, StatusCode::invalid_argument);
  }
  EXPECT_TRUE(r.add(recording("a1+.-", calls)));  // every allowed character

  auto no_listen = recording("nolisten", calls);
  no_listen.listen = nullptr;
  EXPECT_EQ(r.add(std::move(no_listen)).error().code, StatusCode::invalid_argument);
  auto no_dial = recording("nodial", calls);
  no_dial.dial = nullptr;
  EXPECT_EQ(r.add(std::move(no_dial)).error().code, StatusCode::invalid_argument);

  // A form must start with "scheme:", so that forms of two schemes never overlap.
  auto foreign = recording("mine", calls);
  foreign.forms = {"yours://"};
  foreign.parse = [](std::string_view) -> Result<Address> { return Address{}; };
  EXPECT_EQ(r.add(std::move(foreign)).error().code, StatusCode::invalid_argument);
  // Forms of its own need a parser of its own.
  auto unparsed = recording("forms", calls);
  unparsed.forms = {"forms:@"};
  EXPECT_EQ(r.add(std::move(unparsed)).error().code, StatusCode::invalid_argument);

  EXPECT_FALSE(r.find("nolisten"));
  EXPECT_FALSE(r.find("mine"));
  EXPECT_FALSE(r.find("forms"));
}

// The built-in transports keep their behaviour behind the registry, the shared-memory options
// of unix addresses included (installed by register_builtin_transports, not known to stream/).
TEST(TransportRegistry, TheBuiltinTransportsKeepTheirRules) {
  TransportRegistry r;
  ASSERT_TRUE(register_builtin_transports(r));
  asio::io_context io;

  auto tcp_shm = r.listen(io, parsed(r, "tcp://127.0.0.1:0?shm=1"), ListenOptions{});
  ASSERT_FALSE(tcp_shm);
  EXPECT_EQ(tcp_shm.error().code, StatusCode::invalid_argument);
  EXPECT_EQ(tcp_shm.error().message, "shared memory is negotiated over a Unix socket, not tcp://");
  auto tcp_bad_wait = r.listen(io, parsed(r, "tcp://127.0.0.1:0?shm_wait=x"), ListenOptions{});
  ASSERT_FALSE(tcp_bad_wait);
  EXPECT_EQ(tcp_bad_wait.error().code, StatusCode::invalid_argument);

  auto dns = dial_and_wait(r, parsed(r, "tcp://example.invalid:80"));
  ASSERT_FALSE(dns);
  EXPECT_EQ(dns.error().code, StatusCode::invalid_argument);

  TempDir dir;
  auto bad_shm = dial_and_wait(r, parsed(r, dir.unix_address("s.sock") + "?shm=1&shm_wait=x"));
  ASSERT_FALSE(bad_shm);
  EXPECT_EQ(bad_shm.error().code, StatusCode::invalid_argument);
  EXPECT_NE(bad_shm.error().message.find("shm_wait"), std::string::npos);

  auto nobody = dial_and_wait(r, parsed(r, dir.unix_address("nobody.sock")));
  ASSERT_FALSE(nobody);
  EXPECT_EQ(nobody.error().code, StatusCode::unavailable);

  auto listener = r.listen(io, parsed(r, dir.unix_address("s.sock") + "?shm=1"), ListenOptions{});
  ASSERT_TRUE(listener) << listener.error().to_string();
  EXPECT_EQ((*listener)->address(), dir.unix_address("s.sock") + "?shm=1");
  auto tcp = r.listen(io, parsed(r, "tcp://127.0.0.1:0"), ListenOptions{});
  ASSERT_TRUE(tcp) << tcp.error().to_string();
  EXPECT_NE((*tcp)->address().find("tcp://127.0.0.1:"), std::string::npos);
}

// A scheme of the test's own in the process's registry: "alias://PATH" listens and dials the
// Unix socket PATH through the unix transport, counting its calls. A Server and a Client given
// alias addresses reach it through parse_address, listen and dial.
std::atomic<int> alias_listens{0};
std::atomic<int> alias_dials{0};

Address as_unix(Address a) {
  a.kind = Address::Kind::unix_path;
  a.scheme = "unix";
  return a;
}

void register_alias_once() {
  static const bool added = [] {
    Transport t;
    t.scheme = "alias";
    t.listen = [](asio::io_context& io, const Address& a, const ListenOptions& options) {
      ++alias_listens;
      return transports().find("unix")->listen(io, as_unix(a), options);
    };
    t.dial = [](asio::any_io_executor strand, const Address& a, const ConnectionOptions& options,
                std::chrono::milliseconds timeout, DialCallback done) {
      ++alias_dials;
      transports().find("unix")->dial(std::move(strand), as_unix(a), options, timeout,
                                      std::move(done));
    };
    auto r = transports().add(std::move(t));
    EXPECT_TRUE(r) << r.error().to_string();
    return true;
  }();
  (void)added;
}

TEST(TransportRegistry, ASchemeAddedByATestCarriesCallsBetweenAServerAndAClient) {
  register_alias_once();
  const int listens = alias_listens.load();
  const int dials = alias_dials.load();
  TempDir dir;
  const std::string address = "alias://" + dir.file("s.sock");

  Runtime runtime;
  ServerOptions options;
  options.listen = {address};
  options.metrics = false;
  auto server = Server::create(runtime, options);
  ASSERT_TRUE(server) << server.error().to_string();
  (*server)->handle("echo", [](CallContext&, std::string_view p) -> Result<std::string> {
    return std::string(p);
  });
  ASSERT_TRUE((*server)->start());
  EXPECT_EQ(alias_listens.load(), listens + 1);
  // The listener is the unix transport's: it reports the socket it bound.
  EXPECT_EQ((*server)->addresses().at(0), dir.unix_address("s.sock"));

  auto client = test::connect_client(runtime, address);
  ASSERT_TRUE(client);
  EXPECT_EQ(alias_dials.load(), dials + 1);
  auto answer = client->call("echo", "through alias");
  ASSERT_TRUE(answer) << answer.error().to_string();
  EXPECT_EQ(*answer, "through alias");
  client->close();
  (*server)->shutdown(Millis{1000});
}

}  // namespace
}  // namespace plexus::transport

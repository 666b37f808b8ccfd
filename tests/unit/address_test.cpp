// src/transport/address.cpp: parse_address over a table of good and bad inputs.
#include "transport/address.hpp"

#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

namespace {

using plexus::StatusCode;
using plexus::transport::Address;
using plexus::transport::default_socket_path;
using plexus::transport::parse_address;
using Options = std::vector<std::pair<std::string, std::string>>;

struct Good {
  std::string text;
  Address::Kind kind;
  std::string path;  // unix
  std::string host;  // tcp
  std::uint16_t port;
  Options options;
};

std::vector<Good> good_cases() {
  const auto U = Address::Kind::unix_path;
  const auto A = Address::Kind::unix_abstract;
  const auto T = Address::Kind::tcp;
  return {
      {"unix:///tmp/x.sock", U, "/tmp/x.sock", "", 0, {}},
      {"unix:///", U, "/", "", 0, {}},
      {"unix:///run/user/1000/plexus/plexus.sock",
       U,
       "/run/user/1000/plexus/plexus.sock",
       "",
       0,
       {}},
      {"unix:///tmp/x.sock?shm=1", U, "/tmp/x.sock", "", 0, {{"shm", "1"}}},
      {"unix:///tmp/x.sock?shm=1&mode=fast",
       U,
       "/tmp/x.sock",
       "",
       0,
       {{"shm", "1"}, {"mode", "fast"}}},
      {"unix:///tmp/x.sock?flag", U, "/tmp/x.sock", "", 0, {{"flag", ""}}},
      {"unix:///tmp/x.sock?a=b=c", U, "/tmp/x.sock", "", 0, {{"a", "b=c"}}},
      {"unix:///tmp/x.sock?", U, "/tmp/x.sock", "", 0, {}},
      {"unix:@name", A, "name", "", 0, {}},
      {"unix:@with/slash and space", A, "with/slash and space", "", 0, {}},
      {"unix:@name?shm=1", A, "name", "", 0, {{"shm", "1"}}},
      {"tcp://127.0.0.1:8080", T, "", "127.0.0.1", 8080, {}},
      {"tcp://localhost:0", T, "", "localhost", 0, {}},
      {"tcp://127.0.0.1:65535", T, "", "127.0.0.1", 65535, {}},
      {"tcp://10.1.2.3:1", T, "", "10.1.2.3", 1, {}},
      {"tcp://[::1]:9000", T, "", "::1", 9000, {}},
      {"tcp://[2001:db8::7]:7", T, "", "2001:db8::7", 7, {}},
      {"tcp://0.0.0.0:443?nodelay=0", T, "", "0.0.0.0", 443, {{"nodelay", "0"}}},
      {"tcp://[::]:80?x=1&y=2", T, "", "::", 80, {{"x", "1"}, {"y", "2"}}},
      // tls:// reads host:port as tcp:// does (scheme "tls"; Address::Kind::tcp).
      {"tls://127.0.0.1:7443", T, "", "127.0.0.1", 7443, {}},
      {"tls://localhost:0", T, "", "localhost", 0, {}},
      {"tls://[::1]:443", T, "", "::1", 443, {}},
  };
}

TEST(Address, GoodInputs) {
  for (const auto& c : good_cases()) {
    SCOPED_TRACE(c.text);
    auto a = parse_address(c.text);
    ASSERT_TRUE(a) << a.error().to_string();
    EXPECT_EQ(a->kind, c.kind);
    EXPECT_EQ(a->path, c.path);
    EXPECT_EQ(a->host, c.host);
    EXPECT_EQ(a->port, c.port);
    EXPECT_EQ(a->options, c.options);
  }
}

TEST(Address, ToStringParsesBackToTheSameAddress) {
  for (const auto& c : good_cases()) {
    SCOPED_TRACE(c.text);
    auto a = parse_address(c.text);
    ASSERT_TRUE(a);
    const std::string text = a->to_string();
    if (c.options.empty() && c.text.find('?') == std::string::npos) {
      EXPECT_EQ(text, c.text);
    }
    auto back = parse_address(text);
    ASSERT_TRUE(back) << text;
    EXPECT_EQ(back->scheme, a->scheme);
    EXPECT_EQ(back->kind, a->kind);
    EXPECT_EQ(back->path, a->path);
    EXPECT_EQ(back->host, a->host);
    EXPECT_EQ(back->port, a->port);
  }
}

TEST(Address, BadInputs) {
  struct Bad {
    std::string text;
    std::string why;  // a fragment of the message
  };
  const std::vector<Bad> cases = {
      {"", "unknown scheme"},
      {"/tmp/x.sock", "unknown scheme"},
      {"http://h:80", "unknown scheme"},
      {"UNIX:///tmp/x", "unknown scheme"},
      {"unix:/tmp/x", "unknown scheme"},
      {"udp://h:1", "unknown scheme"},
      {"unix://", "absolute"},
      {"unix://relative/path", "absolute"},
      {"unix://?shm=1", "absolute"},
      {"unix:@", "needs a name"},
      {"unix:@?shm=1", "needs a name"},
      {"tcp://", "host:port"},
      {"tcp://127.0.0.1", "host:port"},
      {"tcp://:80", "empty host"},
      {"tcp://[]:80", "empty host"},
      {"tcp://[::1]", "[ipv6]:port"},
      {"tcp://[::1]80", "[ipv6]:port"},
      {"tcp://[::1:80", "[ipv6]:port"},
      {"tcp://127.0.0.1:", "port"},
      {"tcp://127.0.0.1:65536", "port"},
      {"tcp://127.0.0.1:99999999999", "port"},
      {"tcp://127.0.0.1:-1", "port"},
      {"tcp://127.0.0.1:+80", "port"},
      {"tcp://127.0.0.1: 80", "port"},
      {"tcp://127.0.0.1:80x", "port"},
      {"tcp://127.0.0.1:0x50", "port"},
      {"tcp://[::1]:", "port"},
      {"tcp://[::1]:70000", "port"},
      {"tls://", "host:port"},
      {"tls://127.0.0.1", "host:port"},
      {"tls://:80", "empty host"},
      {"tls://127.0.0.1:65536", "port"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto a = parse_address(c.text);
    ASSERT_FALSE(a) << "parsed as " << a->to_string();
    EXPECT_EQ(a.error().code, StatusCode::invalid_argument);
    EXPECT_NE(a.error().message.find(c.why), std::string::npos) << a.error().message;
    EXPECT_NE(a.error().message.find("\"" + c.text + "\""), std::string::npos) << a.error().message;
  }
}

TEST(Address, UnixPathLimitIs107Bytes) {
  const std::string at_limit = "/" + std::string(106, 'p');
  ASSERT_EQ(at_limit.size(), 107u);
  auto ok = parse_address("unix://" + at_limit);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->path, at_limit);
  // Options do not count against the path.
  EXPECT_TRUE(parse_address("unix://" + at_limit + "?shm=1&more=options"));
  auto over = parse_address("unix://" + at_limit + "p");
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, StatusCode::invalid_argument);
  EXPECT_NE(over.error().message.find("107"), std::string::npos);
}

TEST(Address, AbstractNameLimitIs106Bytes) {
  // sun_path is 108 bytes: the leading NUL, then the name; plexus keeps one byte spare.
  EXPECT_TRUE(parse_address("unix:@" + std::string(106, 'a')));
  auto over = parse_address("unix:@" + std::string(107, 'a'));
  ASSERT_FALSE(over);
  EXPECT_EQ(over.error().code, StatusCode::invalid_argument);
}

class DefaultSocketPath : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const char* v = std::getenv("XDG_RUNTIME_DIR")) saved_ = v;
  }
  void TearDown() override {
    if (saved_) {
      ::setenv("XDG_RUNTIME_DIR", saved_->c_str(), 1);
    } else {
      ::unsetenv("XDG_RUNTIME_DIR");
    }
  }
  std::string fallback() const {
    return "/tmp/plexus-" + std::to_string(::getuid()) + "/plexus.sock";
  }
  std::optional<std::string> saved_;
};

TEST_F(DefaultSocketPath, UsesXdgRuntimeDirWhenAbsolute) {
  ::setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1);
  EXPECT_EQ(default_socket_path(), "/run/user/4242/plexus/plexus.sock");
}

TEST_F(DefaultSocketPath, FallsBackToTmpWhenUnsetEmptyOrRelative) {
  ::unsetenv("XDG_RUNTIME_DIR");
  EXPECT_EQ(default_socket_path(), fallback());
  ::setenv("XDG_RUNTIME_DIR", "", 1);
  EXPECT_EQ(default_socket_path(), fallback());
  ::setenv("XDG_RUNTIME_DIR", "relative/dir", 1);
  EXPECT_EQ(default_socket_path(), fallback());
}

TEST_F(DefaultSocketPath, ParsesAsAUnixAddress) {
  auto a = parse_address("unix://" + default_socket_path());
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->kind, Address::Kind::unix_path);
}

}  // namespace

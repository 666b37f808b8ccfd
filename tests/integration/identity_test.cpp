// Who a server sees on the other side, as it verified it itself: the kernel's credentials over
// Unix sockets (uid, gid, pid, executable), the remote host over TCP, never the name a client
// claims; and what keys on it: per-client rate limits. A second user is a real one: the CLI run
// as `nobody` through setpriv (the tests run as root; skipped otherwise).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

// A namespace of its own: the unity build puts this file beside others.
namespace plexus::test::identity {
namespace {

using nlohmann::json;

constexpr std::uint32_t kNobody = 65534;

std::string self_executable() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).string();
}

class IdentityTest : public ::testing::Test {
 protected:
  // A server on a Unix socket (mode `socket_mode`) and on TCP, with "whoami" (the identity it
  // sees, as JSON) and "limited" (two calls per client, never refilled).
  void start(unsigned socket_mode = 0600, std::vector<std::uint32_t> allow_uids = {},
             std::vector<std::uint32_t> allow_gids = {}) {
    // The directory lets anyone reach the socket: only the socket's own mode decides.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
    ServerOptions options;
    options.listen = {"unix://" + socket_path(), "tcp://127.0.0.1:0"};
    options.unix_socket_mode = socket_mode;
    options.allow_uids = std::move(allow_uids);
    options.allow_gids = std::move(allow_gids);
    options.metrics = false;
    auto server = Server::create(runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("whoami", [](CallContext& ctx, std::string_view) -> Result<std::string> {
      const auto& id = ctx.peer_identity();
      json j{{"name", id.name},
             {"executable", id.executable},
             {"host", id.host},
             {"key", id.verified_key()}};
      j["uid"] = id.uid ? json(*id.uid) : json(nullptr);
      j["gid"] = id.gid ? json(*id.gid) : json(nullptr);
      j["pid"] = id.pid ? json(*id.pid) : json(nullptr);
      return j.dump();
    });
    HandlerOptions limited;
    limited.rate_limit = RateLimitOptions{};
    limited.rate_limit->per_client = RateLimit{0, 2};
    ASSERT_TRUE(server_->handle(
        "limited",
        [](CallContext& ctx, std::string_view) -> Result<std::string> {
          return json{{"served", ctx.peer_identity().verified_key()}}.dump();
        },
        limited));
    ASSERT_TRUE(server_->start());
    for (const auto& a : server_->addresses()) {
      if (a.rfind("tcp://", 0) == 0) tcp_address_ = a;
    }
  }
  void TearDown() override {
    if (server_) server_->shutdown(Millis{1000});
  }
  std::string socket_path() const { return dir_.path() + "/s.sock"; }
  std::unique_ptr<Client> client(const std::string& address, const std::string& name) {
    ClientOptions options;
    options.name = name;
    options.reconnect.enabled = false;
    return connect_client(runtime_, address, options);
  }
  // A connection attempt whose failure is the point (connect_client fails the test).
  Result<std::unique_ptr<Client>> try_connect(const std::string& address) {
    ClientOptions options;
    options.address = address;
    options.reconnect.enabled = false;
    return Client::connect(runtime_, options);
  }
  // The CLI run as user `nobody` (from a copy in the test's directory, which that user can
  // read whatever the build tree's permissions are). Skips the test when not root.
  CommandResult cli_as_nobody(const std::string& args) {
    const std::string copy = dir_.path() + "/plexus-cli";
    if (!std::filesystem::exists(copy)) {
      std::filesystem::copy_file(cli_binary(), copy);
      ::chmod(copy.c_str(), 0755);
    }
    std::string command = "setpriv --reuid=" + std::to_string(kNobody) +
                          " --regid=" + std::to_string(kNobody) + " --clear-groups " + copy;
    command.append(" ").append(args);
    return run_command(command);
  }

  TempDir dir_;
  Runtime runtime_;
  std::unique_ptr<Server> server_;
  std::string tcp_address_;
};

// Over a Unix socket the server sees the kernel's credentials and the executable; over TCP the
// remote host and no credentials. The claimed name is there, as a label only.
TEST_F(IdentityTest, AServerSeesTheVerifiedIdentityOfEachPeer) {
  start();
  auto local = client("unix://" + socket_path(), "claims-to-be-root");
  auto remote = client(tcp_address_, "claims-to-be-local");
  ASSERT_TRUE(local && remote);
  auto l = local->call("whoami", "");
  ASSERT_TRUE(l) << l.error().to_string();
  const auto lj = json::parse(*l);
  EXPECT_EQ(lj["name"], "claims-to-be-root");
  EXPECT_EQ(lj["uid"], ::getuid());
  EXPECT_EQ(lj["gid"], ::getgid());
  EXPECT_EQ(lj["pid"], ::getpid());
  EXPECT_EQ(lj["executable"], self_executable());
  EXPECT_EQ(lj["host"], "");
  EXPECT_EQ(lj["key"], "uid:" + std::to_string(::getuid()));
  auto r = remote->call("whoami", "");
  ASSERT_TRUE(r) << r.error().to_string();
  const auto rj = json::parse(*r);
  EXPECT_EQ(rj["name"], "claims-to-be-local");
  EXPECT_TRUE(rj["uid"].is_null());
  EXPECT_TRUE(rj["pid"].is_null());
  EXPECT_EQ(rj["executable"], "");
  EXPECT_EQ(rj["host"], "127.0.0.1");
  EXPECT_EQ(rj["key"], "host:127.0.0.1");
}

// Per-client rate limits key on the verified identity by default: a client that reconnects
// under another name (or a second client of the same user) shares the first one's bucket,
// over Unix sockets and over TCP alike.
TEST_F(IdentityTest, ARenamedClientDoesNotEscapeItsRateLimit) {
  start();
  for (const std::string& address : {"unix://" + socket_path(), tcp_address_}) {
    auto first = client(address, "first");
    ASSERT_TRUE(first);
    int served = 0;
    for (int i = 0; i < 3; ++i) served += first->call("limited", "") ? 1 : 0;
    EXPECT_EQ(served, 2) << address;
    first->close();
    auto renamed = client(address, "someone-else");
    ASSERT_TRUE(renamed);
    auto r = renamed->call("limited", "");
    ASSERT_FALSE(r) << address << ": a new name got a new bucket";
    EXPECT_EQ(r.error().code, StatusCode::resource_exhausted) << r.error().to_string();
  }
}

// Another user cannot connect to an owner-only socket (the default mode, 0600) and gets a
// clear error from the CLI.
TEST_F(IdentityTest, AnotherUserIsRefusedByAnOwnerOnlySocket) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
  start();
  const auto r = cli_as_nobody("call unix://" + socket_path() + " whoami -t 2000");
  EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::unavailable)) << r.output;
  EXPECT_NE(r.output.find("ermission denied"), std::string::npos) << r.output;
}

// On a socket opened to everyone (0666), another user is seen as who it is (uid, gid, the
// executable it runs) and has a rate-limit bucket of its own, whatever name it claims.
TEST_F(IdentityTest, AnotherUserOnASharedSocketIsSeenAndLimitedAsItself) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
  start(0666);
  const std::string address = "unix://" + socket_path();
  auto mine = client(address, "root-client");
  ASSERT_TRUE(mine);
  while (mine->call("limited", "")) {
  }
  const auto who = cli_as_nobody("call " + address + " whoami -t 5000");
  ASSERT_EQ(who.exit_code, 0) << who.output;
  const auto j = json::parse(who.output.substr(who.output.find('{')));
  EXPECT_EQ(j["uid"], kNobody);
  EXPECT_EQ(j["gid"], kNobody);
  EXPECT_EQ(j["executable"], dir_.path() + "/plexus-cli");
  const auto limited = cli_as_nobody("call " + address + " limited -t 5000");
  EXPECT_EQ(limited.exit_code, 0) << "nobody's own bucket: " << limited.output;
  EXPECT_NE(limited.output.find("uid:65534"), std::string::npos) << limited.output;
  EXPECT_FALSE(mine->call("limited", "")) << "root's bucket is still empty";
}

// With allow lists, only the listed users or groups get in (by the kernel's credentials), even
// on a socket open to everyone; a TCP peer, whom nothing identifies, is refused. The refusal
// says permission_denied and nothing about who would be let in.
TEST_F(IdentityTest, AllowListsAdmitOnlyTheirUsersAndGroups) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
  start(0666, /*allow_uids=*/{::getuid()});
  const std::string address = "unix://" + socket_path();
  auto mine = client(address, "listed");
  ASSERT_TRUE(mine);
  ASSERT_TRUE(mine->call("whoami", ""));
  const auto refused = cli_as_nobody("call " + address + " whoami -t 5000");
  EXPECT_EQ(refused.exit_code, static_cast<int>(StatusCode::permission_denied)) << refused.output;
  EXPECT_NE(refused.output.find("may not connect"), std::string::npos) << refused.output;
  EXPECT_EQ(refused.output.find(std::to_string(::getuid())), std::string::npos)
      << "the refusal names who is allowed: " << refused.output;
  auto tcp = try_connect(tcp_address_);
  ASSERT_FALSE(tcp) << "a TCP peer got past a uid list";
  EXPECT_EQ(tcp.error().code, StatusCode::permission_denied) << tcp.error().to_string();
  mine->close();
  server_->shutdown(Millis{1000});
  server_.reset();

  start(0666, {}, /*allow_gids=*/{kNobody});
  const auto member = cli_as_nobody("call " + address + " whoami -t 5000");
  ASSERT_EQ(member.exit_code, 0) << member.output;
  EXPECT_NE(member.output.find("\"uid\":65534"), std::string::npos) << member.output;
  auto root = try_connect(address);
  ASSERT_FALSE(root) << "a user outside the group got in";
  EXPECT_EQ(root.error().code, StatusCode::permission_denied) << root.error().to_string();
}

// plexus serve takes the lists by name or number, and the socket's mode; a name that is no
// user or group, or a mode that is not octal, is refused at start.
TEST(IdentityCli, ServeChecksItsAllowListsAndSocketMode) {
  TempDir dir;
  const std::string listen = " -l unix://" + dir.path() + "/s.sock --no-http";
  for (const std::string bad :
       {"--allow-user no-such-user-here", "--allow-group no-such-group-here", "--socket-mode 0999",
        "--socket-mode rw"}) {
    // Under `timeout`: a serve that wrongly started would never return.
    const auto r = run_command("timeout 10 " + cli_binary() + " serve" + listen + " " + bad);
    EXPECT_EQ(r.exit_code, static_cast<int>(StatusCode::invalid_argument))
        << bad << ": " << r.output;
  }
}

}  // namespace
}  // namespace plexus::test::identity

// Authentication and access control end to end, over real sockets: signed tokens in the HELLO
// (valid, missing, expired, foreign, tampered; a key rotation), and access policies per method
// and topic for every action (calls, notifications, publishes, subscriptions, streams), by uid
// and by a token's scope, replaced while clients stay connected. The cross-process cases run
// `plexus serve --acl/--token-key` and the CLI, a second user being `nobody` through setpriv
// (the tests run as root; skipped otherwise).
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include <asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "cli_serve.hpp"
#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"

// A namespace of its own: the unity build puts this file beside others.
namespace plexus::test::security {
namespace {

using nlohmann::json;

constexpr std::uint32_t kNobody = 65534;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

SigningKey make_key(const std::string& kid) {
  auto key = SigningKey::generate(kid);
  EXPECT_TRUE(key) << key.error().to_string();
  return std::move(*key);
}

// A token for `subject` with `scopes`, valid from a minute ago for `ttl_seconds` from now
// (negative: already expired).
std::string token_for(const SigningKey& key, const std::string& subject,
                      std::vector<std::string> scopes = {}, std::int64_t ttl_seconds = 3600) {
  TokenClaims claims;
  claims.subject = subject;
  claims.scopes = std::move(scopes);
  claims.issued_at = unix_now() - 120;
  claims.expires = unix_now() + ttl_seconds;
  auto token = key.issue(claims);
  EXPECT_TRUE(token) << token.error().to_string();
  return token ? *token : std::string();
}

std::shared_ptr<const TokenVerifier> verifier_of(std::initializer_list<const SigningKey*> keys) {
  auto verifier = std::make_shared<TokenVerifier>();
  for (const auto* key : keys) {
    auto added = verifier->add_key(key->public_jwk());
    EXPECT_TRUE(added) << added.error().to_string();
  }
  return verifier;
}

AccessPolicy policy_of(const std::string& text) {
  auto policy = AccessPolicy::parse(text, "test-policy");
  EXPECT_TRUE(policy) << policy.error().to_string();
  return std::move(*policy);
}

// The value of one sample of the server's Prometheus text ("name{labels} value"); 0 when absent.
double sample(const std::string& metrics, const std::string& series) {
  const auto at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return 0;
  return std::stod(metrics.substr(at + series.size() + 2));
}

class SecureServerTest : public ::testing::Test {
 protected:
  // A server on a Unix socket with `tokens` and `policy`, serving "whoami" (the identity it
  // sees), some plain methods, a notification counter and a stream, and subscribed itself to
  // every topic.
  void start(std::shared_ptr<const TokenVerifier> tokens, std::optional<AccessPolicy> policy,
             bool require_token = true) {
    ServerOptions options;
    options.listen = {address()};
    options.tokens = std::move(tokens);
    options.require_token = require_token;
    options.access_policy = std::move(policy);
    auto server = Server::create(runtime_, std::move(options));
    ASSERT_TRUE(server) << server.error().to_string();
    server_ = std::move(*server);
    server_->handle("whoami", [](CallContext& ctx, std::string_view) -> Result<std::string> {
      const auto& id = ctx.peer_identity();
      return json{{"subject", id.subject}, {"scopes", id.scopes}, {"key", id.verified_key()}}
          .dump();
    });
    for (const char* method : {"math.add", "admin.reset", "news.get", "news.put"}) {
      server_->handle(method, [method](CallContext&, std::string_view) -> Result<std::string> {
        return std::string(method);
      });
    }
    for (const char* method : {"log.line", "admin.note"}) {
      server_->handle(method,
                      [this, method](CallContext&, std::string_view) -> Result<std::string> {
                        std::lock_guard lock(mu_);
                        notified_.push_back(method);
                        return std::string();
                      });
    }
    if (server_start_tail_) {
      // Writes an item every 10 ms until its writes fail (the stream ended) or 1,000 are out.
      server_->handle_stream(
          "files.tail",
          [](CallContext&, std::string, Stream s) -> asio::awaitable<Result<std::string>> {
            asio::steady_timer pause(co_await asio::this_coro::executor);
            for (int i = 0; i < 1000; ++i) {
              auto wrote = co_await s.async_write("item", asio::use_awaitable);
              if (!wrote) co_return tl::unexpected(wrote.error());
              pause.expires_after(std::chrono::milliseconds(10));
              co_await pause.async_wait(asio::use_awaitable);
            }
            co_return std::string("done");
          });
    }
    for (const char* method : {"files.list", "files.secret"}) {
      server_->handle_stream(
          method, [](CallContext&, std::string, Stream s) -> asio::awaitable<Result<std::string>> {
            co_await s.async_write("one", asio::use_awaitable);
            co_return std::string("done");
          });
    }
    auto sub = server_->subscribe(">", [this](std::string_view topic, std::string_view) {
      {
        std::lock_guard lock(mu_);
        published_.emplace_back(topic);
      }
      two_published_.done();
    });
    ASSERT_TRUE(sub) << sub.error().to_string();
    ASSERT_TRUE(server_->start());
  }
  void TearDown() override {
    if (server_) server_->shutdown(Millis{1000});
  }
  std::string address() const { return dir_.unix_address("s.sock"); }
  Result<std::unique_ptr<Client>> connect(const std::string& token, const std::string& name = "c",
                                          bool batching = false) {
    ClientOptions options;
    options.batching.enabled = batching;
    options.address = address();
    options.name = name;
    options.token = token;
    options.reconnect.enabled = false;
    options.connect_timeout = Millis{5000};
    return Client::connect(runtime_, options);
  }
  std::vector<std::string> notified() {
    std::lock_guard lock(mu_);
    return notified_;
  }
  std::vector<std::string> published() {
    std::lock_guard lock(mu_);
    return published_;
  }
  double metric(const std::string& series) const { return sample(server_->metrics_text(), series); }

  TempDir dir_;
  Runtime runtime_;
  std::unique_ptr<Server> server_;
  bool server_start_tail_ = false;  // start() also serves "files.tail", a stream that lasts
  std::mutex mu_;
  std::vector<std::string> notified_;   // guarded by mu_
  std::vector<std::string> published_;  // guarded by mu_
  Countdown two_published_{2};
};

// A valid token admits its bearer, who is then known by its subject: in handlers, and as the
// key per-client limits use.
TEST_F(SecureServerTest, AValidTokenAdmitsItsBearerUnderItsSubject) {
  const auto key = make_key("k1");
  start(verifier_of({&key}), std::nullopt);
  auto client = connect(token_for(key, "alice", {"reader", "writer"}), "claims-to-be-bob");
  ASSERT_TRUE(client) << client.error().to_string();
  auto who = (*client)->call("whoami", "");
  ASSERT_TRUE(who) << who.error().to_string();
  const auto j = json::parse(*who);
  EXPECT_EQ(j["subject"], "alice");
  EXPECT_EQ(j["scopes"], json::array({"reader", "writer"}));
  EXPECT_EQ(j["key"], "sub:alice");
  EXPECT_EQ(metric("plexus_authentications_total{result=\"ok\"}"), 1);
  // The status page's connections show the verified subject beside the claimed name.
  const auto peers = server_->metrics().at("peers");
  ASSERT_EQ(peers.size(), 1u) << peers.dump();
  EXPECT_EQ(peers[0].value("subject", ""), "alice");
  EXPECT_EQ(peers[0].value("name", ""), "claims-to-be-bob");
}

// Missing, expired, foreign (signed by a key the server does not hold) and tampered tokens are
// refused in the handshake with unauthenticated and a reason the user can act on; each is
// counted by its result.
TEST_F(SecureServerTest, MissingExpiredForeignAndTamperedTokensAreRefused) {
  const auto key = make_key("k1");
  const auto stranger = make_key("k9");
  start(verifier_of({&key}), std::nullopt);
  std::string tampered = token_for(key, "alice");
  // The claims' first character after the header: flipping it breaks the signature.
  tampered[tampered.find('.') + 2] ^= 1;
  const struct {
    std::string token;
    std::string result;
    std::string says;
  } cases[] = {
      {"", "missing", "requires a token"},
      {token_for(key, "alice", {}, -10), "expired", "expired"},
      {token_for(stranger, "alice"), "unknown_key", "k9"},
      {tampered, "bad_signature", "signature"},
      {"not-a-token", "malformed", "malformed"},
  };
  for (const auto& c : cases) {
    auto client = connect(c.token);
    ASSERT_FALSE(client) << c.result;
    EXPECT_EQ(client.error().code, StatusCode::unauthenticated) << client.error().to_string();
    EXPECT_NE(client.error().message.find(c.says), std::string::npos) << client.error().message;
    EXPECT_EQ(client.error().message.find(c.token.empty() ? "\x01" : c.token), std::string::npos)
        << "the refusal must not echo the token";
    EXPECT_EQ(metric("plexus_authentications_total{result=\"" + c.result + "\"}"), 1) << c.result;
  }
  EXPECT_EQ(metric("plexus_authentications_total{result=\"ok\"}"), 0);
  EXPECT_EQ(server_->stats().connections_open, 0u);
}

// A reload re-checks the subscriptions already made: a session holding one the new policy
// refuses ends with GOAWAY permission_denied; a session whose subscriptions are all still
// allowed stays, and keeps receiving.
TEST_F(SecureServerTest, AReloadEndsOnlyTheSessionsWithASubscriptionItNoLongerAllows) {
  const std::string uid = std::to_string(::getuid());
  start(nullptr, policy_of("[[rule]]\nname = \"a\"\nuid = " + uid +
                           "\nsubscribe = [\"news.>\", \"sport.>\"]\n"));
  auto both = connect("", "both");
  auto news_only = connect("", "news-only");
  ASSERT_TRUE(both && news_only);
  std::promise<void> received;
  std::atomic<bool> got{false};
  ASSERT_TRUE((*both)->subscribe("sport.>", [](std::string_view, std::string_view) {}));
  ASSERT_TRUE((*news_only)->subscribe("news.>", [&](std::string_view, std::string_view) {
    if (!got.exchange(true)) received.set_value();
  }));
  std::promise<void> closed;
  std::atomic<bool> once{false};
  (*both)->on_state_change([&](ConnectionState s) {
    if (s == ConnectionState::closed && !once.exchange(true)) closed.set_value();
  });
  ASSERT_TRUE(server_->set_access_policy(
      policy_of("[[rule]]\nname = \"b\"\nuid = " + uid + "\nsubscribe = [\"news.>\"]\n")));
  ASSERT_EQ(closed.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the session subscribed to sport.> was not ended";
  ASSERT_TRUE(server_->publish("news.today", "hello"));
  ASSERT_EQ(received.get_future().wait_for(std::chrono::seconds(5)), std::future_status::ready)
      << "the session whose subscription is still allowed no longer receives";
  EXPECT_EQ((*news_only)->state(), ConnectionState::connected);
  EXPECT_EQ((*news_only)->stats().reconnects, 0u);
}

// A reload re-checks the streams being served: one whose method the new policy refuses is
// cancelled with permission_denied; the connection and what it may still do stay.
TEST_F(SecureServerTest, AReloadCancelsAStreamItNoLongerAllows) {
  const std::string uid = std::to_string(::getuid());
  server_start_tail_ = true;
  start(nullptr, policy_of("[[rule]]\nname = \"a\"\nuid = " + uid +
                           "\ncall = [\"math.add\"]\nstream = [\"files.tail\"]\n"));
  auto client = connect("");
  ASSERT_TRUE(client);
  auto& c = **client;
  auto tail = c.open_stream("files.tail", "");
  auto first = tail.read();
  ASSERT_TRUE(first && first->has_value()) << (first ? "ended" : first.error().to_string());
  ASSERT_TRUE(server_->set_access_policy(
      policy_of("[[rule]]\nname = \"b\"\nuid = " + uid + "\ncall = [\"math.add\"]\n")));
  // The handler writes an item every 10 ms for up to 10 s: the stream must end long before.
  Result<std::optional<std::string>> item = first;
  int items = 1;
  while ((item = tail.read()) && item->has_value()) ++items;
  ASSERT_FALSE(item) << "the stream ended without an error after " << items << " items";
  EXPECT_EQ(item.error().code, StatusCode::permission_denied) << item.error().to_string();
  EXPECT_LT(items, 1000);
  EXPECT_TRUE(c.call("math.add", "{}"));
  EXPECT_EQ(c.stats().reconnects, 0u);
}

// A session lasts only as long as its token: at "exp" the server ends it with GOAWAY
// unauthenticated (reason "expired"), and connecting again with the same token is refused.
TEST_F(SecureServerTest, ASessionEndsWhenItsTokenExpires) {
  const auto key = make_key("k1");
  start(verifier_of({&key}), std::nullopt);
  const std::string token = token_for(key, "alice", {}, 2);  // "exp" within 1-2 s from now
  auto client = connect(token);
  ASSERT_TRUE(client) << client.error().to_string();
  std::promise<void> closed;
  std::atomic<bool> once{false};
  (*client)->on_state_change([&](ConnectionState s) {
    if (s == ConnectionState::closed && !once.exchange(true)) closed.set_value();
  });
  if ((*client)->state() == ConnectionState::connected) {
    ASSERT_TRUE((*client)->call("whoami", ""));
  }
  ASSERT_EQ(closed.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready)
      << "the session outlived its token";
  auto after = (*client)->call("whoami", "");
  ASSERT_FALSE(after);
  auto again = connect(token);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, StatusCode::unauthenticated) << again.error().to_string();
  EXPECT_NE(again.error().message.find("expired"), std::string::npos) << again.error().message;
}

// During a rotation the server holds both keys and admits tokens of either; once the old key
// goes, its tokens are refused to new connections while connections it admitted stay.
TEST_F(SecureServerTest, AKeyRotationAcceptsBothKeysThenOnlyTheNewOne) {
  const auto old_key = make_key("2026-old");
  const auto new_key = make_key("2026-new");
  start(verifier_of({&old_key, &new_key}), std::nullopt);
  auto by_old = connect(token_for(old_key, "alice"));
  auto by_new = connect(token_for(new_key, "bob"));
  ASSERT_TRUE(by_old) << by_old.error().to_string();
  ASSERT_TRUE(by_new) << by_new.error().to_string();
  server_->set_token_verifier(verifier_of({&new_key}));
  auto late_old = connect(token_for(old_key, "alice"));
  ASSERT_FALSE(late_old);
  EXPECT_EQ(late_old.error().code, StatusCode::unauthenticated);
  EXPECT_TRUE(connect(token_for(new_key, "carol")));
  auto still = (*by_old)->call("whoami", "");
  ASSERT_TRUE(still) << still.error().to_string();
  EXPECT_EQ(json::parse(*still)["subject"], "alice");
}

// With tokens optional, a client without one is admitted and known by its uid; a token it
// presents must still verify.
TEST_F(SecureServerTest, OptionalTokensAdmitClientsWithoutOneButNotWithABadOne) {
  const auto key = make_key("k1");
  const auto stranger = make_key("k2");
  start(verifier_of({&key}), std::nullopt, /*require_token=*/false);
  auto plain = connect("");
  ASSERT_TRUE(plain) << plain.error().to_string();
  auto who = (*plain)->call("whoami", "");
  ASSERT_TRUE(who);
  EXPECT_EQ(json::parse(*who)["key"], "uid:" + std::to_string(::getuid()));
  auto foreign = connect(token_for(stranger, "mallory"));
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, StatusCode::unauthenticated);
}

// Once a policy is set, every action is checked per method or topic, by the verified uid: what
// no rule allows is refused (calls, subscriptions, streams: permission_denied, without telling
// whether the method exists) or dropped and counted (notifications, publishes).
TEST_F(SecureServerTest, APolicyChecksEveryActionPerMethodAndTopic) {
  start(nullptr, policy_of(R"([[rule]]
name = "me"
uid = )" + std::to_string(::getuid()) +
                           R"(
call = ["math.*", "whoami"]
notify = ["log.*"]
publish = ["news.>"]
subscribe = ["news.>"]
stream = ["files.list"]
)"));
  auto client = connect("");
  ASSERT_TRUE(client) << client.error().to_string();
  auto& c = **client;
  EXPECT_TRUE(c.call("math.add", "{}"));
  // admin.reset twice: a refusal the session remembers is counted as often as it happens.
  for (const char* denied : {"admin.reset", "admin.reset", "no.such.method"}) {
    auto r = c.call(denied, "{}");
    ASSERT_FALSE(r) << denied;
    EXPECT_EQ(r.error().code, StatusCode::permission_denied) << r.error().to_string();
    EXPECT_NE(r.error().message.find("uid " + std::to_string(::getuid())), std::string::npos)
        << r.error().message;
  }
  // Notifications: the allowed one runs, the other is dropped. A call behind them on the same
  // connection is answered after both were handled.
  ASSERT_TRUE(c.notify("admin.note", "{}"));
  ASSERT_TRUE(c.notify("log.line", "{}"));
  ASSERT_TRUE(c.call("math.add", "{}"));
  EXPECT_EQ(notified(), std::vector<std::string>{"log.line"});
  // Subscriptions: covered patterns only.
  EXPECT_TRUE(c.subscribe("news.*", [](std::string_view, std::string_view) {}));
  for (const char* pattern : {"admin.>", ">"}) {
    auto s = c.subscribe(pattern, [](std::string_view, std::string_view) {});
    ASSERT_FALSE(s) << pattern;
    EXPECT_EQ(s.error().code, StatusCode::permission_denied) << s.error().to_string();
  }
  // Publishes: the server's own subscription to everything sees only the allowed ones.
  ASSERT_TRUE(c.publish("news.a", "1"));
  ASSERT_TRUE(c.publish("admin.a", "2"));
  ASSERT_TRUE(c.publish("news.b", "3"));
  ASSERT_TRUE(two_published_.wait_for(Millis{10000}));
  EXPECT_EQ(published(), (std::vector<std::string>{"news.a", "news.b"}));
  // Streams.
  auto allowed = c.open_stream("files.list", "");
  auto item = allowed.read();
  ASSERT_TRUE(item) << item.error().to_string();
  EXPECT_EQ(item->value_or(""), "one");
  auto refused = c.open_stream("files.secret", "");
  auto none = refused.read();
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, StatusCode::permission_denied) << none.error().to_string();
  // Each refusal counted by action and by the rule that decided it.
  const auto m = server_->metrics_text();
  EXPECT_EQ(sample(m, R"(plexus_access_denials_total{action="call",rule="default"})"), 3) << m;
  EXPECT_EQ(sample(m, R"(plexus_access_denials_total{action="notify",rule="default"})"), 1);
  EXPECT_EQ(sample(m, R"(plexus_access_denials_total{action="publish",rule="default"})"), 1);
  EXPECT_EQ(sample(m, R"(plexus_access_denials_total{action="subscribe",rule="default"})"), 2);
  EXPECT_EQ(sample(m, R"(plexus_access_denials_total{action="stream",rule="default"})"), 1);
}

// One-way messages by the paths that skip the single-frame decoder: lanes (LANE_DATA carries
// only the lane's id) and BATCH frames of NOTIFYs and PUBLISHes. The same rules hold.
TEST_F(SecureServerTest, LanesAndBatchedMessagesAreCheckedToo) {
  start(nullptr, policy_of(R"([[rule]]
name = "me"
uid = )" + std::to_string(::getuid()) +
                           R"(
call = ["math.*"]
notify = ["log.*"]
publish = ["news.>"]
)"));
  auto client = connect("", "batcher", /*batching=*/true);
  ASSERT_TRUE(client) << client.error().to_string();
  auto& c = **client;
  auto allowed = c.open_lane("log.line");
  auto denied = c.open_lane("admin.note");
  ASSERT_TRUE(allowed && denied);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(denied->send("{}"));
    ASSERT_TRUE(allowed->send("{}"));
  }
  ASSERT_TRUE(c.notify("admin.note", "{}"));
  ASSERT_TRUE(c.notify("log.line", "{}"));
  ASSERT_TRUE(c.publish("admin.a", "x"));
  ASSERT_TRUE(c.publish("news.a", "1"));
  ASSERT_TRUE(c.publish("news.b", "2"));
  c.flush();
  ASSERT_TRUE(c.call("math.add", "{}"));  // behind the lanes and the batch on this connection
  EXPECT_EQ(notified(), std::vector<std::string>(4, "log.line"));
  ASSERT_TRUE(two_published_.wait_for(Millis{10000}));
  EXPECT_EQ(published(), (std::vector<std::string>{"news.a", "news.b"}));
  const auto m = server_->metrics_text();
  EXPECT_EQ(sample(m, R"(plexus_access_denials_total{action="notify",rule="default"})"), 4) << m;
  EXPECT_EQ(sample(m, R"(plexus_access_denials_total{action="publish",rule="default"})"), 1);
}

// A token's scope decides per method: a reader may get but not put, a writer both.
TEST_F(SecureServerTest, ATokensScopeDecidesPerMethod) {
  const auto key = make_key("k1");
  start(verifier_of({&key}), policy_of(R"(
[[rule]]
name = "readers"
scope = "reader"
call = ["news.get"]

[[rule]]
name = "writers"
scope = "writer"
call = ["news.get", "news.put"]

[[rule]]
name = "no-admin"
effect = "deny"
anyone = true
call = ["admin.>"]
)"));
  auto reader = connect(token_for(key, "rita", {"reader"}));
  auto writer = connect(token_for(key, "walt", {"writer"}));
  ASSERT_TRUE(reader && writer);
  EXPECT_TRUE((*reader)->call("news.get", "{}"));
  auto put = (*reader)->call("news.put", "{}");
  ASSERT_FALSE(put);
  EXPECT_EQ(put.error().code, StatusCode::permission_denied);
  EXPECT_NE(put.error().message.find("subject \"rita\""), std::string::npos) << put.error().message;
  EXPECT_TRUE((*writer)->call("news.put", "{}"));
  auto admin = (*writer)->call("admin.reset", "{}");
  ASSERT_FALSE(admin);
  EXPECT_EQ(admin.error().code, StatusCode::permission_denied);
  EXPECT_EQ(metric(R"(plexus_access_denials_total{action="call",rule="no-admin"})"), 1);
  EXPECT_EQ(metric(R"(plexus_access_denials_total{action="call",rule="default"})"), 1);
}

// A new policy takes effect at the client's next call, on the same connection.
TEST_F(SecureServerTest, AReloadedPolicyAppliesWithoutDroppingTheClient) {
  const std::string uid = std::to_string(::getuid());
  start(nullptr, policy_of("[[rule]]\nname = \"a\"\nuid = " + uid + "\ncall = [\"math.add\"]\n"));
  auto client = connect("");
  ASSERT_TRUE(client);
  auto& c = **client;
  EXPECT_TRUE(c.call("math.add", "{}"));
  EXPECT_FALSE(c.call("news.get", "{}"));
  ASSERT_TRUE(server_->set_access_policy(
      policy_of("[[rule]]\nname = \"b\"\nuid = " + uid + "\ncall = [\"news.get\"]\n")));
  auto add = c.call("math.add", "{}");
  ASSERT_FALSE(add);
  EXPECT_EQ(add.error().code, StatusCode::permission_denied);
  EXPECT_TRUE(c.call("news.get", "{}"));
  EXPECT_EQ(c.stats().reconnects, 0u);
  EXPECT_EQ(server_->stats().connections_accepted, 1u);
  EXPECT_EQ(server_->stats().connections_open, 1u);
}

TEST(SecureServer, APolicyCannotBeSetOnAServerCreatedWithoutOne) {
  Runtime runtime;
  TempDir dir;
  ServerOptions options;
  options.listen = {dir.unix_address("s.sock")};
  auto server = Server::create(runtime, options);
  ASSERT_TRUE(server);
  auto set =
      (*server)->set_access_policy(policy_of("[[rule]]\nname = \"x\"\nanyone = true\n"
                                             "call = [\">\"]\n"));
  ASSERT_FALSE(set);
  EXPECT_EQ(set.error().code, StatusCode::failed_precondition);
}

// ---- across processes: plexus serve, the CLI, a second user ---------------------------------

class SecureServeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    // The directory lets anyone reach the socket: the socket's mode and the policy decide.
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
  }
  std::string address() const { return dir_.unix_address("s.sock"); }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_.file(name)) << text;
    ::chmod(dir_.file(name).c_str(), 0644);
  }
  // The CLI run as `nobody` (a copy that user may execute). Skips when not root.
  CommandResult cli_as_nobody(const std::string& args) {
    const std::string copy = dir_.path() + "/plexus-cli";
    if (!std::filesystem::exists(copy)) {
      std::filesystem::copy_file(cli_binary(), copy);
      ::chmod(copy.c_str(), 0755);
    }
    return run_command("setpriv --reuid=" + std::to_string(kNobody) + " --regid=" +
                       std::to_string(kNobody) + " --clear-groups " + copy + " " + args);
  }
  TempDir dir_;
};

std::string owner_and_nobody_policy(const std::string& nobody_calls) {
  return "[[rule]]\nname = \"owner\"\nuid = " + std::to_string(::getuid()) +
         "\ncall = [\">\"]\npublish = [\">\"]\nsubscribe = [\">\"]\n\n"
         "[[rule]]\nname = \"helper\"\nuser = \"nobody\"\ncall = " +
         nobody_calls + "\nsubscribe = [\"demo.ticker\"]\n";
}

// A second user on a shared socket is held to the policy per method and topic; the owner
// reloads it (SIGHUP, `plexus acl reload`) without restarting; an invalid file is refused with
// its line and the running policy stays; the second user may not reload.
TEST_F(SecureServeCli, ASecondUserIsHeldToThePolicyWhichReloadsInPlace) {
  if (::getuid() != 0) GTEST_SKIP() << "needs root to run a process as another user";
  write("acl.toml", owner_and_nobody_policy("[\"echo\"]"));
  CliServe serve({"--listen", address(), "--socket-mode", "0666", "--no-http", "--demo", "--acl",
                  dir_.file("acl.toml")});
  auto echo = cli_as_nobody("call " + address() + " echo '{\"x\":1}'");
  EXPECT_EQ(echo.exit_code, 0) << echo.output;
  auto count = cli_as_nobody("call " + address() + " count '{}'");
  EXPECT_EQ(count.exit_code, 7) << count.output;
  EXPECT_NE(count.output.find("uid 65534 may not call \"count\""), std::string::npos)
      << count.output;
  auto sub = cli_as_nobody("sub " + address() + " 'secret.>' -n 1");
  EXPECT_EQ(sub.exit_code, 7) << sub.output;
  // The owner's calls go through.
  EXPECT_EQ(run_cli("call " + address() + " count '{}'").exit_code, 0);

  // SIGHUP: the helper may count now.
  write("acl.toml", owner_and_nobody_policy("[\"echo\", \"count\"]"));
  ::kill(serve.pid(), SIGHUP);
  EXPECT_NE(serve.line_containing("reloaded access policy").find("2 rules"), std::string::npos);
  count = cli_as_nobody("call " + address() + " count '{}'");
  EXPECT_EQ(count.exit_code, 0) << count.output;

  // An invalid file: refused with its line; the running policy stays.
  write("acl.toml",
        owner_and_nobody_policy("[\"echo\"]") + "\n[[rule]]\nname = \"x\"\nbogus = 1\n");
  auto reload = run_cli("acl reload " + address());
  EXPECT_EQ(reload.exit_code, 3) << reload.output;
  EXPECT_NE(reload.output.find("acl.toml:16"), std::string::npos) << reload.output;
  count = cli_as_nobody("call " + address() + " count '{}'");
  EXPECT_EQ(count.exit_code, 0) << count.output;

  // A valid one through `plexus acl reload`; the second user may not reload.
  write("acl.toml", owner_and_nobody_policy("[\"echo\", \"plexus.acl.reload\"]"));
  reload = run_cli("acl reload " + address());
  EXPECT_EQ(reload.exit_code, 0) << reload.output;
  EXPECT_NE(reload.output.find("reloaded: access policy"), std::string::npos) << reload.output;
  count = cli_as_nobody("call " + address() + " count '{}'");
  EXPECT_EQ(count.exit_code, 7) << count.output;
  auto theirs = cli_as_nobody("acl reload " + address());
  EXPECT_EQ(theirs.exit_code, 7) << theirs.output;
  EXPECT_NE(theirs.output.find("only the server's own user"), std::string::npos) << theirs.output;
}

// plexus serve --token-key: the CLI's calls carry --token (or PLEXUS_TOKEN); without one, or
// with one from a key the server does not hold, they are refused (exit 16).
TEST_F(SecureServeCli, ServeVerifiesTheTokensTheCliPresents) {
  ASSERT_EQ(run_cli("token keygen --kid k1 --dir " + dir_.path()).exit_code, 0);
  ASSERT_EQ(run_cli("token keygen --kid k2 --dir " + dir_.path()).exit_code, 0);
  auto issued = run_cli("token issue --key " + dir_.file("k1.key") + " --subject alice");
  ASSERT_EQ(issued.exit_code, 0) << issued.output;
  const std::string token = issued.output.substr(0, issued.output.find_first_of("\r\n"));
  auto foreign = run_cli("token issue --key " + dir_.file("k2.key") + " --subject mallory");
  ASSERT_EQ(foreign.exit_code, 0) << foreign.output;
  CliServe serve(
      {"--listen", address(), "--no-http", "--demo", "--token-key", dir_.file("k1.pub")});
  auto with = run_cli("--token " + token + " call " + address() + " echo '{}'");
  EXPECT_EQ(with.exit_code, 0) << with.output;
  auto from_env = run_command("PLEXUS_TOKEN=" + token + " " + cli_binary() + " call " + address() +
                              " echo '{}'");
  EXPECT_EQ(from_env.exit_code, 0) << from_env.output;
  auto without = run_cli("call " + address() + " echo '{}'");
  EXPECT_EQ(without.exit_code, 16) << without.output;
  EXPECT_NE(without.output.find("requires a token"), std::string::npos) << without.output;
  auto wrong = run_cli("call " + address() + " echo '{}' --token " +
                       foreign.output.substr(0, foreign.output.find_first_of("\r\n")));
  EXPECT_EQ(wrong.exit_code, 16) << wrong.output;
}

}  // namespace
}  // namespace plexus::test::security

// Hostile and broken clients against a live child server, over raw POSIX sockets: garbage,
// truncated frames, absurd length claims, wrong versions, stalls, oversize requests, frames out
// of order, duplicate metadata. Each bad client must get the documented answer (GOAWAY with a
// status, or an ERROR for one call) and the server must go on serving everyone else.
#include <algorithm>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transport/address.hpp"
#include "wire/frame.hpp"
#include "wire/handshake.hpp"
#include "wire/metadata.hpp"

namespace {

using nlohmann::json;
using plexus::StatusCode;
using plexus::test::Millis;
using plexus::test::ServerProcess;
using plexus::test::TempDir;
using plexus::wire::FrameKind;
namespace wire = plexus::wire;
using Clock = std::chrono::steady_clock;

// A generous bound on how long the server may take to react; never a synchronisation device.
constexpr Millis kSafety{5000};
// The test server's heartbeat settings: silent peers are dropped after 600 ms.
const std::vector<std::string> kHeartbeatArgs = {"--heartbeat-timeout-ms", "600", "--heartbeat-ms",
                                                 "200"};

// ---- frames to send ----------------------------------------------------------------------------

std::string frame(FrameKind kind, std::uint64_t id, const wire::Metadata& md,
                  std::string_view payload = {}) {
  std::string out;
  auto ok = wire::encode_frame(kind, id, md, payload, 0xFFFFFFFF, out);
  EXPECT_TRUE(ok) << ok.error().to_string();
  return out;
}

std::string request(std::uint64_t id, std::string_view method, std::string_view payload) {
  wire::Metadata md;
  md.method = method;
  return frame(FrameKind::request, id, md, payload);
}

// Any 16 header bytes, including kinds and flags the encoder would never produce.
std::string raw_header(std::uint32_t body, std::uint8_t kind, std::uint8_t flags,
                       std::uint16_t md_len, std::uint64_t id) {
  wire::FrameHeader h;
  h.body_length = body;
  h.kind = static_cast<FrameKind>(kind);
  h.flags = flags;
  h.metadata_length = md_len;
  h.id = id;
  std::string out(wire::kHeaderSize, '\0');
  wire::encode_header(h, out.data());
  return out;
}

std::string md_entry(std::uint16_t key, std::string_view value) {
  std::string s(4, '\0');
  const auto len = static_cast<std::uint16_t>(value.size());
  std::memcpy(s.data(), &key, 2);
  std::memcpy(s.data() + 2, &len, 2);
  return s.append(value);
}

std::string hello(std::uint16_t version = wire::kProtocolVersion) {
  wire::PeerHello h;
  h.version = version;
  h.peer_name = "raw-client";
  std::string out;
  wire::encode_hello(FrameKind::hello, h, out);
  return out;
}

// ---- frames received ---------------------------------------------------------------------------

struct RxFrame {
  wire::FrameHeader header;
  std::string metadata;
  std::string payload;

  FrameKind kind() const { return header.kind; }
  // Views into this->metadata. The server must only ever send well-formed metadata.
  wire::Metadata md() const {
    auto m = wire::decode_metadata(metadata);
    EXPECT_TRUE(m) << "server sent bad metadata: " << m.error().to_string();
    return m ? *m : wire::Metadata{};
  }
  std::optional<StatusCode> status() const {
    const auto m = md();
    if (!m.status) return std::nullopt;
    return plexus::status_code_from_wire(*m.status);
  }
  std::string message() const { return std::string(md().error_message); }
  json details() const {
    const auto m = md();
    return m.error_details.empty() ? json() : json::parse(m.error_details, nullptr, false);
  }
  std::string describe() const {
    std::ostringstream s;
    const auto m = md();
    s << wire::to_string(kind()) << " id=" << header.id;
    if (m.status) s << " status=" << plexus::to_string(plexus::status_code_from_wire(*m.status));
    if (!m.error_message.empty()) s << " message=\"" << m.error_message << "\"";
    if (!m.error_details.empty()) s << " details=" << m.error_details;
    if (!payload.empty()) s << " payload=" << payload.size() << "B";
    return s.str();
  }
};

std::string describe(const std::vector<RxFrame>& frames) {
  std::string s = "[";
  for (const auto& f : frames) s += (s.size() > 1 ? ", " : "") + f.describe();
  return s + "]";
}

// ---- a raw client ------------------------------------------------------------------------------

class RawSocket {
 public:
  static RawSocket connect(const std::string& address) {
    RawSocket s;
    auto a = plexus::transport::parse_address(address);
    if (!a) {
      ADD_FAILURE() << a.error().to_string();
      return s;
    }
    if (a->kind == plexus::transport::Address::Kind::tcp) {
      addrinfo hints{};
      hints.ai_socktype = SOCK_STREAM;
      hints.ai_flags = AI_NUMERICSERV;
      addrinfo* res = nullptr;
      if (::getaddrinfo(a->host.c_str(), std::to_string(a->port).c_str(), &hints, &res) != 0) {
        ADD_FAILURE() << "cannot resolve " << address;
        return s;
      }
      s.fd_ = ::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      const int rc = ::connect(s.fd_, res->ai_addr, res->ai_addrlen);
      ::freeaddrinfo(res);
      if (rc != 0) {
        ADD_FAILURE() << "connect " << address << ": " << std::strerror(errno);
        s.close();
      }
      return s;
    }
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    socklen_t len = sizeof(sa_family_t);
    if (a->kind == plexus::transport::Address::Kind::unix_abstract) {
      std::memcpy(sun.sun_path + 1, a->path.data(), a->path.size());
      len += static_cast<socklen_t>(1 + a->path.size());
    } else {
      std::memcpy(sun.sun_path, a->path.data(), a->path.size());
      len += static_cast<socklen_t>(a->path.size() + 1);
    }
    s.fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(s.fd_, reinterpret_cast<sockaddr*>(&sun), len) != 0) {
      ADD_FAILURE() << "connect " << address << ": " << std::strerror(errno);
      s.close();
    }
    return s;
  }

  RawSocket() = default;
  RawSocket(RawSocket&& o) noexcept : fd_(o.fd_), rbuf_(std::move(o.rbuf_)), eof_(o.eof_) {
    o.fd_ = -1;
  }
  RawSocket& operator=(RawSocket&&) = delete;
  ~RawSocket() { close(); }

  bool valid() const { return fd_ >= 0; }
  bool eof() const { return eof_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Writes everything; false when the server has already closed its end.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  void shutdown_write() { ::shutdown(fd_, SHUT_WR); }

  // The next frame other than PING within `timeout`; nullopt on end of stream or timeout. PINGs
  // are answered with PONG when `answer_pings` (a live client) and skipped otherwise.
  std::optional<RxFrame> next_frame(Millis timeout, bool answer_pings = true) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      auto r = wire::parse_frame(rbuf_, wire::Limits{0xFFFFFFFF});
      if (r.state == wire::ParseResult::State::error) {
        ADD_FAILURE() << "server sent a malformed frame: " << r.error.to_string();
        return std::nullopt;
      }
      if (r.state == wire::ParseResult::State::frame) {
        RxFrame f{r.frame.header, std::string(r.frame.metadata), std::string(r.frame.payload)};
        rbuf_.erase(0, r.consumed);
        if (auto md = wire::decode_metadata(f.metadata); md) {
          EXPECT_TRUE(wire::validate_frame_fields(f.kind(), *md)) << f.describe();
        } else {
          ADD_FAILURE() << "server sent bad metadata: " << md.error().to_string();
        }
        if (f.kind() == FrameKind::ping) {
          if (answer_pings) send(frame(FrameKind::pong, f.header.id, {}));
          continue;
        }
        return f;
      }
      if (eof_ || !fill(deadline)) return std::nullopt;
    }
  }

  // Every frame (PINGs aside, unanswered) the server sends until it closes the connection.
  // eof() tells whether it did within `timeout`.
  std::vector<RxFrame> read_until_eof(Millis timeout) {
    const auto deadline = Clock::now() + timeout;
    std::vector<RxFrame> frames;
    while (!eof_) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now());
      if (left.count() <= 0) break;
      if (auto f = next_frame(left, /*answer_pings=*/false)) frames.push_back(std::move(*f));
    }
    return frames;
  }

  // HELLO, then the server's WELCOME (returned).
  std::optional<wire::PeerHello> handshake() {
    if (!send(hello())) {
      ADD_FAILURE() << "HELLO not sent";
      return std::nullopt;
    }
    auto f = next_frame(kSafety);
    if (!f || f->kind() != FrameKind::welcome) {
      ADD_FAILURE() << "expected WELCOME, got " << (f ? f->describe() : "nothing");
      return std::nullopt;
    }
    auto w = wire::decode_hello(f->md());
    if (!w) {
      ADD_FAILURE() << "bad WELCOME: " << w.error().to_string();
      return std::nullopt;
    }
    return *w;
  }

 private:
  // One read, waiting until `deadline`; false on timeout or end of stream.
  bool fill(Clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
      if (left <= 0) return false;
      pollfd pfd{fd_, POLLIN, 0};
      const int rc = ::poll(&pfd, 1, static_cast<int>(left));
      if (rc < 0 && errno == EINTR) continue;
      if (rc <= 0) return false;
      char buf[65536];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n > 0) {
        rbuf_.append(buf, static_cast<std::size_t>(n));
        return true;
      }
      // 0: orderly close; ECONNRESET: closed with our bytes unread. Both end the stream.
      eof_ = true;
      return false;
    }
  }

  int fd_ = -1;
  std::string rbuf_;
  bool eof_ = false;
};

RawSocket connect_ready(const std::string& address) {
  auto s = RawSocket::connect(address);
  if (s.valid()) {
    EXPECT_TRUE(s.handshake());
  }
  return s;
}

// The server's answer to a bad client: one GOAWAY with `code`, then the end of the stream.
std::optional<RxFrame> expect_goaway_and_close(RawSocket& s, StatusCode code,
                                               Millis timeout = kSafety) {
  auto frames = s.read_until_eof(timeout);
  EXPECT_TRUE(s.eof()) << "the server kept the connection open; it sent " << describe(frames);
  if (frames.size() != 1 || frames[0].kind() != FrameKind::goaway) {
    ADD_FAILURE() << "expected exactly one GOAWAY, got " << describe(frames);
    return std::nullopt;
  }
  EXPECT_EQ(frames[0].header.id, 0u);
  EXPECT_EQ(frames[0].status(), code) << frames[0].describe();
  return frames[0];
}

// Peak resident memory of a process, in KiB (VmHWM).
long peak_rss_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// ---- bad clients (each asserts what the server answers) ----------------------------------------

// Random bytes whose kind byte is not a known kind: GOAWAY protocol_error, then close.
void bad_random_bytes(const std::string& address, unsigned seed, bool after_handshake) {
  auto s = after_handshake ? connect_ready(address) : RawSocket::connect(address);
  ASSERT_TRUE(s.valid());
  std::mt19937 rng(seed);
  std::string junk(64, '\0');
  for (auto& c : junk) c = static_cast<char>(rng());
  junk[4] = static_cast<char>(15 + rng() % 241);  // kinds 15..255 are not defined
  ASSERT_TRUE(s.send(junk));
  auto g = expect_goaway_and_close(s, StatusCode::protocol_error);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->details().value("kind", -1), static_cast<std::uint8_t>(junk[4])) << g->describe();
}

// Part of a frame, then the client stops writing: the server closes without answering.
void bad_truncated_then_close(const std::string& address, bool after_handshake) {
  auto s = after_handshake ? connect_ready(address) : RawSocket::connect(address);
  ASSERT_TRUE(s.valid());
  const auto full = after_handshake ? request(1, "echo", "cut short") : hello();
  ASSERT_TRUE(s.send(std::string_view(full).substr(0, full.size() / 2)));
  s.shutdown_write();
  const auto frames = s.read_until_eof(kSafety);
  EXPECT_TRUE(s.eof()) << "the server kept a half-closed connection open";
  EXPECT_TRUE(frames.empty()) << describe(frames);
}

// After a valid HELLO, a header announcing a 4 GiB body: GOAWAY message_too_large, then close.
void bad_4gib_claim(const std::string& address, bool after_handshake) {
  auto s = after_handshake ? connect_ready(address) : RawSocket::connect(address);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(s.send(raw_header(0xFFFFFFFF, 3, 0, 0, 7)));
  auto g = expect_goaway_and_close(s, StatusCode::message_too_large);
  ASSERT_TRUE(g);
  const auto d = g->details();
  EXPECT_EQ(d.value("size", 0ull), 0xFFFFFFFFull) << g->describe();
  EXPECT_TRUE(d.contains("limit")) << g->describe();
}

// A HELLO speaking version 2: GOAWAY protocol_error naming the supported versions.
void bad_wrong_version(const std::string& address) {
  auto s = RawSocket::connect(address);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(s.send(hello(2)));
  auto g = expect_goaway_and_close(s, StatusCode::protocol_error);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->details(), json::parse(R"({"supported":[1],"offered":2})")) << g->describe();
}

// A REQUEST as the first frame: GOAWAY protocol_error.
void bad_request_before_hello(const std::string& address) {
  auto s = RawSocket::connect(address);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(s.send(request(1, "echo", "too early")));
  auto g = expect_goaway_and_close(s, StatusCode::protocol_error);
  ASSERT_TRUE(g);
  EXPECT_NE(g->message().find("HELLO"), std::string::npos) << g->describe();
}

// A REQUEST whose metadata carries the method twice: GOAWAY protocol_error naming the key.
void bad_duplicate_key(const std::string& address) {
  auto s = connect_ready(address);
  ASSERT_TRUE(s.valid());
  const std::string md = md_entry(1, "echo") + md_entry(1, "echo");
  ASSERT_TRUE(s.send(raw_header(static_cast<std::uint32_t>(md.size() + 2), 3, 0,
                                static_cast<std::uint16_t>(md.size()), 1) +
                     md + "{}"));
  auto g = expect_goaway_and_close(s, StatusCode::protocol_error);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->details(), json::parse(R"({"key":1})")) << g->describe();
}

// Half a frame, then silence: the heartbeat timeout (600 ms) closes the connection.
void bad_half_frame_stall(const std::string& address) {
  auto s = connect_ready(address);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(s.send(request(1, "echo", "never finished").substr(0, 8)));
  // Nothing is answered now: a PONG would only extend the half frame.
  const auto frames = s.read_until_eof(kSafety);
  EXPECT_TRUE(s.eof()) << "a stalled client was not dropped within " << kSafety.count() << " ms";
  EXPECT_TRUE(frames.empty()) << describe(frames);
}

// ---- fixture: one live server per test, on a Unix socket or TCP --------------------------------

class BadInput : public ::testing::TestWithParam<std::string> {
 protected:
  void start(const std::vector<std::string>& extra = {}) {
    const std::string listen =
        GetParam() == "unix" ? dir_.unix_address("s.sock") : "tcp://127.0.0.1:0";
    std::vector<std::string> args = {"--listen", listen};
    // A test that sets its own heartbeats replaces the default ones (options are given once).
    if (std::find(extra.begin(), extra.end(), "--heartbeat-ms") == extra.end()) {
      args.insert(args.end(), kHeartbeatArgs.begin(), kHeartbeatArgs.end());
    }
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = ServerProcess::spawn(args);
    ASSERT_TRUE(server_.running());
    address_ = server_.address();
  }

  std::unique_ptr<plexus::Client> good_client() {
    plexus::ClientOptions o;
    o.address = address_;
    o.name = "good-client";
    o.connect_timeout = kSafety;
    o.reconnect.enabled = false;
    auto c = plexus::Client::connect(runtime_, o);
    EXPECT_TRUE(c) << c.error().to_string();
    return c ? std::move(*c) : nullptr;
  }

  // Whether a client connects within 2 s of tries: a place that a closed connection held comes
  // back once the server has seen it go, which nothing here can wait on.
  bool connects_once_a_place_frees() {
    plexus::ClientOptions o;
    o.address = address_;
    o.connect_timeout = kSafety;
    o.reconnect.enabled = false;
    for (int attempt = 0; attempt < 100; ++attempt) {
      if (plexus::Client::connect(runtime_, o)) return true;
      std::this_thread::sleep_for(Millis{20});
    }
    return false;
  }

  // A well-behaved client connects and gets its echo: the bad one harmed nobody else.
  void expect_still_serving() {
    auto c = good_client();
    ASSERT_TRUE(c);
    plexus::CallOptions co;
    co.timeout = kSafety;
    const std::string payload = "still serving " + std::to_string(++calls_);
    auto r = c->call("echo", payload, co);
    ASSERT_TRUE(r) << r.error().to_string();
    EXPECT_EQ(*r, payload);
  }

  plexus::Runtime runtime_;
  TempDir dir_;
  ServerProcess server_;
  std::string address_;
  int calls_ = 0;
};

// Named "bad_input/…" so that `ctest -R bad_input` selects them all.
INSTANTIATE_TEST_SUITE_P(bad_input, BadInput, ::testing::Values("unix", "tcp"),
                         [](const auto& info) { return info.param; });

// Slow cases (the 5 s handshake timeout), on one transport only.
class BadInputSlow : public BadInput {};
INSTANTIATE_TEST_SUITE_P(bad_input, BadInputSlow, ::testing::Values("unix"),
                         [](const auto& info) { return info.param; });

// (a)
TEST_P(BadInput, RandomBytesGetGoawayProtocolErrorAndClose) {
  start();
  for (unsigned seed = 1; seed <= 3; ++seed) {
    SCOPED_TRACE(seed);
    bad_random_bytes(address_, seed, /*after_handshake=*/false);
    expect_still_serving();
    bad_random_bytes(address_, seed, /*after_handshake=*/true);
    expect_still_serving();
  }
}

// (b)
TEST_P(BadInput, TruncatedFrameThenClose) {
  start();
  bad_truncated_then_close(address_, /*after_handshake=*/false);
  expect_still_serving();
  bad_truncated_then_close(address_, /*after_handshake=*/true);
  expect_still_serving();
  {
    // Half a frame and a full close: nobody left to answer.
    auto s = connect_ready(address_);
    ASSERT_TRUE(s.send(request(2, "echo", "gone").substr(0, 20)));
  }
  expect_still_serving();
}

// Half a frame and the end of stream reach the server in one epoll wake-up (the server is
// stopped while they arrive): it must still see the end of stream at once, not when a timeout
// fires. Heartbeats are long here so that only the EOF itself can close the connection in time.
TEST_P(BadInput, HalfAFrameAndEofArrivingTogetherCloseAtOnce) {
  start({"--heartbeat-ms", "60000", "--heartbeat-timeout-ms", "120000"});
  for (const bool after_handshake : {false, true}) {
    SCOPED_TRACE(after_handshake ? "after HELLO" : "before HELLO");
    auto s = after_handshake ? connect_ready(address_) : RawSocket::connect(address_);
    ASSERT_TRUE(s.valid());
    const auto full = after_handshake ? request(1, "echo", "cut short") : hello();
    server_.signal(SIGSTOP);
    siginfo_t stopped{};  // wait until it has really stopped (WNOWAIT: leave the state unreaped)
    ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(server_.pid()), &stopped, WSTOPPED | WNOWAIT), 0);
    const bool sent = s.send(std::string_view(full).substr(0, full.size() / 2));
    s.shutdown_write();
    server_.signal(SIGCONT);
    ASSERT_TRUE(sent);
    // The handshake timeout is 5 s (= kSafety): before HELLO, an EOF noticed only by that
    // timeout comes with a GOAWAY deadline_exceeded, which fails the frames check below.
    const auto frames = s.read_until_eof(kSafety);
    EXPECT_TRUE(s.eof()) << "the server missed the end of stream";
    EXPECT_TRUE(frames.empty()) << describe(frames);
  }
  expect_still_serving();
}

// (c)
TEST_P(BadInput, FourGiBHeaderAfterHelloGetsGoawayMessageTooLarge) {
  start();
  bad_4gib_claim(address_, /*after_handshake=*/true);
  expect_still_serving();
  bad_4gib_claim(address_, /*after_handshake=*/false);
  expect_still_serving();
  // Nothing of the announced 4 GiB was allocated (touched) by the server.
  const long peak = peak_rss_kib(server_.pid());
  ASSERT_GT(peak, 0);
  EXPECT_LT(peak, 1024 * 1024) << "server peak RSS " << peak << " KiB";
}

TEST_P(BadInput, FourGiBHeaderGoawayNamesTheLimit) {
  start({"--max-message-size", "1024"});
  auto s = connect_ready(address_);
  ASSERT_TRUE(s.send(raw_header(0xFFFFFFFF, 3, 0, 0, 7)));
  auto g = expect_goaway_and_close(s, StatusCode::message_too_large);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->details(), json::parse(R"({"limit":1024,"size":4294967295})")) << g->describe();
  expect_still_serving();
}

// (d)
TEST_P(BadInput, WrongVersionGetsGoawayNamingSupportedVersions) {
  start();
  bad_wrong_version(address_);
  expect_still_serving();
}

// (e)
TEST_P(BadInput, HalfAFrameAndStallIsClosedByTheHeartbeatTimeout) {
  start();
  bad_half_frame_stall(address_);
  expect_still_serving();
}

// (f)
TEST_P(BadInput, OversizeRequestFailsOnlyThatCall) {
  start({"--max-message-size", "1024"});
  auto s = RawSocket::connect(address_);
  ASSERT_TRUE(s.valid());
  auto welcome = s.handshake();
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->max_message_size, 1024u);

  ASSERT_TRUE(s.send(request(5, "echo", std::string(1025, 'x'))));
  auto e = s.next_frame(kSafety);
  ASSERT_TRUE(e) << "no answer to the oversize request";
  EXPECT_EQ(e->kind(), FrameKind::error) << e->describe();
  EXPECT_EQ(e->header.id, 5u);
  EXPECT_EQ(e->status(), StatusCode::message_too_large) << e->describe();
  EXPECT_EQ(e->details(), json::parse(R"({"limit":1024,"size":1025})")) << e->describe();

  // The connection goes on: the next request is served, even one exactly at the limit.
  const std::string at_limit(1024, 'y');
  ASSERT_TRUE(s.send(request(6, "echo", at_limit)));
  auto r = s.next_frame(kSafety);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->kind(), FrameKind::response) << r->describe();
  EXPECT_EQ(r->header.id, 6u);
  EXPECT_EQ(r->payload, at_limit);

  // Oversize and a good request in one write, and an oversize body dribbled in pieces.
  const std::string big = request(7, "echo", std::string(3000, 'z'));
  ASSERT_TRUE(s.send(big + request(8, "echo", "after")));
  ASSERT_TRUE(s.send(big.substr(0, 10)));
  ASSERT_TRUE(s.send(big.substr(10, 1000)));
  ASSERT_TRUE(s.send(big.substr(1010) + request(9, "echo", "last")));
  std::vector<std::pair<std::uint64_t, FrameKind>> seen;
  std::vector<std::string> payloads;
  for (int i = 0; i < 4; ++i) {
    auto f = s.next_frame(kSafety);
    ASSERT_TRUE(f) << "answer " << i << " missing";
    seen.emplace_back(f->header.id, f->kind());
    payloads.push_back(f->payload);
    if (f->kind() == FrameKind::error) {
      EXPECT_EQ(f->status(), StatusCode::message_too_large);
    }
  }
  const std::vector<std::pair<std::uint64_t, FrameKind>> expected = {{7, FrameKind::error},
                                                                     {8, FrameKind::response},
                                                                     {7, FrameKind::error},
                                                                     {9, FrameKind::response}};
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(payloads[1], "after");
  EXPECT_EQ(payloads[3], "last");

  // An oversize NOTIFY is discarded without an answer.
  wire::Metadata notify_md;
  notify_md.method = "echo";
  ASSERT_TRUE(s.send(frame(FrameKind::notify, 0, notify_md, std::string(2000, 'n')) +
                     request(10, "echo", "after notify")));
  auto n = s.next_frame(kSafety);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->kind(), FrameKind::response) << n->describe();
  EXPECT_EQ(n->header.id, 10u);
  EXPECT_EQ(n->payload, "after notify");
  expect_still_serving();
}

// Bodies up to 64 MiB are skipped unread; a larger claim closes the connection.
TEST_P(BadInput, OversizeBeyondTheSkipLimitClosesTheConnection) {
  start({"--max-message-size", "1024"});
  {
    auto s = connect_ready(address_);
    ASSERT_TRUE(s.send(raw_header(64u << 20, 3, 0, 0, 11)));
    auto e = s.next_frame(kSafety);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->kind(), FrameKind::error) << e->describe();
    EXPECT_EQ(e->header.id, 11u);
    EXPECT_EQ(e->status(), StatusCode::message_too_large);
  }
  {
    auto s = connect_ready(address_);
    ASSERT_TRUE(s.send(raw_header((64u << 20) + 1, 3, 0, 0, 12)));
    auto g = expect_goaway_and_close(s, StatusCode::message_too_large);
    ASSERT_TRUE(g);
  }
  expect_still_serving();
}

// (g)
TEST_P(BadInput, RequestBeforeHelloIsAProtocolError) {
  start();
  bad_request_before_hello(address_);
  expect_still_serving();
  // A PING is no better.
  auto s = RawSocket::connect(address_);
  ASSERT_TRUE(s.send(frame(FrameKind::ping, 1, {})));
  EXPECT_TRUE(expect_goaway_and_close(s, StatusCode::protocol_error));
  expect_still_serving();
}

// (h)
TEST_P(BadInput, DuplicateMetadataKeyGetsGoawayProtocolError) {
  start();
  bad_duplicate_key(address_);
  expect_still_serving();
  // In a HELLO too.
  auto s = RawSocket::connect(address_);
  const std::string md = md_entry(32, "PLXS") + md_entry(33, std::string("\x01\x00", 2)) +
                         md_entry(33, std::string("\x01\x00", 2));
  ASSERT_TRUE(s.send(raw_header(static_cast<std::uint32_t>(md.size()), 1, 0,
                                static_cast<std::uint16_t>(md.size()), 0) +
                     md));
  auto g = expect_goaway_and_close(s, StatusCode::protocol_error);
  ASSERT_TRUE(g);
  EXPECT_EQ(g->details(), json::parse(R"({"key":33})")) << g->describe();
  expect_still_serving();
}

TEST_P(BadInput, MalformedHeadersAfterHandshakeGetGoawayProtocolError) {
  start();
  struct Case {
    const char* what;
    std::string bytes;
  };
  const std::vector<Case> cases = {
      {"kind 0", raw_header(0, 0, 0, 0, 1)},
      {"kind 15", raw_header(0, 15, 0, 0, 1)},
      {"kind 255", raw_header(0, 255, 0, 0, 1)},
      {"reserved flag", raw_header(0, 8, 0x01, 0, 1)},
      {"metadata past the body", raw_header(4, 3, 0, 8, 1) + "abcd"},
      {"request without a method", frame(FrameKind::request, 1, {}, "x")},
      {"HELLO after the handshake", hello()},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    auto s = connect_ready(address_);
    ASSERT_TRUE(s.send(c.bytes));
    EXPECT_TRUE(expect_goaway_and_close(s, StatusCode::protocol_error));
  }
  expect_still_serving();
}

// Several bad clients at once while a good client keeps calling.
TEST_P(BadInput, ConcurrentBadClientsDoNotDisturbAGoodClient) {
  start();
  auto good = good_client();
  ASSERT_TRUE(good);
  const std::string address = address_;
  const std::vector<std::function<void(unsigned)>> bad = {
      [&](unsigned seed) { bad_random_bytes(address, seed, seed % 2 == 0); },
      [&](unsigned) { bad_truncated_then_close(address, true); },
      [&](unsigned) { bad_4gib_claim(address, true); },
      [&](unsigned) { bad_wrong_version(address); },
      [&](unsigned) { bad_request_before_hello(address); },
      [&](unsigned) { bad_duplicate_key(address); },
      [&](unsigned) { bad_half_frame_stall(address); },
  };
  constexpr int kRounds = 3;
  std::atomic<int> finished{0};
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < bad.size(); ++i) {
    threads.emplace_back([&, i] {
      for (int round = 0; round < kRounds; ++round) {
        bad[i](static_cast<unsigned>(i * 100 + static_cast<std::size_t>(round)));
      }
      finished.fetch_add(1);
    });
  }
  int calls = 0;
  plexus::CallOptions co;
  co.timeout = kSafety;
  // Keep calling until every bad client is done, and at least 50 times.
  while (finished.load() < static_cast<int>(bad.size()) || calls < 50) {
    const std::string payload = "call " + std::to_string(calls++);
    auto r = good->call("echo", payload, co);
    ASSERT_TRUE(r) << "good call " << calls << " failed: " << r.error().to_string();
    ASSERT_EQ(*r, payload);
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(good->state(), plexus::ConnectionState::connected);
  EXPECT_EQ(good->stats().reconnects, 0u);
  expect_still_serving();
}

// Half a HELLO and silence: the handshake timeout (5 s by default) drops the connection.
TEST_P(BadInputSlow, HalfAHelloAndStallIsClosedByTheHandshakeTimeout) {
  start();
  auto s = RawSocket::connect(address_);
  ASSERT_TRUE(s.send(hello().substr(0, 10)));
  // The handshake timeout is 5 s; allow three times that.
  auto g = expect_goaway_and_close(s, StatusCode::deadline_exceeded, Millis{15000});
  ASSERT_TRUE(g);
  EXPECT_NE(g->message().find("handshake"), std::string::npos) << g->describe();
  expect_still_serving();
}

// The server's plexus.stats, as JSON, through `client`.
json server_stats(plexus::Client& client) {
  auto r = client.call("plexus.stats", "{}");
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? json::parse(*r) : json{};
}

// A thousand connections that never say HELLO, all at once: each is dropped at the handshake
// timeout with GOAWAY deadline_exceeded, and the server holds nothing of them afterwards (its
// own metrics: no connection open or handshaking, its memory back near where it was).
TEST_P(BadInputSlow, AThousandSilentConnectionsAreDroppedAndHoldNothing) {
  constexpr int kSilent = 1000;
  start(
      {"--handshake-timeout-ms", "500", "--max-handshaking", "2000", "--max-connections", "2000"});
  auto watcher = good_client();
  ASSERT_TRUE(watcher);
  const auto before = server_stats(*watcher);
  std::vector<RawSocket> silent;
  silent.reserve(kSilent);
  for (int i = 0; i < kSilent; ++i) {
    silent.push_back(RawSocket::connect(address_));
    ASSERT_TRUE(silent.back().valid()) << "connection " << i;
  }
  int dropped = 0;
  for (auto& s : silent) {
    auto frames = s.read_until_eof(kSafety);
    if (s.eof() && frames.size() == 1 && frames[0].kind() == FrameKind::goaway &&
        frames[0].status() == StatusCode::deadline_exceeded) {
      ++dropped;
    }
  }
  EXPECT_EQ(dropped, kSilent);
  const auto after = server_stats(*watcher);
  EXPECT_EQ(after["connections"]["open"], 1) << "only the watcher";
  EXPECT_EQ(after["connections"]["handshaking"], 0);
  // A sanitizer's allocator keeps freed memory in quarantine: RSS says nothing there.
  if (!plexus::test::kSanitizerBuild) {
    const double rss_before = before["process"]["rss_bytes"];
    const double rss_after = after["process"]["rss_bytes"];
    EXPECT_LT(rss_after - rss_before, 16.0 * (1 << 20)) << "the server kept memory for them";
  }
  expect_still_serving();
}

// Past max_handshaking, a new connection is refused at once with GOAWAY resource_exhausted
// (silent ones cannot take every slot); once they are gone, clients connect again.
TEST_P(BadInputSlow, PastMaxHandshakingANewConnectionIsRefusedAtOnce) {
  start({"--max-handshaking", "8", "--handshake-timeout-ms", "60000"});
  std::vector<RawSocket> silent;
  for (int i = 0; i < 8; ++i) silent.push_back(RawSocket::connect(address_));
  // Each is counted once the server accepted it: a PING cannot come before HELLO, so the
  // last one's acceptance is seen through the refusal of the one after it.
  auto extra = RawSocket::connect(address_);
  auto g = expect_goaway_and_close(extra, StatusCode::resource_exhausted);
  ASSERT_TRUE(g);
  EXPECT_NE(g->message().find("handshake"), std::string::npos) << g->describe();
  EXPECT_EQ(g->details()["limit"], 8);
  silent.clear();  // closed by us: their slots free up as the server sees them go
  EXPECT_TRUE(connects_once_a_place_frees());
  expect_still_serving();
}

// max_connections_per_peer caps what one verified peer holds (here: one user over a Unix
// socket, one host over TCP); the connections beyond it are refused, the others go on.
TEST_P(BadInput, ConnectionsPastThePerPeerCapAreRefused) {
  start({"--max-connections-per-peer", "3"});
  std::vector<std::unique_ptr<plexus::Client>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(good_client());
    ASSERT_TRUE(clients.back());
  }
  auto extra = RawSocket::connect(address_);
  auto g = expect_goaway_and_close(extra, StatusCode::resource_exhausted);
  ASSERT_TRUE(g);
  EXPECT_NE(g->message().find("too many connections from "), std::string::npos) << g->describe();
  for (auto& client : clients) {
    auto r = client->call("echo", "still here");
    ASSERT_TRUE(r) << r.error().to_string();
  }
  // A connection that closes gives its place back (once the server has seen it go).
  clients.pop_back();
  EXPECT_TRUE(connects_once_a_place_frees());
}

// The server calls back into the client ("call_back" calls the caller's "client.greet"). An
// answer larger than the server accepts is discarded (docs/PROTOCOL.md §8.2): the connection
// goes on, and the server's call is still waiting, so a proper answer afterwards completes it.
TEST_P(BadInput, OversizeResponseToAServerCallFailsThatCallAndTheConnectionGoesOn) {
  start({"--max-message-size", "1024"});
  auto s = connect_ready(address_);
  ASSERT_TRUE(s.valid());
  ASSERT_TRUE(s.send(request(1, "call_back", "hi")));
  auto greet = s.next_frame(kSafety);
  ASSERT_TRUE(greet) << "the server never called back (did it crash?)";
  ASSERT_EQ(greet->kind(), FrameKind::request) << greet->describe();
  EXPECT_EQ(greet->md().method, "client.greet");
  EXPECT_EQ(greet->payload, "hi");
  // Our answer to the server's call is over the server's limit: its body is skipped unread and
  // the server's call fails with message_too_large, which call_back passes on as its answer.
  ASSERT_TRUE(s.send(frame(FrameKind::response, greet->header.id, {}, std::string(2000, 'g'))));
  ASSERT_TRUE(s.send(request(2, "echo", "next")));
  std::map<std::uint64_t, std::string> got;  // id -> "KIND status/payload"
  for (int i = 0; i < 2; ++i) {
    auto f = s.next_frame(kSafety);
    ASSERT_TRUE(f) << "missing answer " << i;
    if (f->kind() == FrameKind::error) {
      got[f->header.id] = "ERROR " + std::to_string(f->md().status.value_or(0));
    } else {
      got[f->header.id] = std::string(wire::to_string(f->kind())) + " " + f->payload;
    }
  }
  EXPECT_EQ(got[1], "ERROR " + std::to_string(static_cast<int>(StatusCode::message_too_large)));
  EXPECT_EQ(got[2], "RESPONSE next");  // the connection goes on serving
  expect_still_serving();
}

}  // namespace

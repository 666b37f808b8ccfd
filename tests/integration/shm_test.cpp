// The shared-memory transport beyond the suites that run over every transport: the upgrade is
// really taken (or refused, leaving a working Unix connection), the wait strategies and large
// payloads through small rings, a hostile peer that scribbles the shared ring (the server
// closes it and lives on, clean under ASan), and a producer killed by SIGKILL mid-stream.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "platform/posix/shm.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transport/address.hpp"
#include "transport/shm/ring.hpp"
#include "wire/frame.hpp"
#include "wire/handshake.hpp"
#include "wire/metadata.hpp"
#include "wire/shm_upgrade.hpp"

namespace plexus::test {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

class ShmTest : public ::testing::Test {
 protected:
  void start_server(const std::string& listen, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--listen", listen};
    args.insert(args.end(), extra.begin(), extra.end());
    server_ = ServerProcess::spawn(args);
    ASSERT_TRUE(server_.running());
  }
  std::string path() const { return dir_.file("s.sock"); }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
};

TEST_F(ShmTest, ClientAskingForShmGetsSharedMemoryAndPlainClientsStillWork) {
  start_server(dir_.unix_address("s.sock") + "?shm=1");
  EXPECT_NE(server_.address().find("?shm=1"), std::string::npos) << server_.address();
  auto shm_client = connect_client(runtime_, server_.address());
  ASSERT_TRUE(shm_client);
  auto r = shm_client->call("echo", R"({"via":"shm"})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(json::parse(*r)["via"], "shm");
  EXPECT_EQ(shm_client->stats().shm_mapped_bytes, 4096u + 2 * (4u << 20));

  auto plain = connect_client(runtime_, "unix://" + path());
  ASSERT_TRUE(plain);
  ASSERT_TRUE(plain->call("echo", "{}"));
  EXPECT_EQ(plain->stats().shm_mapped_bytes, 0u);
}

// A plexus listener without ?shm=1 refuses the upgrade (failed_precondition) and the client
// carries on over the socket: asking for shared memory never costs a working connection.
TEST_F(ShmTest, ServerWithoutShmRefusesAndTheClientFallsBackToTheSocket) {
  start_server(dir_.unix_address("s.sock"));
  auto asked = connect_client(runtime_, "unix://" + path() + "?shm=1");
  ASSERT_TRUE(asked);
  auto r = asked->call("echo", R"({"via":"socket"})");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(json::parse(*r)["via"], "socket");
  EXPECT_EQ(asked->stats().shm_mapped_bytes, 0u);
  auto plain = connect_client(runtime_, "unix://" + path());
  ASSERT_TRUE(plain);
  EXPECT_TRUE(plain->call("echo", "{}"));
}

// A peer that does not implement the upgrade at all (here: one that reads the request and
// hangs up) fails the connection attempt with a clear unavailable, not a hang.
TEST_F(ShmTest, PeerThatHangsUpOnTheUpgradeFailsTheConnectClearly) {
  const std::string sock = dir_.file("foreign.sock");
  const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, sock.c_str(), sizeof sa.sun_path - 1);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  std::thread foreign([listener] {
    const int c = ::accept(listener, nullptr, nullptr);
    if (c < 0) return;
    char request[wire::kShmUpgradeRequestSize];
    (void)::recv(c, request, sizeof request, MSG_WAITALL);
    ::close(c);
  });
  ClientOptions o;
  o.address = "unix://" + sock + "?shm=1";
  o.reconnect.enabled = false;
  auto refused = Client::connect(runtime_, o);
  foreign.join();
  ::close(listener);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::unavailable) << refused.error().to_string();
  EXPECT_NE(refused.error().message.find("shared-memory upgrade"), std::string::npos)
      << refused.error().to_string();
}

TEST_F(ShmTest, BadShmOptionsAreInvalidArguments) {
  start_server(dir_.unix_address("s.sock") + "?shm=1");
  ClientOptions o;
  o.address = "unix://" + path() + "?shm=1&shm_wait=sometimes";
  auto c = Client::connect(runtime_, o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, StatusCode::invalid_argument);
  o.address = "unix://" + path() + "?shm=1&shm_ring=5000";
  c = Client::connect(runtime_, o);
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().code, StatusCode::invalid_argument);
}

// Every wait strategy on the client against a blocking server, with payloads far larger than
// the 4 KiB rings: they go through in pieces and come back intact.
TEST_F(ShmTest, EveryWaitStrategyCarriesPayloadsLargerThanTheRing) {
  start_server(dir_.unix_address("s.sock") + "?shm=1&shm_wait=block&shm_ring=8192");
  for (const std::string wait : {"spin", "adaptive", "block"}) {
    SCOPED_TRACE(wait);
    auto client =
        connect_client(runtime_, "unix://" + path() + "?shm=1&shm_ring=4096&shm_wait=" + wait);
    ASSERT_TRUE(client);
    EXPECT_EQ(client->stats().shm_mapped_bytes, 4096u + 2 * 4096u);
    for (const std::size_t size :
         {std::size_t{10}, std::size_t{5000}, std::size_t{1} << 20, std::size_t{4} << 20}) {
      std::string text(size, 'x');
      for (std::size_t i = 0; i < size; i += 4099) text[i] = static_cast<char>('a' + i % 26);
      const std::string payload = json{{"text", text}}.dump();
      auto r = client->call("echo", payload);
      ASSERT_TRUE(r) << size << ": " << r.error().to_string();
      EXPECT_EQ(*r, payload);
    }
    // Many calls in flight at once fill the ring: writes (requests with their metadata
    // block, answers without) wait for space in order, and every answer is its own request.
    Countdown all(500);
    std::atomic<int> ok{0};
    for (int i = 0; i < 500; ++i) {
      std::string request = json{{"i", i}, {"pad", std::string(300, 'p')}}.dump();
      client->call_async("echo", request, {}, [&, request](Result<std::string> r) {
        if (r && *r == request) ++ok;
        all.done();
      });
    }
    ASSERT_TRUE(all.wait_for(Millis{20000}));
    EXPECT_EQ(ok.load(), 500);
  }
}

// Lane messages are written into the ring in one piece when they fit before its end and the
// ring has room; otherwise they take the queue. Through 4 KiB rings 20,000 small messages (17 to
// 21 bytes with their header) wrap the ring about a hundred times at shifting offsets and find
// it full again and again, from the client's I/O thread (the direct path) and from this thread.
TEST_F(ShmTest, LaneMessagesThroughASmallRingWrapAndWaitForRoomInOrder) {
  start_server(dir_.unix_address("s.sock") + "?shm=1&shm_ring=4096");
  auto client = connect_client(runtime_, "unix://" + path() + "?shm=1&shm_ring=4096");
  ASSERT_TRUE(client);
  auto lane = client->open_lane("seq");
  ASSERT_TRUE(lane);
  constexpr int kMessages = 20000;
  Event<std::string> written;
  client->call_async("echo", "", {}, [&](Result<std::string>) {
    std::string failures;
    for (int i = 0; i < kMessages / 2; ++i) {
      if (auto sent = lane->send(std::to_string(i)); !sent) failures = sent.error().to_string();
    }
    written.set(failures.empty() ? "ok" : failures);
  });
  ASSERT_EQ(written.wait_for(Millis{20000}), "ok");
  for (int i = kMessages / 2; i < kMessages; ++i) ASSERT_TRUE(lane->send(std::to_string(i)));
  auto r = client->call("seq.report", "");
  ASSERT_TRUE(r) << r.error().to_string();
  const auto report = json::parse(*r);
  EXPECT_EQ(report["count"], kMessages);
  EXPECT_EQ(report["in_order"], true);
  EXPECT_GT(client->stats().shm_mapped_bytes, 0u);
}

// Large payloads are read where they lie in the ring, not copied out: the sender's copy into
// the ring is the only one. Pipelined echo calls of mixed sizes through 1 MiB rings, so large
// frames start at every kind of offset and many cross the ring's end; each answer must be its
// request byte for byte, and exactly the payloads of 16 KiB and more that fit a ring must have
// been read in place, on both sides (the server reads requests, the client answers); then the
// same for the items of a bidirectional stream.
TEST_F(ShmTest, LargePayloadsAreReadInPlaceAlsoAcrossTheRingsEnd) {
  start_server(dir_.unix_address("s.sock") + "?shm=1&shm_ring=1048576");
  auto client = connect_client(runtime_, "unix://" + path() + "?shm=1");
  ASSERT_TRUE(client);
  ASSERT_EQ(client->stats().shm_mapped_bytes, 4096u + 2 * (1u << 20));
  const std::size_t sizes[] = {100,           16 * 1024, 300 * 1024, 5,          700 * 1024,
                               16 * 1024 - 1, 40 * 1024, 2 << 20,    999 * 1024, 64};
  constexpr int kCalls = 60;
  std::vector<std::string> sent(kCalls);
  std::vector<std::optional<Result<std::string>>> got(kCalls);
  std::uint64_t expected_in_place = 0;
  Countdown all(kCalls);
  std::mutex mu;
  for (int i = 0; i < kCalls; ++i) {
    const std::size_t size = sizes[i % std::size(sizes)];
    sent[i] = pattern_bytes(size, static_cast<unsigned>(i));
    // In place when the payload is 16 KiB or more and its frame (16 + metadata + payload) fits
    // the 1 MiB ring; the 2 MiB one goes through the copy, in pieces.
    if (size >= 16 * 1024 && size < (1u << 20) - 1024) expected_in_place += size;
    client->call_async("echo", sent[i], {}, [&, i](Result<std::string> r) {
      {
        std::lock_guard lock(mu);
        got[i] = std::move(r);
      }
      all.done();
    });
  }
  ASSERT_TRUE(all.wait_for(Millis{30000}));
  for (int i = 0; i < kCalls; ++i) {
    ASSERT_TRUE(got[i] && *got[i]) << i << ": " << got[i]->error().to_string();
    ASSERT_EQ(got[i]->value().size(), sent[i].size()) << i;
    EXPECT_TRUE(got[i]->value() == sent[i]) << "call " << i << " answered different bytes";
  }
  EXPECT_EQ(client->stats().in_place_bytes, expected_in_place);

  // Stream items too: the server reads each 100 KiB item in place, the client its answer.
  Stream s = client->open_stream("stream.echo", "");
  for (int i = 0; i < 12; ++i) {
    const std::string item = pattern_bytes(100 * 1024, 1000 + i);
    ASSERT_TRUE(s.write(item));
    auto r = s.read();
    ASSERT_TRUE(r && *r) << (r ? "end" : r.error().to_string());
    EXPECT_TRUE(**r == "echo:" + item) << "item " << i;
  }
  s.close_write();
  const std::uint64_t items = 12 * 100 * 1024;
  EXPECT_EQ(client->stats().in_place_bytes, expected_in_place + items + 12 * 5);  // "echo:"
  auto stats = client->call("plexus.stats", "");
  ASSERT_TRUE(stats) << stats.error().to_string();
  EXPECT_EQ(json::parse(*stats)["transport"]["in_place_bytes"].get<double>(),
            static_cast<double>(expected_in_place + items));
}

// The name of the mapping (from /proc/self/maps) that holds `p`; empty when none does.
std::string mapping_holding(const void* p) {
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    std::uintptr_t from = 0, to = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx", &from, &to) != 2 || at < from || at >= to) continue;
    const auto slash = line.find('/');
    return slash == std::string::npos ? "[anonymous]" : line.substr(slash);
  }
  return {};
}

// call_async_view: a large answer over shared memory is handed over where it lies, in the
// client's mapping of the segment (the server's copy into the ring is the only one); a small
// one (copied out of the ring by the frame reader) and an error come through the same
// callback, each call exactly once.
TEST_F(ShmTest, LargeAnswersTakenAsViewsAreTheBytesInTheRing) {
  start_server(dir_.unix_address("s.sock") + "?shm=1");
  auto client = connect_client(runtime_, "unix://" + path() + "?shm=1");
  ASSERT_TRUE(client);
  // Everything the callback touches is here, kept alive by it: a late second delivery is
  // counted, never a write to a test's finished stack frame.
  struct Seen {
    std::string payload;
    Event<bool> done;
    int calls = 0;
    std::optional<StatusCode> error;
    bool same_bytes = false;
    std::string mapping;
  };
  const auto call = [&](std::string method, const std::string& payload) {
    auto seen = std::make_shared<Seen>();
    seen->payload = payload;
    client->call_async_view(method, payload, {}, [seen](Result<std::string_view> r) {
      ++seen->calls;
      if (r) {
        seen->same_bytes = *r == seen->payload;
        seen->mapping = mapping_holding(r->data());
      } else {
        seen->error = r.error().code;
      }
      seen->done.set(true);
    });
    EXPECT_TRUE(seen->done.wait_for(Millis{10000}));
    // Anything the call would still deliver arrives before this second call's answer.
    EXPECT_TRUE(client->call("echo", "after"));
    return seen;
  };
  const std::string big = pattern_bytes(1 << 20, 41);
  const auto in_place_before = client->stats().in_place_bytes;
  auto large = call("echo", big);
  EXPECT_EQ(large->calls, 1);
  EXPECT_FALSE(large->error);
  EXPECT_TRUE(large->same_bytes);
  EXPECT_NE(large->mapping.find("memfd:plexus-shm"), std::string::npos)
      << "the answer was not read in the ring: " << large->mapping;
  EXPECT_EQ(client->stats().in_place_bytes - in_place_before, big.size());

  auto small = call("echo", "tiny");
  EXPECT_EQ(small->calls, 1);
  EXPECT_TRUE(small->same_bytes);
  auto failed = call("no.such.method", "x");
  EXPECT_EQ(failed->calls, 1);
  EXPECT_EQ(failed->error, StatusCode::not_found);
}

// A producer killed with SIGKILL in the middle of a stream: the consumer's read fails with
// unavailable (the control socket's EOF), well within the heartbeat timeout.
TEST_F(ShmTest, ProducerKilledMidStreamFailsTheStreamWithUnavailable) {
  start_server(dir_.unix_address("s.sock") + "?shm=1", {"--heartbeat-timeout-ms", "3000"});
  ClientOptions o;
  o.reconnect.enabled = false;
  auto client = connect_client(runtime_, server_.address(), o);
  ASSERT_TRUE(client);
  Stream s = client->open_stream("stream.count", R"({"n":100000000,"size":64})");
  for (int i = 0; i < 1000; ++i) {
    auto item = s.read();
    ASSERT_TRUE(item && *item) << i;
  }
  const auto killed_at = std::chrono::steady_clock::now();
  server_.kill_now();
  Result<std::optional<std::string>> r = std::optional<std::string>{};
  do {
    r = s.read();
  } while (r && *r);
  ASSERT_FALSE(r) << "the stream ended cleanly after its producer was killed";
  EXPECT_EQ(r.error().code, StatusCode::unavailable) << r.error().to_string();
  EXPECT_LT(std::chrono::steady_clock::now() - killed_at, 3000ms);
}

// ---- a hostile shared-memory peer, written from docs/PROTOCOL.md §19 with raw syscalls --------

class RawShmPeer {
 public:
  // Connects, upgrades and completes HELLO/WELCOME through the rings.
  bool open(const std::string& path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sun{};
    sun.sun_family = AF_UNIX;
    std::strncpy(sun.sun_path, path.c_str(), sizeof sun.sun_path - 1);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&sun), sizeof sun) != 0) return false;
    const auto request = wire::encode_shm_upgrade_request({});
    if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return false;
    }
    char reply[wire::kShmUpgradeReplySize];
    std::size_t got = 0;
    std::vector<platform::Fd> fds;
    while (got < sizeof reply) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) != 1) return false;
      auto r = platform::receive_with_fds(fd_, reply + got, sizeof reply - got);
      if (!r || r->eof) return false;
      for (auto& f : r->fds) fds.push_back(std::move(f));
      got += r->bytes;
    }
    auto decoded = wire::decode_shm_upgrade_reply(std::string_view(reply, sizeof reply));
    if (!decoded || decoded->status != 0 || fds.size() != 3) return false;
    layout_ = *transport::shm::segment_layout(decoded->dialer_to_acceptor_bytes,
                                              decoded->acceptor_to_dialer_bytes);
    auto m = platform::Mapping::map(fds[0].get(), layout_.total);
    if (!m) return false;
    mapping_ = std::move(*m);
    doorbell_server_ = std::move(fds[1]);
    char* base = mapping_.data();
    out_ = transport::shm::RingWriter(transport::shm::ring_control(base, 0),
                                      base + layout_.data_offset[0], layout_.capacity[0]);
    in_ = transport::shm::RingReader(transport::shm::ring_control(base, 1),
                                     base + layout_.data_offset[1], layout_.capacity[1]);
    std::string hello;
    wire::PeerHello h;
    h.peer_name = "raw-shm-peer";
    wire::encode_hello(wire::FrameKind::hello, h, hello);
    write(hello);
    // The WELCOME arrives in ring 1: poll the ring (the server rings only sleepers).
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    std::string received;
    while (std::chrono::steady_clock::now() < deadline) {
      auto avail = in_.available();
      if (!avail) return false;
      if (*avail > 0) {
        std::string chunk(*avail, '\0');
        in_.read(chunk.data(), chunk.size());
        in_.release();
        received += chunk;
        auto p = wire::parse_frame(received, wire::Limits{});
        if (p.state == wire::ParseResult::State::frame) {
          return p.frame.header.kind == wire::FrameKind::welcome;
        }
        if (p.state != wire::ParseResult::State::need_more) return false;
      }
      std::this_thread::yield();
    }
    return false;
  }

  void write(std::string_view bytes) {
    auto free = out_.free_space(bytes.size());
    if (free && *free >= bytes.size()) out_.write(bytes);
    out_.publish();
    platform::eventfd_signal(doorbell_server_.get());
  }

  // True when the server has closed the control socket (EOF) within `timeout`.
  bool closed_by_server(Millis timeout) {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
    char b;
    return ::recv(fd_, &b, 1, MSG_DONTWAIT) == 0;
  }

  bool control_open() {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    return ::poll(&p, 1, 0) == 0;
  }

  char* segment() { return mapping_.data(); }
  const transport::shm::SegmentLayout& layout() const { return layout_; }
  int doorbell() const { return doorbell_server_.get(); }

  ~RawShmPeer() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
  transport::shm::SegmentLayout layout_;
  platform::Mapping mapping_;
  platform::Fd doorbell_server_;
  transport::shm::RingWriter out_;
  transport::shm::RingReader in_;
};

// Random bytes written over the ring the server reads (data and control block), while it
// reads: the server answers with a protocol error and closes this connection; it neither crashes
// nor reads out of the mapping (the ASan build runs this too, and the server must exit cleanly),
// and a well-behaved shared-memory client is served throughout.
TEST_F(ShmTest, PeerScribblingTheRingIsClosedWithAProtocolErrorAndTheServerLivesOn) {
  start_server(dir_.unix_address("s.sock") + "?shm=1");
  auto good = connect_client(runtime_, server_.address());
  ASSERT_TRUE(good);
  for (unsigned seed = 1; seed <= 6; ++seed) {
    SCOPED_TRACE(seed);
    RawShmPeer peer;
    ASSERT_TRUE(peer.open(path()));
    std::mt19937_64 rng(seed);
    char* base = peer.segment();
    const auto& l = peer.layout();
    bool closed = false;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!closed && std::chrono::steady_clock::now() < deadline) {
      // Garbage frames through the proper ring protocol...
      std::string junk(1 + rng() % 200, '\0');
      for (auto& c : junk) c = static_cast<char>(rng());
      peer.write(junk);
      // ...and, for odd seeds, random bytes straight over the control block and the data.
      if (seed % 2) {
        const std::size_t where = transport::shm::kControlOffset[0] + rng() % 384;
        base[where] = static_cast<char>(rng());
        const std::size_t data = l.data_offset[0] + rng() % l.capacity[0];
        base[data] = static_cast<char>(rng());
        platform::eventfd_signal(peer.doorbell());
      }
      closed = !peer.control_open();
    }
    EXPECT_TRUE(closed || peer.closed_by_server(5000ms)) << "the server kept a corrupt peer";
    auto r = good->call("echo", R"({"still":"served"})");
    ASSERT_TRUE(r) << r.error().to_string();
  }
}

TEST_F(ShmTest, ImpossibleHeadIsAProtocolError) {
  start_server(dir_.unix_address("s.sock") + "?shm=1");
  RawShmPeer peer;
  ASSERT_TRUE(peer.open(path()));
  auto* c = transport::shm::ring_control(peer.segment(), 0);
  c->head.store(c->head.load() + peer.layout().capacity[0] + 1);  // more than a ring ahead
  platform::eventfd_signal(peer.doorbell());
  EXPECT_TRUE(peer.closed_by_server(5000ms));
  auto good = connect_client(runtime_, server_.address());
  ASSERT_TRUE(good);
  EXPECT_TRUE(good->call("echo", "{}"));
}

TEST_F(ShmTest, MemoryInUseIsReportedInTheMetrics) {
  start_server(dir_.unix_address("s.sock") + "?shm=1&shm_ring=65536");
  auto client = connect_client(runtime_, server_.address());
  ASSERT_TRUE(client);
  auto r = client->call("plexus.stats", "");
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_NE(r->find("plexus_transport_shm_mapped_bytes"), std::string::npos) << *r;
  EXPECT_NE(r->find(std::to_string(4096 + 2 * 65536)), std::string::npos) << *r;
}

}  // namespace
}  // namespace plexus::test

// The shared-memory ring and segment (transport/shm/ring.hpp) and the upgrade messages
// (wire/shm_upgrade.hpp): bytes in and out across the wrap, the doorbell flags, and a peer that
// scribbles the shared header: every impossible index is a protocol_error, never a read or
// write outside the ring (ASan watches the heap buffer standing in for the mapping).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "transport/shm/ring.hpp"
#include "wire/frame.hpp"
#include "wire/metadata.hpp"
#include "wire/shm_upgrade.hpp"

namespace plexus::transport::shm {
namespace {

// A segment in ordinary (ASan-checked) memory, sized exactly.
struct Segment {
  explicit Segment(std::uint64_t cap0 = 4096, std::uint64_t cap1 = 4096)
      : layout(*segment_layout(cap0, cap1)), bytes(layout.total) {
    init_segment(bytes.data(), layout);
  }
  RingWriter writer(int ring) {
    return RingWriter(ring_control(bytes.data(), ring), bytes.data() + layout.data_offset[ring],
                      layout.capacity[ring]);
  }
  RingReader reader(int ring) {
    return RingReader(ring_control(bytes.data(), ring), bytes.data() + layout.data_offset[ring],
                      layout.capacity[ring]);
  }
  SegmentLayout layout;
  std::vector<char> bytes;
};

std::string pattern(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed) & 0xFF);
  return s;
}

TEST(ShmRing, LayoutIsFixedAndChecked) {
  auto l = segment_layout(4096, 1 << 20);
  ASSERT_TRUE(l);
  EXPECT_EQ(l->data_offset[0], 4096u);
  EXPECT_EQ(l->data_offset[1], 8192u);
  EXPECT_EQ(l->total, 8192u + (1u << 20));
  EXPECT_FALSE(segment_layout(4095, 4096));
  EXPECT_FALSE(segment_layout(4096, 6000));
  EXPECT_FALSE(segment_layout(2048, 4096));
  EXPECT_FALSE(segment_layout(4096, 512ull << 20));

  Segment s;
  EXPECT_TRUE(check_segment(s.bytes.data(), s.bytes.size(), s.layout));
  EXPECT_FALSE(check_segment(s.bytes.data(), s.bytes.size() - 1, s.layout));
  auto other = *segment_layout(8192, 4096);
  EXPECT_FALSE(check_segment(s.bytes.data(), s.bytes.size(), other));
  s.bytes[0] ^= 1;
  EXPECT_FALSE(check_segment(s.bytes.data(), s.bytes.size(), s.layout));
}

TEST(ShmRing, BytesArriveInOrderAcrossTheWrap) {
  Segment s;
  auto w = s.writer(0);
  auto r = s.reader(0);
  std::string sent, received;
  std::mt19937 rng(7);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t n = rng() % 700;
    auto free = w.free_space(n);
    ASSERT_TRUE(free);
    if (*free >= n) {
      const auto chunk = pattern(n, round);
      w.write(chunk);
      sent += chunk;
      w.publish();
    }
    auto avail = r.available();
    ASSERT_TRUE(avail);
    const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(*avail, rng() % 900));
    std::string buf(take, '\0');
    r.read(buf.data(), take);
    r.release();
    received += buf;
  }
  auto avail = r.available();
  ASSERT_TRUE(avail);
  std::string rest(*avail, '\0');
  r.read(rest.data(), rest.size());
  received += rest;
  EXPECT_EQ(received, sent);
  EXPECT_GT(sent.size(), 10 * 4096u);  // wrapped many times
}

TEST(ShmRing, FullRingHasNoSpaceUntilReleased) {
  Segment s;
  auto w = s.writer(1);
  auto r = s.reader(1);
  w.write(std::string(4096, 'x'));
  w.publish();
  EXPECT_EQ(*w.free_space(1), 0u);
  char buf[100];
  r.read(buf, sizeof buf);
  EXPECT_EQ(*w.free_space(1), 0u);  // consumed locally, not released yet
  r.release();
  EXPECT_EQ(*w.free_space(1), 100u);
}

TEST(ShmRing, DoorbellOnlyWhenTheOtherSideSleeps) {
  Segment s;
  auto w = s.writer(0);
  auto r = s.reader(0);
  w.write("a");
  EXPECT_FALSE(w.publish());  // reader awake: no syscall
  r.set_sleeping(true);
  w.write("b");
  EXPECT_TRUE(w.publish());  // reader asleep: ring once...
  w.write("c");
  EXPECT_FALSE(w.publish());  // ...and only once (the flag was cleared)
  char buf[3];
  r.read(buf, 3);
  EXPECT_FALSE(r.release());
  w.set_waiting(true);
  w.write("d");
  w.publish();
  r.read(buf, 1);
  EXPECT_TRUE(r.release());  // the writer waited for space: ring it
}

TEST(ShmRing, ImpossibleIndicesAreProtocolErrors) {
  Segment s;
  auto w = s.writer(0);
  auto r = s.reader(0);
  auto* c = ring_control(s.bytes.data(), 0);
  c->head.store(4097);  // more than a ring ahead of the tail
  auto a = r.available();
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, StatusCode::protocol_error);
  c->head.store(~0ull);  // "behind" the tail
  EXPECT_FALSE(r.available());
  c->head.store(0);
  w.write(std::string(4096, 'f'));
  w.publish();
  c->tail.store(5000);  // the reader consumed bytes that were never written
  auto f = w.free_space(1);
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error().code, StatusCode::protocol_error);
}

// A hostile peer writes random values over the whole control area and data, again and again,
// while this side keeps reading and writing: every step either works within the ring or fails
// with protocol_error.
TEST(ShmRing, ScribbledHeaderNeverLeadsOutOfTheRing) {
  std::mt19937_64 rng(42);
  int errors = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    Segment s;
    auto w = s.writer(0);
    auto r = s.reader(0);
    char buf[8192];
    for (int step = 0; step < 20; ++step) {
      const auto where = rng() % kDataOffset;
      const int n = 1 + static_cast<int>(rng() % 16);
      for (int i = 0; i < n && where + i < kDataOffset; ++i) {
        s.bytes[where + i] = static_cast<char>(rng());
      }
      if (rng() % 2) {
        auto* c = ring_control(s.bytes.data(), 0);
        c->head.store(rng() % 3 ? rng() % 10000 : rng());
        c->tail.store(rng() % 3 ? rng() % 10000 : rng());
      }
      if (auto a = r.available(); a) {
        ASSERT_LE(*a, 4096u);
        r.read(buf, static_cast<std::size_t>(*a));
        r.release();
      } else {
        EXPECT_EQ(a.error().code, StatusCode::protocol_error);
        ++errors;
      }
      if (auto f = w.free_space(100); f) {
        ASSERT_LE(*f, 4096u);
        const auto n_write = static_cast<std::size_t>(std::min<std::uint64_t>(*f, 300));
        w.write(std::string(n_write, 'w'));
        w.publish();
      } else {
        EXPECT_EQ(f.error().code, StatusCode::protocol_error);
        ++errors;
      }
    }
  }
  EXPECT_GT(errors, 0);
}

// Frames go through the ring as the wire encodes them, and the frame decoder reads them back.
TEST(ShmRing, FramesThroughTheRingDecode) {
  Segment s(4096, 4096);
  auto w = s.writer(0);
  auto r = s.reader(0);
  std::string out;
  for (int i = 0; i < 50; ++i) {
    wire::Metadata md;
    md.method = "echo";
    std::string frame;
    ASSERT_TRUE(wire::encode_frame(wire::FrameKind::request, i + 1, md, pattern(100 + i, i),
                                   wire::kDefaultMaxMessageSize, frame));
    ASSERT_GE(*w.free_space(frame.size()), frame.size());
    w.write(frame);
    w.publish();
    std::string got(*r.available(), '\0');
    r.read(got.data(), got.size());
    r.release();
    auto p = wire::parse_frame(got, wire::Limits{});
    ASSERT_EQ(p.state, wire::ParseResult::State::frame);
    EXPECT_EQ(p.frame.header.id, static_cast<std::uint64_t>(i + 1));
    EXPECT_EQ(p.frame.payload, pattern(100 + i, i));
  }
}

TEST(ShmUpgradeCodec, RequestAndReplyRoundTrip) {
  wire::ShmUpgradeRequest q;
  q.dialer_to_acceptor_bytes = 1 << 16;
  const auto qb = wire::encode_shm_upgrade_request(q);
  ASSERT_EQ(qb.size(), wire::kShmUpgradeRequestSize);
  EXPECT_TRUE(wire::is_shm_upgrade_request(qb));
  auto q2 = wire::decode_shm_upgrade_request(qb);
  ASSERT_TRUE(q2);
  EXPECT_EQ(q2->dialer_to_acceptor_bytes, 1u << 16);
  EXPECT_EQ(q2->acceptor_to_dialer_bytes, 0u);

  wire::ShmUpgradeReply a;
  a.dialer_to_acceptor_bytes = 4096;
  a.acceptor_to_dialer_bytes = 8192;
  a.segment_bytes = 4096 + 4096 + 8192;
  auto a2 = wire::decode_shm_upgrade_reply(wire::encode_shm_upgrade_reply(a));
  ASSERT_TRUE(a2);
  EXPECT_EQ(a2->status, 0);
  EXPECT_EQ(a2->acceptor_to_dialer_bytes, 8192u);
}

TEST(ShmUpgradeCodec, BadMessagesAreRefused) {
  auto q = wire::encode_shm_upgrade_request({});
  EXPECT_FALSE(wire::decode_shm_upgrade_request(q.substr(0, 39)));
  auto bad_version = q;
  bad_version[16] = 2;
  EXPECT_FALSE(wire::decode_shm_upgrade_request(bad_version));
  wire::ShmUpgradeRequest odd;
  odd.acceptor_to_dialer_bytes = 5000;  // not a power of two
  EXPECT_FALSE(wire::decode_shm_upgrade_request(wire::encode_shm_upgrade_request(odd)));
  wire::ShmUpgradeReply r;  // accepted, but with no valid sizes
  EXPECT_FALSE(wire::decode_shm_upgrade_reply(wire::encode_shm_upgrade_reply(r)));
  // A HELLO is not an upgrade request.
  std::string hello;
  wire::Metadata md;
  ASSERT_TRUE(wire::encode_frame(wire::FrameKind::hello, 0, md, "", 100, hello));
  EXPECT_FALSE(wire::is_shm_upgrade_request(hello));
}

}  // namespace
}  // namespace plexus::transport::shm

// The shared-memory ring and segment (transport/shm/ring.hpp) and the upgrade messages
// (wire/shm_upgrade.hpp): bytes in and out across the wrap, the doorbell flags, and a peer that
// scribbles the shared header: every impossible index is a protocol_error, never a read or
// write outside the ring (ASan watches the heap buffer standing in for the mapping).
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "test_kit.hpp"
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

using plexus::test::pattern_bytes;

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
      const auto chunk = pattern_bytes(n, round);
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
    ASSERT_TRUE(wire::encode_frame(wire::FrameKind::request, i + 1, md, pattern_bytes(100 + i, i),
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
    EXPECT_EQ(p.frame.payload, pattern_bytes(100 + i, i));
  }
}

// A real memfd segment mapped as the transport maps it: each ring's data twice in a row, so
// bytes that cross the ring's end are one contiguous range (what a large payload read in place
// relies on). The same pages: what the writer puts at the end shows at both addresses.
TEST(ShmRing, MirroredRingShowsBytesAcrossItsEndAsOneRange) {
  const auto layout = *segment_layout(4096, 8192);
  auto fd = platform::create_memfd("shm-ring-test", layout.total);
  ASSERT_TRUE(fd);
  auto seg = map_segment(fd->get(), layout);
  ASSERT_TRUE(seg) << seg.error().to_string();
  ASSERT_TRUE(seg->mirrored);
  EXPECT_EQ(seg->mapping.size(), 4096u + 2 * 4096u + 2 * 8192u);
  init_segment(seg->base, layout);
  ASSERT_TRUE(check_segment(seg->base, seg->mapping.size(), layout));
  RingWriter w(ring_control(seg->base, 0), seg->data[0], 4096);
  RingReader r(ring_control(seg->base, 0), seg->data[0], 4096, /*mirrored=*/true);

  // Move both ends to 3000 bytes in, then write 2000 bytes: 1096 before the end, 904 after.
  const auto filler = pattern_bytes(3000, 1);
  ASSERT_GE(*w.free_space(3000), 3000u);
  w.write(filler);
  w.publish();
  ASSERT_EQ(*r.available(), 3000u);
  std::string out(3000, '\0');
  r.read(out.data(), out.size());
  EXPECT_EQ(out, filler);
  r.release();
  const auto across = pattern_bytes(2000, 9);
  ASSERT_GE(*w.free_space(2000), 2000u);
  w.write(across);
  w.publish();
  ASSERT_EQ(*r.available(), 2000u);

  const char* in_place = r.view(0, 2000);
  ASSERT_NE(in_place, nullptr);
  EXPECT_EQ(std::string_view(in_place, 2000), across);
  EXPECT_EQ(std::string_view(r.view(1500, 500), 500), std::string_view(across).substr(1500));
  char head[16];
  r.peek(1090, head, sizeof head);  // a copy, across the end too
  EXPECT_EQ(std::string_view(head, sizeof head), std::string_view(across).substr(1090, 16));
  EXPECT_EQ(r.position(), 3000u);  // neither view nor peek consumes
  r.consume(2000);
  EXPECT_EQ(r.position(), 5000u);
  EXPECT_EQ(*r.available(), 0u);
  r.release();
  EXPECT_EQ(*w.free_space(4096), 4096u);
}

// Without the mirror (an ordinary buffer) a range across the end has no single address.
TEST(ShmRing, PlainRingHasNoViewAcrossItsEnd) {
  Segment s;
  auto w = s.writer(0);
  auto r = s.reader(0);
  w.write(pattern_bytes(4000, 2));
  w.publish();
  ASSERT_EQ(*r.available(), 4000u);
  EXPECT_NE(r.view(0, 4000), nullptr);
  r.consume(4000);
  r.release();
  w.write(pattern_bytes(200, 3));
  w.publish();
  EXPECT_EQ(r.view(0, 96), s.bytes.data() + s.layout.data_offset[0] + 4000);
  EXPECT_EQ(r.view(0, 97), nullptr);
  std::string out(200, '\0');
  r.peek(0, out.data(), out.size());
  EXPECT_EQ(out, pattern_bytes(200, 3));
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

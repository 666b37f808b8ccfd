// BATCH payloads (src/wire/batch.hpp): inner frames are checked like top-level ones and
// delivered in order; anything malformed refuses the whole batch.
#include "wire/batch.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "wire/metadata.hpp"

namespace plexus::wire {
namespace {

std::string inner(FrameKind kind, std::uint64_t id, std::string_view name,
                  std::string_view payload) {
  Metadata md;
  md.method = name;
  std::string out;
  EXPECT_TRUE(encode_frame(kind, id, md, payload, kDefaultMaxMessageSize, out));
  return out;
}

// A heap copy of exactly the bytes, so ASan reports any read past the end.
struct Exact {
  explicit Exact(std::string_view b)
      : data(std::make_unique<char[]>(std::max<std::size_t>(b.size(), 1))), size(b.size()) {
    std::copy(b.begin(), b.end(), data.get());
  }
  std::string_view view() const { return {data.get(), size}; }
  std::unique_ptr<char[]> data;
  std::size_t size;
};

TEST(Batch, DeliversInnerFramesInOrder) {
  std::string payload = inner(FrameKind::notify, 0, "a.method", "one") +
                        inner(FrameKind::publish, 7, "db.users", "two") +
                        inner(FrameKind::notify, 0, "a.method", "");
  const Exact buf(payload);
  auto n = check_batch(buf.view(), Limits{});
  ASSERT_TRUE(n) << n.error().to_string();
  EXPECT_EQ(*n, 3u);
  std::vector<std::string> seen;
  for_each_in_batch(buf.view(), Limits{}, [&](const FrameView& f) {
    auto md = decode_metadata(f.metadata);
    ASSERT_TRUE(md);
    seen.push_back(std::string(to_string(f.header.kind)) + " " + std::to_string(f.header.id) + " " +
                   std::string(md->method) + " " + std::string(f.payload));
  });
  EXPECT_EQ(seen, (std::vector<std::string>{"NOTIFY 0 a.method one", "PUBLISH 7 db.users two",
                                            "NOTIFY 0 a.method "}));
}

TEST(Batch, RefusesMalformedBatchesNamingTheItem) {
  const std::string good = inner(FrameKind::notify, 0, "m", "x");
  std::string nested;
  {
    std::string out;
    ASSERT_TRUE(encode_frame(FrameKind::batch, 0, {}, good, kDefaultMaxMessageSize, out));
    nested = out;
  }
  std::string request = inner(FrameKind::request, 1, "m", "x");
  std::string no_topic;
  ASSERT_TRUE(encode_frame(FrameKind::publish, 0, {}, "x", kDefaultMaxMessageSize, no_topic));
  std::string bad_flags = good;
  bad_flags[5] = 1;
  struct Case {
    const char* what;
    std::string bytes;
    StatusCode code;
    int item;
  };
  const std::vector<Case> cases = {
      {"empty", "", StatusCode::protocol_error, -1},
      {"truncated header", good + good.substr(0, 10), StatusCode::protocol_error, 1},
      {"truncated body", good + good.substr(0, good.size() - 1), StatusCode::protocol_error, 1},
      {"nested batch", good + nested, StatusCode::protocol_error, 1},
      {"request inside", request, StatusCode::protocol_error, 0},
      {"publish without topic", good + no_topic, StatusCode::protocol_error, 1},
      {"reserved flags", bad_flags, StatusCode::protocol_error, 0},
      {"unknown kind", good + std::string("\0\0\0\0\x0f\0\0\0\0\0\0\0\0\0\0\0", 16),
       StatusCode::protocol_error, 1},
  };
  for (const auto& c : cases) {
    const Exact buf(c.bytes);
    auto r = check_batch(buf.view(), Limits{});
    ASSERT_FALSE(r) << c.what;
    EXPECT_EQ(r.error().code, c.code) << c.what;
    if (c.item >= 0) {
      EXPECT_EQ(r.error().details, "{\"item\":" + std::to_string(c.item) + "}") << c.what;
    }
  }
}

TEST(Batch, InnerFramesAreHeldToTheReceiversLimits) {
  const std::string payload = inner(FrameKind::notify, 0, "m", std::string(100, 'x'));
  const Exact buf(payload);
  auto r = check_batch(buf.view(), Limits{99});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, StatusCode::message_too_large);
  EXPECT_TRUE(check_batch(buf.view(), Limits{100}));
}

}  // namespace
}  // namespace plexus::wire

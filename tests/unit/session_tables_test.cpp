// The session's lane and stream tables (src/rpc/lane_tables.hpp, src/rpc/stream_table.hpp) on
// their own: which lane ids open, which frames reach which stream. The loopback session tests
// and the lane and stream suites cover them inside a session.
#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <memory>
#include <string>

#include "rpc/lane_tables.hpp"
#include "rpc/stream_table.hpp"

namespace plexus::rpc {
namespace {

TEST(InboundLanesTest, IdsOpenOnceWithinOneToTheLimit) {
  InboundLanes lanes;
  for (std::uint64_t bad : {std::uint64_t{0}, wire::kMaxLanes + 1}) {
    auto r = lanes.open(bad, "m");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::protocol_error);
    EXPECT_EQ(r.error().details, "{\"id\":" + std::to_string(bad) + "}");
  }
  auto third = lanes.open(3, "log.write");
  ASSERT_TRUE(third);
  EXPECT_EQ((*third)->method, "log.write");
  EXPECT_EQ(lanes.find(3), *third);
  // Opening 3 makes room for 1 and 2 without opening them; 0 and 4 were never opened.
  for (std::uint64_t closed : {0, 1, 2, 4}) EXPECT_EQ(lanes.find(closed), nullptr) << closed;
  auto again = lanes.open(3, "other");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, StatusCode::protocol_error);
  EXPECT_EQ(lanes.find(3)->method, "log.write");  // the open lane is untouched
  ASSERT_TRUE(lanes.open(wire::kMaxLanes, "last"));
  EXPECT_NE(lanes.find(wire::kMaxLanes), nullptr);
}

TEST(InboundLanesTest, ALaneResolvesItsMethodAgainstTheTable) {
  InboundLanes lanes;
  InboundLane& lane = **lanes.open(1, "known");
  HandlerTable::Map table;
  table.emplace("known", std::make_shared<HandlerEntry>(HandlerEntry{
                             SyncHandler([](CallContext&, std::string_view) -> Result<std::string> {
                               return std::string();
                             }),
                             nullptr, nullptr}));
  lane.resolve(table, 7);
  EXPECT_NE(lane.entry, nullptr);
  EXPECT_NE(lane.sync, nullptr);
  EXPECT_EQ(lane.handler_version, 7u);
  lane.resolve(HandlerTable::Map{}, 8);
  EXPECT_EQ(lane.entry, nullptr);
  EXPECT_EQ(lane.sync, nullptr);
  EXPECT_EQ(lane.handler_version, 8u);
}

TEST(OutboundLanesTest, MethodsGetIdsInOrderUpToTheLimit) {
  OutboundLanes lanes;
  EXPECT_EQ(lanes.find("a"), 0u);
  EXPECT_EQ(lanes.next_id(), 1u);
  EXPECT_EQ(lanes.add("a"), 1u);
  EXPECT_EQ(lanes.add("b"), 2u);
  EXPECT_EQ(lanes.find("a"), 1u);
  EXPECT_EQ(lanes.find("b"), 2u);
  EXPECT_EQ(lanes.find("c"), 0u);
  while (!lanes.full()) lanes.add("m" + std::to_string(lanes.next_id()));
  EXPECT_EQ(lanes.next_id(), wire::kMaxLanes + 1);
  EXPECT_EQ(lanes.find("m" + std::to_string(wire::kMaxLanes)), wire::kMaxLanes);
}

class StreamTableTest : public ::testing::Test {
 protected:
  // A core not attached to any session; `cancelled` counts its cancels.
  std::shared_ptr<StreamCore> core(int& cancelled) {
    auto c = std::make_shared<StreamCore>(io_.get_executor(), StreamWindow{});
    c->set_cancel_hook([&cancelled] { ++cancelled; });
    return c;
  }
  static wire::FrameView frame(wire::FrameKind kind, std::uint64_t id) {
    wire::FrameView f;
    f.header.kind = kind;
    f.header.id = id;
    return f;
  }

  asio::io_context io_;
  StreamTable table_;
};

TEST_F(StreamTableTest, TheAcceptorBitPicksTheSideAStreamFrameIsFor) {
  int opened_cancels = 0, accepted_cancels = 0;
  table_.add_opened(5, core(opened_cancels));
  table_.add_accepted(5, core(accepted_cancels));  // the peer chose the same id: no clash
  EXPECT_EQ(table_.accepted_count(), 1u);
  EXPECT_TRUE(table_.accepted_in_use(5));
  // From the acceptor (top bit): about the stream this side opened.
  table_.deliver(frame(wire::FrameKind::stream_cancel, 5 | wire::kStreamAcceptorBit), {});
  EXPECT_EQ(opened_cancels, 1);
  EXPECT_EQ(accepted_cancels, 0);
  // Without it: about the stream the peer opened.
  table_.deliver(frame(wire::FrameKind::stream_cancel, 5), {});
  EXPECT_EQ(accepted_cancels, 1);
  // A late frame for an id nobody has is dropped.
  table_.deliver(frame(wire::FrameKind::stream_cancel, 6), {});
  EXPECT_EQ(opened_cancels + accepted_cancels, 2);
}

TEST_F(StreamTableTest, ForgettingSaysWhetherAServedStreamEnded) {
  int ignored = 0;
  table_.add_opened(1, core(ignored));
  table_.add_accepted(1, core(ignored));
  table_.add_accepted(2, core(ignored));
  EXPECT_EQ(table_.accepted_count(), 2u);
  EXPECT_FALSE(table_.forget(1, /*opened_here=*/true));
  EXPECT_EQ(table_.accepted_count(), 2u);
  EXPECT_TRUE(table_.forget(1, /*opened_here=*/false));
  EXPECT_EQ(table_.accepted_count(), 1u);
  EXPECT_FALSE(table_.accepted_in_use(1));
  EXPECT_TRUE(table_.accepted_in_use(2));
}

TEST_F(StreamTableTest, ClosingTheConnectionCancelsEveryStreamOnce) {
  int a = 0, b = 0, c = 0;
  table_.add_opened(1, core(a));
  table_.add_accepted(1, core(b));
  table_.add_accepted(2, core(c));
  table_.cancel_all({StatusCode::unavailable, "connection lost", {}});
  EXPECT_EQ(a + b + c, 3);
  EXPECT_EQ(table_.accepted_count(), 0u);
  EXPECT_FALSE(table_.accepted_in_use(1));
  table_.cancel_all({StatusCode::unavailable, "again", {}});  // nothing left to cancel
  EXPECT_EQ(a + b + c, 3);
}

}  // namespace
}  // namespace plexus::rpc

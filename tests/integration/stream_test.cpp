// Streams across a real child-process server: server-to-client, client-to-server and
// bidirectional, credit-based flow control under a slow consumer, cancel from either end, errors
// mid-stream and a clean end.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/use_awaitable.hpp>

#include <csignal>
#include <future>
#include <nlohmann/json.hpp>

#include "connect.hpp"
#include "plexus/plexus.hpp"
#include "test_kit.hpp"
#include "transports.hpp"

namespace plexus::test {
namespace {

using nlohmann::json;

class StreamTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override {
    server_ = ServerProcess::spawn({"--listen", listen_address(GetParam(), dir_)});
    ASSERT_TRUE(server_.running());
    ClientOptions options;
    options.name = "stream-test";
    client_ = connect_client(runtime_, server_.address(), options);
    ASSERT_TRUE(client_);
  }

  // Reads until the end or an error; returns the items and the final read's status.
  static std::pair<std::vector<std::string>, Result<void>> drain(Stream& s) {
    std::vector<std::string> items;
    for (;;) {
      auto r = s.read();
      if (!r) return {items, tl::unexpected(r.error())};
      if (!*r) return {items, {}};
      items.push_back(std::move(**r));
    }
  }

  static std::string item(std::uint64_t i, std::size_t size) {
    std::string s = std::to_string(i);
    if (s.size() < size) s.resize(size, ' ');
    return s;
  }

  TempDir dir_;
  ServerProcess server_;
  Runtime runtime_;
  std::unique_ptr<Client> client_;
};

TEST_P(StreamTest, ServerStreamEndsCleanlyWithProgressAndOutcome) {
  Stream s = client_->open_stream("stream.count", R"({"n":1000,"size":16})");
  auto [items, end] = drain(s);
  ASSERT_TRUE(end) << end.error().to_string();
  ASSERT_EQ(items.size(), 1000u);
  for (std::uint64_t i = 0; i < items.size(); ++i) ASSERT_EQ(items[i], item(i, 16));
  const auto progress = s.progress();
  EXPECT_EQ(progress.done, 1000u);
  ASSERT_TRUE(progress.total);
  EXPECT_EQ(*progress.total, 1000u);
  const auto outcome = s.outcome();
  ASSERT_TRUE(outcome && *outcome);
  EXPECT_EQ(json::parse(**outcome)["count"], 1000);
  EXPECT_EQ(s.stats().items_received, 1000u);
  EXPECT_EQ(s.stats().bytes_received, 16000u);
}

// 1,000,000 items; the consumer does 100 times the producer's work per item, so the producer is
// always ahead and must be held back by credit. Both sides' own accounting must stay within the
// window: the reader never buffers more than the window (+ one item), the writer never queues
// more than the one item it is suspended on.
TEST_P(StreamTest, MillionItemsToASlowConsumerStayWithinTheWindow) {
  constexpr std::uint64_t kItems = kSanitizerBuild ? 20'000 : 1'000'000;
  constexpr std::size_t kSize = 8;
  StreamOptions options;
  options.window = StreamWindow{64, 4096};
  Stream s =
      client_->open_stream("stream.count", json{{"n", kItems}, {"size", kSize}}.dump(), options);
  std::promise<std::pair<std::uint64_t, std::string>> finished;
  asio::co_spawn(
      runtime_.executor(),
      [&]() -> asio::awaitable<void> {
        std::uint64_t count = 0, sink = 0;
        std::string failure;
        for (;;) {
          auto r = co_await s.async_read(asio::use_awaitable);
          if (!r) {
            failure = r.error().to_string();
            break;
          }
          if (!*r) break;
          if (**r != item(count, kSize)) {
            failure = "item " + std::to_string(count) + " out of order: " + **r;
            break;
          }
          // The slow consumer: 100 rounds of hashing per item, where the producer formats once.
          for (int round = 0; round < 100; ++round) sink += std::hash<std::string>{}(**r) >> 60;
          ++count;
        }
        if (sink == ~0ull) failure = "impossible";  // keeps the work from being optimised out
        finished.set_value({count, failure});
      },
      asio::detached);
  auto [count, failure] = finished.get_future().get();
  ASSERT_EQ(failure, "");
  EXPECT_EQ(count, kItems);
  const auto st = s.stats();
  EXPECT_EQ(st.items_received, kItems);
  EXPECT_LE(st.peak_buffered_items, 64u);
  EXPECT_LE(st.peak_buffered_bytes, 4096u + kSize);
  EXPECT_GT(st.credits_granted, kItems / 64);  // re-granted as it consumed, not all up front
  const auto outcome = s.outcome();
  ASSERT_TRUE(outcome && *outcome);
  const auto producer = json::parse(**outcome);
  EXPECT_EQ(producer["items_sent"], kItems);
  EXPECT_LE(producer["peak_queued_bytes"].get<std::uint64_t>(), kSize);
  EXPECT_GT(producer["credit_waits"].get<std::uint64_t>(), 0u) << producer.dump();
}

TEST_P(StreamTest, ReaderCancelStopsTheProducer) {
  Event<json> stopped;
  client_->handle("event.stream_cancelled",
                  [&stopped](CallContext&, std::string_view payload) -> Result<std::string> {
                    stopped.set(json::parse(payload));
                    return std::string();
                  });
  StreamOptions options;
  options.window = StreamWindow{16, 1 << 20};
  Stream s = client_->open_stream("stream.count", R"({"n":1000000})", options);
  for (int i = 0; i < 10; ++i) {
    auto r = s.read();
    ASSERT_TRUE(r && *r);
  }
  s.cancel("test cancels");
  auto event = stopped.wait_for(Millis{10000});
  ASSERT_TRUE(event) << "the producer never saw the cancel";
  EXPECT_EQ((*event)["code"], "cancelled");
  EXPECT_LT((*event)["sent"].get<std::uint64_t>(), 1000000u);
  auto after = s.read();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, StatusCode::cancelled);
}

TEST_P(StreamTest, ProducerCancelReachesTheReaderAfterItsItems) {
  Stream s = client_->open_stream("stream.count", R"({"n":100,"cancel_at":5})");
  auto [items, end] = drain(s);
  EXPECT_EQ(items.size(), 5u);
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().code, StatusCode::cancelled);
  EXPECT_NE(end.error().message.find("producer gave up after 5"), std::string::npos);
}

TEST_P(StreamTest, ErrorMidStreamKeepsCodeMessageAndDetails) {
  Stream s = client_->open_stream("stream.count", R"({"n":100,"fail_at":7})");
  auto [items, end] = drain(s);
  EXPECT_EQ(items.size(), 7u);
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().code, StatusCode::resource_exhausted);
  EXPECT_EQ(end.error().message, "failed on purpose after 7 items");
  EXPECT_EQ(json::parse(end.error().details)["sent"], 7);
  const auto outcome = s.outcome();
  ASSERT_TRUE(outcome);
  ASSERT_FALSE(*outcome);
  EXPECT_EQ(outcome->error().code, StatusCode::resource_exhausted);
}

// A graceful shutdown waits for a stream being served as it does for a call: the reader gets
// every item and a clean end, then the server exits by itself.
TEST_P(StreamTest, GracefulShutdownLetsAnOpenStreamFinish) {
  Stream s = client_->open_stream("stream.count", R"({"n":1000,"size":16})");
  // Well inside the 256-item window: the producer is still running (waiting for credit).
  for (int i = 0; i < 10; ++i) {
    auto r = s.read();
    ASSERT_TRUE(r && *r) << (r ? "early end" : r.error().to_string());
  }
  server_.signal(SIGTERM);
  auto [items, end] = drain(s);
  ASSERT_TRUE(end) << end.error().to_string();
  EXPECT_EQ(items.size(), 990u);
  if (GetParam() == Transport::exec) {  // the client reaps its helper: the status is its close
    EXPECT_TRUE(server_.wait_gone(Millis{15000}));
    return;
  }
  const auto status = server_.wait_exit(Millis{15000});
  ASSERT_TRUE(status);
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

// A window of no items or no bytes would let the acceptor never write (a peer that sends one is
// refused, PROTOCOL.md §6.9): plexus raises it to 1 before it opens, and the stream works.
TEST_P(StreamTest, AWindowGrantingNothingIsRaisedToOne) {
  for (const StreamWindow w : {StreamWindow{0, 1u << 20}, StreamWindow{256, 0}}) {
    StreamOptions options;
    options.window = w;
    Stream s = client_->open_stream("stream.sum", "", options);
    for (int i = 1; i <= 3; ++i) ASSERT_TRUE(s.write(std::to_string(i)));
    s.close_write();
    auto [items, end] = drain(s);
    ASSERT_TRUE(end) << end.error().to_string();
    const auto outcome = s.outcome();
    ASSERT_TRUE(outcome && *outcome);
    EXPECT_EQ(json::parse(**outcome)["sum"], 6);
  }
}

TEST_P(StreamTest, ClientToServerStreamAnswersAtTheEnd) {
  StreamOptions options;
  Stream s = client_->open_stream("stream.sum", "", options);
  for (int i = 1; i <= 1000; ++i) ASSERT_TRUE(s.write(std::to_string(i)));
  s.close_write();
  auto [items, end] = drain(s);
  ASSERT_TRUE(end) << end.error().to_string();
  EXPECT_TRUE(items.empty());
  const auto outcome = s.outcome();
  ASSERT_TRUE(outcome && *outcome);
  const auto report = json::parse(**outcome);
  EXPECT_EQ(report["count"], 1000);
  EXPECT_EQ(report["sum"], 500500);
  // The server's window (256 items by default) bounded what it buffered of our 1000 writes.
  EXPECT_LE(report["peak_buffered_items"].get<std::uint64_t>(), 256u);
  EXPECT_EQ(s.stats().items_sent, 1000u);
}

// A producer looping on co_await async_write (each write completes at once while there is
// credit) has its items coalesced: they leave in gather writes of many frames, counted by the
// client's transport, instead of one syscall per item.
TEST_P(StreamTest, BurstOfWritesLeavesInFewGatherWrites) {
  Stream s = client_->open_stream("stream.sum", "", StreamOptions{});
  const auto before = client_->stats();
  std::promise<Result<void>> wrote;
  asio::co_spawn(
      runtime_.executor(),
      [&]() -> asio::awaitable<void> {
        for (int i = 1; i <= 10000; ++i) {
          auto w = co_await s.async_write(std::to_string(i), asio::use_awaitable);
          if (!w) {
            wrote.set_value(w);
            co_return;
          }
        }
        wrote.set_value({});
      },
      asio::detached);
  auto written = wrote.get_future().get();
  ASSERT_TRUE(written) << written.error().to_string();
  s.close_write();
  auto [items, end] = drain(s);
  ASSERT_TRUE(end) << end.error().to_string();
  const auto outcome = s.outcome();
  ASSERT_TRUE(outcome && *outcome);
  const auto report = json::parse(**outcome);
  EXPECT_EQ(report["count"], 10000);
  EXPECT_EQ(report["sum"], 50005000);
  const auto after = client_->stats();
  const auto frames = after.frames_out - before.frames_out;
  const auto writes = after.write_batches - before.write_batches;
  EXPECT_GE(frames, 10001u);  // the items and the END
  // Bursts are bounded by the credit (the server grants half its 256-item window at a time)
  // and by 64 items per hold; one write per item would be ~10,000.
  EXPECT_LE(writes * 16, frames) << frames << " frames in " << writes << " gather writes";
}

// The synchronous fast paths: try_write sends while there is credit and says false (sending
// nothing) when there is none, so the producer falls back to async_write; try_read takes items
// already received. Off the stream's I/O thread both decline. Content and order are exact.
TEST_P(StreamTest, TryWriteAndTryReadMoveEveryItemInOrder) {
  Stream up = client_->open_stream("stream.sum", "", StreamOptions{});
  EXPECT_FALSE(up.try_write("1"));  // the test thread is not the stream's I/O thread
  struct Counts {
    int fast = 0;
    int waited = 0;
  };
  std::promise<Result<Counts>> wrote;
  asio::co_spawn(
      runtime_.executor(),
      [&]() -> asio::awaitable<void> {
        Counts c;
        for (int i = 1; i <= 10000; ++i) {
          const std::string v = std::to_string(i);
          if (up.try_write(v)) {
            ++c.fast;
            continue;
          }
          ++c.waited;
          auto w = co_await up.async_write(v, asio::use_awaitable);
          if (!w) {
            wrote.set_value(tl::unexpected(w.error()));
            co_return;
          }
        }
        wrote.set_value(c);
      },
      asio::detached);
  auto counts = wrote.get_future().get();
  ASSERT_TRUE(counts) << counts.error().to_string();
  // The first window (the server grants 256 items) goes out without waiting; the producer never
  // yields while try_write succeeds, so it must run out of credit and wait at least once.
  EXPECT_GE(counts->fast, 256);
  EXPECT_GE(counts->waited, 1);
  EXPECT_EQ(counts->fast + counts->waited, 10000);
  up.close_write();
  auto [none, end] = drain(up);
  ASSERT_TRUE(end) << end.error().to_string();
  const auto report = json::parse(**up.outcome());
  EXPECT_EQ(report["count"], 10000);
  EXPECT_EQ(report["sum"], 50005000);

  Stream down = client_->open_stream("stream.count", R"({"n":5000,"size":8})");
  std::promise<Result<std::pair<std::vector<std::string>, int>>> read;
  asio::co_spawn(
      runtime_.executor(),
      [&]() -> asio::awaitable<void> {
        std::vector<std::string> items;
        int fast = 0;
        for (;;) {
          if (auto taken = down.try_read()) {
            items.push_back(std::move(*taken));
            ++fast;
            continue;
          }
          auto r = co_await down.async_read(asio::use_awaitable);
          if (!r) {
            read.set_value(tl::unexpected(r.error()));
            co_return;
          }
          if (!*r) break;
          items.push_back(std::move(**r));
        }
        read.set_value(std::make_pair(std::move(items), fast));
      },
      asio::detached);
  auto got = read.get_future().get();
  ASSERT_TRUE(got) << got.error().to_string();
  const auto& [items, fast] = *got;
  ASSERT_EQ(items.size(), 5000u);
  for (std::uint64_t i = 0; i < items.size(); ++i) ASSERT_EQ(items[i], item(i, 8));
  // Items arrive many to a read (the producer's frames leave in gather writes): after one
  // async_read the rest of its batch is already here.
  EXPECT_GT(fast, 0);
  EXPECT_FALSE(down.try_read());  // ended, and not on the I/O thread anyway
  EXPECT_EQ(down.stats().items_received, 5000u);
}

// A handler written as a generator: every yielded item in order, the outcome {"items":N}, and
// the producer held back by the reader's window like any writer (the server's writer never
// queued more than the one item it waited on).
TEST_P(StreamTest, GeneratorHandlerStreamsWhatItYields) {
  Stream s = client_->open_stream("stream.generated", R"({"n":20000})",
                                  StreamOptions{.window = StreamWindow{64, 1u << 20}});
  auto [items, end] = drain(s);
  ASSERT_TRUE(end) << end.error().to_string();
  ASSERT_EQ(items.size(), 20000u);
  for (std::size_t i = 0; i < items.size(); ++i) ASSERT_EQ(items[i], "g" + std::to_string(i));
  EXPECT_EQ(json::parse(**s.outcome())["items"], 20000);
  EXPECT_LE(s.stats().peak_buffered_items, 65u);  // the window we granted, plus one

  // A body that throws ends the stream with internal after the items it yielded.
  Stream failing = client_->open_stream("stream.generated", R"({"n":100,"throw_at":7})");
  auto [some, failed] = drain(failing);
  ASSERT_FALSE(failed);
  EXPECT_EQ(failed.error().code, StatusCode::internal) << failed.error().to_string();
  EXPECT_EQ(some.size(), 7u);
}

// A range in chunks: 1..10 three to an item is [1,2,3] [4,5,6] [7,8,9] [10].
TEST_P(StreamTest, RangeIsStreamedInChunksOfTheGivenSize) {
  Stream s = client_->open_stream("stream.chunks", R"({"n":10,"chunk":3})");
  auto [items, end] = drain(s);
  ASSERT_TRUE(end) << end.error().to_string();
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(json::parse(items[0]), json::parse("[1,2,3]"));
  EXPECT_EQ(json::parse(items[1]), json::parse("[4,5,6]"));
  EXPECT_EQ(json::parse(items[2]), json::parse("[7,8,9]"));
  EXPECT_EQ(json::parse(items[3]), json::parse("[10]"));
  EXPECT_EQ(json::parse(**s.outcome())["count"], 4);

  Stream big = client_->open_stream("stream.chunks", R"({"n":100000,"chunk":1000})");
  auto [chunks, big_end] = drain(big);
  ASSERT_TRUE(big_end) << big_end.error().to_string();
  ASSERT_EQ(chunks.size(), 100u);
  long long sum = 0;
  for (const auto& c : chunks) {
    const auto values = json::parse(c);
    ASSERT_EQ(values.size(), 1000u);
    for (const auto& v : values) sum += v.get<long long>();
  }
  EXPECT_EQ(sum, 100000LL * 100001 / 2);

  Stream zero = client_->open_stream("stream.chunks", R"({"n":10,"chunk":0})");
  auto [nothing, refused] = drain(zero);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::invalid_argument) << refused.error().to_string();
  EXPECT_TRUE(nothing.empty());
}

TEST_P(StreamTest, BidirectionalStreamEchoesEachItem) {
  Stream s = client_->open_stream("stream.echo", "");
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(s.write("m" + std::to_string(i)));
    auto r = s.read();
    ASSERT_TRUE(r && *r) << (r ? "end" : r.error().to_string());
    EXPECT_EQ(**r, "echo:m" + std::to_string(i));
  }
  s.close_write();
  auto [items, end] = drain(s);
  ASSERT_TRUE(end) << end.error().to_string();
  EXPECT_TRUE(items.empty());
  EXPECT_EQ(json::parse(**s.outcome())["count"], 200);
}

TEST_P(StreamTest, WrongMethodsFailWithPreciseCodes) {
  auto unknown = client_->open_stream("no.such.stream", "").read();
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, StatusCode::not_found);
  auto not_stream = client_->open_stream("echo", "").read();
  ASSERT_FALSE(not_stream);
  EXPECT_EQ(not_stream.error().code, StatusCode::failed_precondition);
  auto as_call = client_->call("stream.count", "{}");
  ASSERT_FALSE(as_call);
  EXPECT_EQ(as_call.error().code, StatusCode::failed_precondition);
  // The session is unharmed.
  EXPECT_TRUE(client_->call("echo", "x"));
}

TEST_P(StreamTest, LostServerFailsTheReaderWithUnavailable) {
  StreamOptions options;
  options.window = StreamWindow{4, 1 << 20};
  Stream s = client_->open_stream("stream.count", R"({"n":1000000})", options);
  ASSERT_TRUE(s.read());
  server_.kill_now();
  Result<void> end;
  for (int i = 0; i < 10; ++i) {
    auto r = s.read();
    if (!r) {
      end = tl::unexpected(r.error());
      break;
    }
  }
  ASSERT_FALSE(end);
  EXPECT_EQ(end.error().code, StatusCode::unavailable);
}

TEST_P(StreamTest, TypedChannelSendsReceivesAndCloses) {
  auto ch = open_channel<json>(*client_, "chan.upper");
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(ch.send(json{{"text", "hi " + std::to_string(i)}, {"n", i}}));
    auto reply = ch.receive();
    ASSERT_TRUE(reply && *reply) << (reply ? "closed" : reply.error().to_string());
    EXPECT_EQ((**reply)["text"], "HI " + std::to_string(i));
    EXPECT_EQ((**reply)["n"], i + 1);
  }
  ch.close();
  auto end = ch.receive();
  ASSERT_TRUE(end) << end.error().to_string();
  EXPECT_FALSE(*end);  // closed cleanly by the serving side
  // A message the other side rejects closes the channel with its status.
  auto bad = open_channel<json>(*client_, "chan.upper");
  ASSERT_TRUE(bad.send(json{{"n", 1}}));
  auto refused = bad.receive();
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::invalid_argument);
}

// Not a terminal (a pipe): one line per item, then the producer's final payload; errors keep
// their status code as the exit status.
TEST_P(StreamTest, CliPrintsOneLinePerItemWhenNotATerminal) {
  auto ok = run_cli("stream " + shell_word(server_.address()) +
                    R"( count_stream '{"n":3,"delay_ms":0}')");
  EXPECT_EQ(ok.exit_code, 0);
  EXPECT_EQ(ok.output, "{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n{\"sent\":3}\n");
  auto failed =
      run_cli("stream " + shell_word(server_.address()) + R"( stream.count '{"n":5,"fail_at":2}')");
  EXPECT_EQ(failed.exit_code, 8);  // resource_exhausted
  EXPECT_NE(failed.output.find("resource_exhausted"), std::string::npos);
  // The items before the error were printed (stdout; the error went to stderr).
  EXPECT_NE(failed.output.find("0       \n1       \n"), std::string::npos) << failed.output;
  auto missing = run_cli("stream " + shell_word(server_.address()) + " no.such.stream");
  EXPECT_EQ(missing.exit_code, 5);
}

PLEXUS_ALL_TRANSPORTS(StreamTest);

TEST(StreamProgressTest, RateAndEtaFromCountsAndElapsedTime) {
  const auto p = make_progress(250, 1000, std::chrono::seconds(5));
  EXPECT_DOUBLE_EQ(p.rate, 50.0);
  ASSERT_TRUE(p.eta);
  EXPECT_DOUBLE_EQ(p.eta->count(), 15.0);
  EXPECT_FALSE(make_progress(0, 10, std::chrono::nanoseconds(0)).eta);
  EXPECT_FALSE(make_progress(5, std::nullopt, std::chrono::seconds(1)).eta);
  EXPECT_EQ(make_progress(20, 10, std::chrono::seconds(1)).eta->count(), 0.0);
}

}  // namespace
}  // namespace plexus::test

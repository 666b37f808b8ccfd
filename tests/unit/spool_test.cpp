// The spool-directory transport (src/transport/spool/, plexus/spool.hpp): addresses, the file
// format, half-written and corrupt files, acks, retries and dead letters under a ManualClock,
// exactly-once delivery across restarts, bad input (the one name rule), and what a directory
// holds (spool_directory_stats) with stale temporary files removed at start. Sender and receiver in
// one process; tests/integration/spool_test.cpp runs them as separate processes and through the
// CLI.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "plexus/spool.hpp"
#include "test_kit.hpp"
#include "transport/address.hpp"
#include "transport/registry.hpp"
#include "transport/spool/spool_codec.hpp"
#include "transport/spool/spool_connection.hpp"
#include "transport/spool/spool_layout.hpp"
#include "transport/spool/spool_receiver_core.hpp"
#include "transport/spool/spool_sender_core.hpp"
#include "wire/names.hpp"

namespace plexus::test::spool_unit {
namespace {

namespace sp = transport::spool;
namespace fs = std::filesystem;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr Millis kWait{20000};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// Messages a receiver handled, in order, that a test can wait on.
struct Handled {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<SpoolMessage> messages;  // guarded by mu

  SpoolReceiver::Handler handler(Result<void> outcome = {}) {
    return [this, outcome](const SpoolMessage& m) -> Result<void> {
      std::lock_guard lock(mu);
      messages.push_back(m);
      cv.notify_all();
      return outcome;
    };
  }
  bool wait_count(std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, [&] { return messages.size() >= n; });
  }
  // Waits for a message whose payload is `payload`.
  bool wait_payload(const std::string& payload) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, [&] {
      return std::any_of(messages.begin(), messages.end(),
                         [&](const SpoolMessage& m) { return m.payload == payload; });
    });
  }
  std::size_t count() {
    std::lock_guard lock(mu);
    return messages.size();
  }
};

SpoolOptions fast() {
  SpoolOptions o;
  o.sync = false;  // these tests look at logic, not at the disk; the bench and CLI test fsync
  return o;
}

// ---- addresses ------------------------------------------------------------------------------

TEST(SpoolAddress, ParsesThroughTheRegistryAndRefusesDotDot) {
  auto a = transport::parse_address("dir:///var/spool/plexus/main");
  ASSERT_TRUE(a) << a.error().to_string();
  EXPECT_EQ(a->scheme, "dir");
  EXPECT_EQ(a->path, "/var/spool/plexus/main");
  EXPECT_EQ(a->to_string(), "dir:///var/spool/plexus/main");
  for (const char* bad : {"dir://relative/g", "dir:///a/../g", "dir:///a/./g", "dir:///a/b/..",
                          "dir:///a/b%c", "dir:///"}) {
    auto r = transport::parse_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
  }
}

TEST(SpoolAddress, OptionsAreCheckedWhenTheAddressIsParsed) {
  auto good = transport::parse_address(
      "dir:///tmp/x/g?sync=0&create=1&ack_timeout_ms=100&max_retries=0&retry_delay_ms=5");
  ASSERT_TRUE(good) << good.error().to_string();
  auto options = transport::spool::spool_address_options(*good);
  ASSERT_TRUE(options);
  EXPECT_FALSE(options->rules.sync);
  EXPECT_EQ(options->rules.ack_timeout, Millis{100});
  EXPECT_EQ(options->rules.max_retries, 0u);
  EXPECT_EQ(options->rules.retry_delay, Millis{5});
  for (const char* bad : {"dir:///tmp/x/g?retries=1", "dir:///tmp/x/g?sync=2",
                          "dir:///tmp/x/g?ack_timeout_ms=abc", "dir:///tmp/x/g?ack_timeout_ms=0"}) {
    auto r = transport::parse_address(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().code, StatusCode::invalid_argument) << bad;
  }
}

TEST(SpoolAddress, ADirectoryThatMayNotBeMadeFailsListenAndDial) {
  test::TempDir tmp;
  auto a = transport::parse_address("dir://" + tmp.path() + "/missing/g?create=0");
  ASSERT_TRUE(a);
  asio::io_context io;
  auto listener = transport::listen(io, *a, {});
  ASSERT_FALSE(listener);
  EXPECT_NE(listener.error().message.find("missing"), std::string::npos)
      << listener.error().to_string();
  std::optional<Error> dialed;
  transport::dial(io.get_executor(), *a, {}, Millis{100},
                  [&](Result<std::shared_ptr<transport::Connection>> c) {
                    ASSERT_FALSE(c);
                    dialed = c.error();
                  });
  EXPECT_FALSE(dialed);  // never before dial() returns
  io.run();
  ASSERT_TRUE(dialed);
  EXPECT_EQ(dialed->code, listener.error().code);
  EXPECT_FALSE(std::filesystem::exists(tmp.path() + "/missing"));
}

// ---- the file format ------------------------------------------------------------------------

TEST(SpoolCodec, MessageAndAckRoundTripAndEveryPrefixIsTruncated) {
  sp::Record r;
  r.id = "m-1";
  r.type = "command";
  r.group = "g1";
  r.attempt = 2;
  r.max_retries = 3;
  r.retry_delay = milliseconds(5000);
  r.json = true;
  r.payload = R"({"command":"restart"})";
  auto bytes = sp::encode_message(r, 1024);
  ASSERT_TRUE(bytes);
  auto back = sp::decode_message(*bytes, 1024);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "m-1");
  EXPECT_EQ(back->type, "command");
  EXPECT_EQ(back->group, "g1");
  EXPECT_EQ(back->attempt, 2u);
  EXPECT_EQ(back->max_retries, 3u);
  EXPECT_EQ(back->retry_delay, milliseconds(5000));
  EXPECT_TRUE(back->json);
  EXPECT_EQ(back->payload, r.payload);
  for (std::size_t n = 0; n < bytes->size(); ++n) {
    auto cut = sp::decode_message(std::string_view(*bytes).substr(0, n), 1024);
    ASSERT_FALSE(cut) << n;
    EXPECT_EQ(cut.error().reason, "truncated") << n;
  }
  auto longer = sp::decode_message(*bytes + "x", 1024);
  ASSERT_FALSE(longer);
  EXPECT_EQ(longer.error().reason, "malformed");
  auto small = sp::decode_message(*bytes, 4);
  ASSERT_FALSE(small);
  EXPECT_EQ(small.error().reason, "too_large");

  sp::Ack ok{"m-1", 2, true, {}};
  auto ok_back = sp::decode_ack(sp::encode_ack(ok));
  ASSERT_TRUE(ok_back);
  EXPECT_TRUE(ok_back->ok);
  EXPECT_EQ(ok_back->attempt, 2u);
  sp::Ack failed{"m-1", 1, false, Error{StatusCode::invalid_argument, "bad task", "{\"f\":1}"}};
  auto failed_back = sp::decode_ack(sp::encode_ack(failed));
  ASSERT_TRUE(failed_back);
  EXPECT_FALSE(failed_back->ok);
  EXPECT_EQ(failed_back->error.code, StatusCode::invalid_argument);
  EXPECT_EQ(failed_back->error.message, "bad task");
  EXPECT_EQ(failed_back->error.details, "{\"f\":1}");
  // An ack is not a message, nor the other way round.
  EXPECT_EQ(sp::decode_message(sp::encode_ack(ok), 1024).error().reason, "unexpected_kind");
  EXPECT_EQ(sp::decode_ack(*bytes).error().reason, "unexpected_kind");
}

// ---- half-written and corrupt files ---------------------------------------------------------

struct ReceiverFixture {
  TempDir tmp;
  std::string dir = tmp.path() + "/spool/g1";
  Handled handled;
  std::unique_ptr<SpoolReceiver> receiver;
  std::unique_ptr<SpoolSender> sender;

  explicit ReceiverFixture(SpoolOptions o = fast()) {
    auto r = SpoolReceiver::create(dir, o);
    EXPECT_TRUE(r) << r.error().to_string();
    receiver = std::move(*r);
    EXPECT_TRUE(receiver->on_any(handled.handler()));
    EXPECT_TRUE(receiver->start());
    auto s = SpoolSender::create(dir, o);
    EXPECT_TRUE(s) << s.error().to_string();
    sender = std::move(*s);
  }
  // Sends a probe and waits until it is handled: the receiver handles files in the order it
  // notices them, so everything renamed into messages/ before it has been looked at by then.
  void barrier() {
    static int n = 0;
    const std::string payload = "probe-" + std::to_string(++n);
    ASSERT_TRUE(sender->send("probe", payload));
    ASSERT_TRUE(handled.wait_payload(payload));
  }
  std::size_t non_probes() {
    std::lock_guard lock(handled.mu);
    return std::count_if(handled.messages.begin(), handled.messages.end(),
                         [](const SpoolMessage& m) { return m.type != "probe"; });
  }
  std::string msgs() const { return dir + "/messages"; }
  std::string errors() const { return dir + "/errors"; }
};

std::string valid_file(const std::string& id, const std::string& payload) {
  sp::Record r;
  r.id = id;
  r.type = "task";
  r.payload = payload;
  return *sp::encode_message(r, 1 << 20);
}

TEST(SpoolFiles, AHalfWrittenFileIsNeverRead) {
  ReceiverFixture f;
  const std::string id = "half-1";
  const std::string bytes = valid_file(id, "the whole payload");
  // A writer's temporary file, written byte by byte: never handed over, whatever its length.
  const std::string tmp = f.msgs() + "/.tmp-" + id + "-1";
  {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
    ASSERT_GE(fd, 0);
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      ASSERT_EQ(::write(fd, bytes.data() + i, 1), 1);
      if (i % 8 == 0 || i + 1 == bytes.size()) {
        ::close(::dup(fd));  // a close of a written descriptor: IN_CLOSE_WRITE, as a writer may
        f.barrier();
        ASSERT_EQ(f.non_probes(), 0u) << "after byte " << i;
      }
    }
    ::close(fd);
  }
  f.barrier();
  EXPECT_EQ(f.non_probes(), 0u);
  // The rename makes it a message, complete.
  ASSERT_EQ(std::rename(tmp.c_str(), (f.msgs() + "/" + id + ".msg").c_str()), 0);
  ASSERT_TRUE(f.handled.wait_payload("the whole payload"));
  EXPECT_EQ(f.non_probes(), 1u);
  EXPECT_TRUE(names_in(f.errors()).empty());

  // A writer that uses the final name at once, byte by byte on one open descriptor: nothing is
  // read while it writes (creating and writing a file are no events the receiver acts on); its
  // close hands the complete file over.
  const std::string direct = valid_file("direct-1", "written in place");
  const int fd = ::open((f.msgs() + "/direct-1.msg").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
  ASSERT_GE(fd, 0);
  for (std::size_t i = 0; i < direct.size(); ++i) {
    ASSERT_EQ(::write(fd, direct.data() + i, 1), 1);
    if (i % 8 == 0) {
      f.barrier();
      ASSERT_EQ(f.non_probes(), 1u) << "after byte " << i;
    }
  }
  ::close(fd);
  ASSERT_TRUE(f.handled.wait_payload("written in place"));
  EXPECT_EQ(f.non_probes(), 2u);
  EXPECT_TRUE(names_in(f.errors()).empty());
}

TEST(SpoolFiles, AFinalNameWithATruncatedFrameGoesToErrorsWithItsReason) {
  ReceiverFixture f;
  const std::string bytes = valid_file("cut-1", "never seen");
  {
    // A writer that skips the temporary name and stops half way.
    std::ofstream out(f.msgs() + "/cut-1.msg", std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  f.barrier();
  EXPECT_EQ(f.non_probes(), 0u);
  EXPECT_EQ(names_in(f.errors()), (std::vector<std::string>{"cut-1.msg", "cut-1.msg.reason"}));
  auto reason = nlohmann::json::parse(slurp(f.errors() + "/cut-1.msg.reason"));
  EXPECT_EQ(reason["reason"], "truncated");
  EXPECT_EQ(reason["status"], "protocol_error");
  EXPECT_TRUE(reason.contains("at_ms"));
  EXPECT_EQ(slurp(f.errors() + "/cut-1.msg"), bytes.substr(0, bytes.size() / 2));
  EXPECT_EQ(f.receiver->stats().corrupt, 1u);
}

TEST(SpoolFiles, CorruptFilesLandInErrorsWithTheirReasons) {
  ReceiverFixture f;
  auto put = [&](const std::string& name, const std::string& bytes) {
    const std::string tmp = f.msgs() + "/.tmp-put";
    {
      std::ofstream out(tmp, std::ios::binary);
      out << bytes;
    }
    ASSERT_EQ(std::rename(tmp.c_str(), (f.msgs() + "/" + name).c_str()), 0);
  };
  put("garbage.msg", std::string(40, '\xff'));
  put("trailing.msg", valid_file("trailing", "x") + "more");
  put("notes.txt", "not a message at all");
  put("ack-kind.msg", sp::encode_ack(sp::Ack{"ack-kind", 1, true, {}}));
  put("other-id.msg", valid_file("someone-else", "x"));
  f.barrier();
  EXPECT_EQ(f.non_probes(), 0u);
  auto reason_of = [&](const std::string& name) {
    EXPECT_TRUE(fs::exists(f.errors() + "/" + name)) << name;
    return nlohmann::json::parse(slurp(f.errors() + "/" + name + ".reason"))["reason"];
  };
  EXPECT_EQ(reason_of("garbage.msg"), "malformed");
  EXPECT_EQ(reason_of("trailing.msg"), "malformed");
  EXPECT_EQ(reason_of("notes.txt"), "bad_name");
  EXPECT_EQ(reason_of("ack-kind.msg"), "unexpected_kind");
  EXPECT_EQ(reason_of("other-id.msg"), "bad_metadata");
  // Only the probes' files are left (acknowledged, for the sender to clean up).
  for (const auto& name : names_in(f.msgs())) EXPECT_TRUE(name.ends_with(".msg")) << name;
  EXPECT_EQ(f.receiver->stats().corrupt, 5u);
}

// ---- acks, retries and dead letters under a ManualClock -------------------------------------

struct ClockFixture {
  TempDir tmp;
  std::string dir = tmp.path() + "/spool/g1";
  std::shared_ptr<ManualClock> clock = std::make_shared<ManualClock>();
  std::unique_ptr<SpoolSender> sender;
  std::mutex mu;
  std::vector<SpoolDeadLetter> dead;  // guarded by mu
  Event<bool> dead_event;

  ClockFixture() {
    SpoolOptions o = fast();
    o.clock = clock;  // defaults otherwise: 30 s ack timeout, 3 retries 5 s apart
    auto s = SpoolSender::create(dir, o);
    EXPECT_TRUE(s) << s.error().to_string();
    sender = std::move(*s);
    sender->on_dead_letter([this](const SpoolDeadLetter& d) {
      std::lock_guard lock(mu);
      dead.push_back(d);
      dead_event.set(true);
    });
  }
  std::uint32_t attempt_on_disk(const std::string& id) {
    auto r = sp::decode_message(slurp(dir + "/messages/" + id + ".msg"), 1 << 20);
    return r ? r->attempt : 0;
  }
  void advance(std::chrono::nanoseconds d) {
    clock->advance(d);
    sender->run_due_timers();
  }
};

TEST(SpoolRetry, AckTimeoutRetriesThreeTimesFiveSecondsApartThenDeadLetters) {
  ClockFixture f;
  auto id = f.sender->send("task", "{\"n\":1}");
  ASSERT_TRUE(id) << id.error().to_string();
  EXPECT_EQ(f.attempt_on_disk(*id), 1u);
  for (std::uint32_t attempt = 1; attempt <= 3; ++attempt) {
    f.advance(seconds(30) - milliseconds(1));
    EXPECT_EQ(f.sender->stats().retried, attempt - 1) << "not a millisecond early";
    f.advance(milliseconds(1));
    EXPECT_EQ(f.sender->stats().retried, attempt);
    EXPECT_EQ(f.attempt_on_disk(*id), attempt) << "the old file stays during the retry delay";
    f.advance(seconds(5) - milliseconds(1));
    EXPECT_EQ(f.attempt_on_disk(*id), attempt);
    f.advance(milliseconds(1));
    EXPECT_EQ(f.attempt_on_disk(*id), attempt + 1);
  }
  f.advance(seconds(30) - milliseconds(1));
  EXPECT_FALSE(f.dead_event.is_set());
  f.advance(milliseconds(1));
  ASSERT_TRUE(f.dead_event.wait_for(kWait));
  {
    std::lock_guard lock(f.mu);
    ASSERT_EQ(f.dead.size(), 1u);
    EXPECT_EQ(f.dead[0].id, *id);
    EXPECT_EQ(f.dead[0].type, "task");
    EXPECT_EQ(f.dead[0].reason, DeadLetterReason::timeout);
    EXPECT_EQ(f.dead[0].error.code, StatusCode::deadline_exceeded);
    EXPECT_EQ(f.dead[0].attempts, 4u);
  }
  EXPECT_TRUE(names_in(f.dir + "/messages").empty());
  EXPECT_EQ(names_in(f.dir + "/errors"),
            (std::vector<std::string>{*id + ".msg", *id + ".msg.reason"}));
  auto reason = nlohmann::json::parse(slurp(f.dir + "/errors/" + *id + ".msg.reason"));
  EXPECT_EQ(reason["reason"], "timeout");
  EXPECT_EQ(reason["attempts"], 4);
  const auto stats = f.sender->stats();
  EXPECT_EQ(stats.dead_lettered, 1u);
  EXPECT_EQ(stats.pending, 0u);

  // Replay: back in messages/ with attempt 1, its reason gone, pending again.
  ASSERT_TRUE(f.sender->replay(*id));
  EXPECT_EQ(f.attempt_on_disk(*id), 1u);
  EXPECT_TRUE(names_in(f.dir + "/errors").empty());
  EXPECT_EQ(f.sender->stats().pending, 1u);
  EXPECT_EQ(f.sender->replay("no-such-id").error().code, StatusCode::not_found);
}

TEST(SpoolRetry, PerMessageRulesOverrideTheDefaults) {
  ClockFixture f;
  SpoolSend m;
  m.payload = "x";
  m.max_retries = 0;
  auto id = f.sender->send(std::move(m));
  ASSERT_TRUE(id);
  f.advance(seconds(30));
  ASSERT_TRUE(f.dead_event.wait_for(kWait));
  std::lock_guard lock(f.mu);
  EXPECT_EQ(f.dead.at(0).attempts, 1u);
}

TEST(SpoolRetry, AHandlerErrorIsRetriedThenDeadLetteredWithItsStatus) {
  ClockFixture f;
  Handled handled;
  auto r = SpoolReceiver::create(f.dir, fast());
  ASSERT_TRUE(r);
  ASSERT_TRUE((*r)->on("task", handled.handler(make_error(StatusCode::invalid_argument, "bad task",
                                                          "{\"field\":\"n\"}"))));
  ASSERT_TRUE((*r)->start());
  Event<Error> first_ack;
  f.sender->on_ack([&](const std::string&, const Result<void>& outcome) {
    first_ack.set(outcome ? Error{} : outcome.error());
  });
  SpoolSend m;
  m.payload = "{}";
  m.max_retries = 1;
  auto id = f.sender->send(std::move(m));
  ASSERT_TRUE(id);
  ASSERT_TRUE(handled.wait_count(1));
  // The error ack moves the message out of the receiver's sight until the retry delay passes.
  ASSERT_TRUE(first_ack.wait_for(kWait));
  EXPECT_EQ(first_ack.wait_for(kWait)->code, StatusCode::invalid_argument);
  ASSERT_EQ(f.sender->stats().retried, 1u);
  EXPECT_TRUE(fs::exists(f.dir + "/messages/.wait-" + *id + ".msg"));
  EXPECT_FALSE(fs::exists(f.dir + "/messages/" + *id + ".msg"));
  EXPECT_EQ(handled.count(), 1u);
  f.advance(seconds(5));  // the retry: attempt 2, handled and failed again: a dead letter
  ASSERT_TRUE(handled.wait_count(2));
  ASSERT_TRUE(f.dead_event.wait_for(kWait));
  {
    std::lock_guard lock(f.mu);
    EXPECT_EQ(f.dead.at(0).reason, DeadLetterReason::handler_error);
    EXPECT_EQ(f.dead.at(0).error.code, StatusCode::invalid_argument);
    EXPECT_EQ(f.dead.at(0).error.message, "bad task");
    EXPECT_EQ(f.dead.at(0).attempts, 2u);
  }
  std::lock_guard lock(handled.mu);
  EXPECT_EQ(handled.messages.at(1).attempt, 2u);
  auto reason = nlohmann::json::parse(slurp(f.dir + "/errors/" + *id + ".msg.reason"));
  EXPECT_EQ(reason["reason"], "handler_error");
  EXPECT_EQ(reason["status"], "invalid_argument");
  EXPECT_EQ(reason["message"], "bad task");
}

// ---- exactly once ---------------------------------------------------------------------------

TEST(SpoolExactlyOnce, AResendThatCrossesTheAckAndARestartScanAreDropped) {
  TempDir tmp;
  auto layout = sp::open_layout(tmp.path() + "/g1", true);
  ASSERT_TRUE(layout);
  sp::SenderCore sender(*layout, sp::SenderRules{});
  const auto t0 = std::chrono::steady_clock::time_point{} + seconds(100);
  ASSERT_TRUE(sender.start(t0));
  sp::Record r;
  r.payload = "once";
  auto id = sender.send(r, true, t0);
  ASSERT_TRUE(id);
  const std::string name = *id + ".msg";
  {
    sp::ReceiverCore receiver(*layout, 1 << 20, false);
    auto got = receiver.take(name);
    ASSERT_TRUE(got);
    ASSERT_TRUE(receiver.finish(*got, name, {}));
    // The ack timed out at the sender meanwhile: attempt 2 is written over the file.
    sender.expire(t0 + seconds(30));
    sender.expire(t0 + seconds(35));
    EXPECT_EQ(sp::decode_message(slurp(layout->message_path(*id)), 1 << 20)->attempt, 2u);
    EXPECT_FALSE(receiver.take(name)) << "a repeat of a handled message";
    EXPECT_EQ(receiver.counters().duplicates_dropped, 1u);
  }
  {
    sp::ReceiverCore restarted(*layout, 1 << 20, false);  // a receiver restart: a fresh scan
    auto names = restarted.scan();
    ASSERT_TRUE(names);
    ASSERT_EQ(*names, std::vector<std::string>{name});
    EXPECT_FALSE(restarted.take(name));
  }
  // The sender reads the ack: the message file goes first, then the ack; nothing is left.
  sender.on_ack_file(*id + ".ack", t0 + seconds(36));
  sender.flush();
  EXPECT_EQ(sender.counters().acked, 1u);
  EXPECT_EQ(sender.pending(), 0u);
  EXPECT_TRUE(names_in(layout->messages).empty());
  EXPECT_TRUE(names_in(layout->acks).empty());
}

TEST(SpoolExactlyOnce, EachMessageIsHandledOnceAcrossReceiverAndSenderRestarts) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/g1";
  constexpr int kMessages = 300;
  std::set<std::string> sent;
  {
    auto sender = SpoolSender::create(dir, fast());  // sends with no receiver running
    ASSERT_TRUE(sender);
    for (int i = 0; i < kMessages; ++i) {
      auto id = (*sender)->send("task", std::to_string(i));
      ASSERT_TRUE(id);
      sent.insert(*id);
    }
  }                                  // the sender goes away with everything pending
  std::map<std::string, int> times;  // id -> handled how often
  std::mutex mu;
  std::condition_variable cv;
  auto handler = [&](const SpoolMessage& m) -> Result<void> {
    std::lock_guard lock(mu);
    ++times[m.id];
    cv.notify_all();
    return {};
  };
  auto wait_handled = [&](std::size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, kWait, [&] { return times.size() >= n; });
  };
  {
    auto first = SpoolReceiver::create(dir, fast());
    ASSERT_TRUE(first);
    ASSERT_TRUE((*first)->on_any(handler));
    ASSERT_TRUE((*first)->start());
    ASSERT_TRUE(wait_handled(kMessages / 3));
  }  // stopped part way
  auto second = SpoolReceiver::create(dir, fast());
  ASSERT_TRUE(second);
  ASSERT_TRUE((*second)->on_any(handler));
  ASSERT_TRUE((*second)->start());
  ASSERT_TRUE(wait_handled(kMessages));
  // A new sender takes over what the first left, reads the acks and cleans up.
  auto sender = SpoolSender::create(dir, fast());
  ASSERT_TRUE(sender);
  EXPECT_TRUE((*sender)->wait_idle(kWait));
  std::lock_guard lock(mu);
  ASSERT_EQ(times.size(), sent.size());
  for (const auto& [id, n] : times) {
    EXPECT_TRUE(sent.contains(id));
    EXPECT_EQ(n, 1) << id;
  }
  EXPECT_TRUE(names_in(dir + "/messages").empty());
  EXPECT_TRUE(names_in(dir + "/acks").empty());
}

TEST(SpoolExactlyOnce, AMessageWithoutAckIsRemovedOnceHandled) {
  ReceiverFixture f;
  SpoolSend m;
  m.type = "heartbeat";
  m.payload = "beat";
  m.requires_ack = false;
  auto id = f.sender->send(std::move(m));
  ASSERT_TRUE(id);
  ASSERT_TRUE(f.handled.wait_payload("beat"));
  f.barrier();
  EXPECT_FALSE(fs::exists(f.msgs() + "/" + *id + ".msg"));
  EXPECT_FALSE(fs::exists(f.dir + "/acks/" + *id + ".ack"));
  std::lock_guard lock(f.handled.mu);
  EXPECT_FALSE(f.handled.messages.front().requires_ack);
}

TEST(SpoolReceiverHandlers, PerTypeHandlersAndTheCatchAll) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/g1";
  auto receiver = SpoolReceiver::create(dir, fast());
  ASSERT_TRUE(receiver);
  Handled tasks, rest;
  ASSERT_TRUE((*receiver)->on("task", tasks.handler()));
  ASSERT_TRUE((*receiver)->on_any(rest.handler()));
  EXPECT_EQ((*receiver)->on("../x", tasks.handler()).error().code, StatusCode::invalid_argument);
  ASSERT_TRUE((*receiver)->start());
  EXPECT_EQ((*receiver)->on("command", tasks.handler()).error().code,
            StatusCode::failed_precondition);
  auto sender = SpoolSender::create(dir, fast());
  ASSERT_TRUE(sender);
  ASSERT_TRUE((*sender)->send("task", "t"));
  ASSERT_TRUE((*sender)->send("command", "c"));
  ASSERT_TRUE((*sender)->send("heartbeat", "h"));
  ASSERT_TRUE(rest.wait_count(2));
  ASSERT_TRUE(tasks.wait_count(1));
  EXPECT_TRUE((*sender)->wait_idle(kWait));
  EXPECT_EQ(tasks.count(), 1u);
  EXPECT_EQ(rest.count(), 2u);
  std::lock_guard lock(tasks.mu);
  EXPECT_EQ(tasks.messages[0].group, "g1");  // the directory's group by default
}

// ---- bad input ------------------------------------------------------------------------------

TEST(SpoolBadInput, ClearErrorsAndNothingWritten) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/g1";
  EXPECT_EQ(SpoolSender::create(tmp.path() + "/../g1").error().code, StatusCode::invalid_argument);
  EXPECT_EQ(SpoolSender::create("relative/g1").error().code, StatusCode::invalid_argument);
  SpoolOptions no_create = fast();
  no_create.create = false;
  EXPECT_EQ(SpoolReceiver::create(tmp.path() + "/absent", no_create).error().code,
            StatusCode::not_found);
  SpoolOptions small = fast();
  small.max_message_size = 1024;
  auto sender = SpoolSender::create(dir, small);
  ASSERT_TRUE(sender);
  auto big = (*sender)->send("task", std::string(1025, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, StatusCode::message_too_large);
  EXPECT_EQ((*sender)->send("task", std::string(1024, 'x')).has_value(), true);
  auto default_big = SpoolSender::create(tmp.path() + "/g2", fast());
  ASSERT_TRUE(default_big);
  EXPECT_EQ((*default_big)->send("task", std::string((8u << 20) + 1, 'x')).error().code,
            StatusCode::message_too_large);
  for (const char* id : {"../x", "a/b", ".hidden", ""}) {
    SpoolSend m;
    m.id = id;
    if (std::string(id).empty()) continue;
    EXPECT_EQ((*sender)->send(std::move(m)).error().code, StatusCode::invalid_argument) << id;
  }
  SpoolSend bad_group;
  bad_group.group = "..";
  EXPECT_EQ((*sender)->send(std::move(bad_group)).error().code, StatusCode::invalid_argument);
  SpoolSend bad_type;
  bad_type.type = "a/b";
  EXPECT_EQ((*sender)->send(std::move(bad_type)).error().code, StatusCode::invalid_argument);
  SpoolSend twice;
  twice.id = "same";
  ASSERT_TRUE((*sender)->send(twice));
  EXPECT_EQ((*sender)->send(twice).error().code, StatusCode::already_exists);
  // Only the two good messages were written, and no temporary file is left.
  EXPECT_EQ(names_in(dir + "/messages").size(), 2u);
}

TEST(SpoolBadInput, AnOversizeFileGoesToErrorsUnread) {
  SpoolOptions o = fast();
  o.max_message_size = 64;
  ReceiverFixture f(o);
  const std::string big = valid_file("big", std::string(4096, 'x'));
  {
    std::ofstream out(f.msgs() + "/.tmp-big", std::ios::binary);
    out << big;
  }
  fs::rename(f.msgs() + "/.tmp-big", f.msgs() + "/big.msg");
  f.barrier();
  EXPECT_EQ(f.non_probes(), 0u);
  auto reason = nlohmann::json::parse(slurp(f.errors() + "/big.msg.reason"));
  EXPECT_EQ(reason["reason"], "too_large");
  EXPECT_EQ(reason["status"], "message_too_large");
}

TEST(SpoolBadInput, NamesFollowTheOneRuleOfDurableQueues) {
  // Types, groups and ids of a spool directory follow wire::validate_name, as queue names do.
  for (const char* name : {"a..b", "..", ".", "a/b", "", "tab\there"}) {
    EXPECT_FALSE(wire::valid_name(name)) << name;
    EXPECT_FALSE(sp::valid_name(name)) << name;
  }
  for (const char* name : {"task", "a.b", "A-Z_0.9", ".starts-with-dot"}) {
    EXPECT_TRUE(wire::valid_name(name)) << name;
    EXPECT_TRUE(sp::valid_name(name)) << name;
  }
  EXPECT_TRUE(wire::valid_name(std::string(128, 'n')));
  EXPECT_FALSE(wire::valid_name(std::string(129, 'n')));
  EXPECT_FALSE(sp::valid_id(".starts-with-dot")) << "a '.' name is a writer's private file";
  const auto refused = wire::validate_name("a..b", "queue name");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, StatusCode::invalid_argument);
  EXPECT_NE(refused.error().message.find("\"a..b\" contains \"..\""), std::string::npos)
      << refused.error().message;
  EXPECT_EQ(nlohmann::json::parse(refused.error().details)["field"], "queue name");

  TempDir tmp;
  auto sender = SpoolSender::create(tmp.path() + "/g1", fast());
  ASSERT_TRUE(sender);
  SpoolSend dots;
  dots.type = "a..b";
  const auto sent = (*sender)->send(dots);
  ASSERT_FALSE(sent);
  EXPECT_NE(sent.error().message.find("message type"), std::string::npos) << sent.error().message;
  SpoolSend id_dots;
  id_dots.id = "x..y";
  EXPECT_EQ((*sender)->send(id_dots).error().code, StatusCode::invalid_argument);
  auto receiver = SpoolReceiver::create(tmp.path() + "/g1", fast());
  ASSERT_TRUE(receiver);
  EXPECT_EQ((*receiver)->on("a..b", {}).error().code, StatusCode::invalid_argument);
  EXPECT_TRUE(names_in(tmp.path() + "/g1/messages").empty());
}

// ---- what a directory holds, and stale temporary files ---------------------------------------

TEST(SpoolStaleTemps, AStaleTemporaryFileIsRemovedAtStartAndAFreshOneIsLeftAlone) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/g1";
  ASSERT_TRUE(sp::open_layout(dir, true));
  // Left by writers that crashed an hour ago, one in each directory; and one being written now.
  write_aged_file(dir + "/messages/.tmp-a-1-1", "half a frame", std::chrono::hours(1));
  write_aged_file(dir + "/acks/.tmp-b-1-2", "half a frame", std::chrono::hours(1));
  write_aged_file(dir + "/errors/.tmp-c-1-3", "half a frame", std::chrono::minutes(11));
  write_aged_file(dir + "/messages/.tmp-live-2-1", "half a frame", std::chrono::seconds(0));
  write_aged_file(dir + "/messages/.tmp-recent-2-2", "half a frame", std::chrono::minutes(9));
  auto before = spool_directory_stats(dir);
  ASSERT_TRUE(before) << before.error().to_string();
  EXPECT_EQ(before->temporary.count, 5u);
  EXPECT_EQ(before->stale_temporary, 3u);
  EXPECT_GE(before->temporary.oldest_age, std::chrono::hours(1));
  EXPECT_EQ(before->ready.count, 0u) << "a temporary file is not a message";

  // A sender that only writes (plexus spool send) reads nothing at start and removes nothing.
  SpoolOptions writer = fast();
  writer.take_over = false;
  auto script = SpoolSender::create(dir, writer);
  ASSERT_TRUE(script);
  EXPECT_EQ((*script)->stats().stale_temp_files_removed, 0u);
  EXPECT_TRUE(fs::exists(dir + "/messages/.tmp-a-1-1"));

  auto receiver = SpoolReceiver::create(dir, fast());
  ASSERT_TRUE(receiver);
  Handled handled;
  ASSERT_TRUE((*receiver)->on_any(handled.handler()));
  ASSERT_TRUE((*receiver)->start());
  EXPECT_EQ((*receiver)->stats().stale_temp_files_removed, 3u);
  EXPECT_EQ(names_in(dir + "/messages"),
            (std::vector<std::string>{".tmp-live-2-1", ".tmp-recent-2-2"}));
  EXPECT_TRUE(names_in(dir + "/acks").empty());
  EXPECT_TRUE(names_in(dir + "/errors").empty());
  auto after = spool_directory_stats(dir);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->temporary.count, 2u);
  EXPECT_EQ(after->stale_temporary, 0u);

  // A sender that takes over removes them too.
  write_aged_file(dir + "/acks/.tmp-d-1-4", "half a frame", std::chrono::hours(2));
  auto sender = SpoolSender::create(dir, fast());
  ASSERT_TRUE(sender);
  EXPECT_EQ((*sender)->stats().stale_temp_files_removed, 1u);
  EXPECT_FALSE(fs::exists(dir + "/acks/.tmp-d-1-4"));
  EXPECT_TRUE(fs::exists(dir + "/messages/.tmp-live-2-1"));
  // Nothing was handed over: temporary files are never read.
  EXPECT_EQ(handled.count(), 0u);
}

TEST(SpoolStaleTemps, DirectoryStatsCountEachKindOfFile) {
  ClockFixture f;
  auto receiver = SpoolReceiver::create(f.dir, fast());
  ASSERT_TRUE(receiver);
  Handled handled;
  ASSERT_TRUE((*receiver)->on("task", handled.handler()));
  ASSERT_TRUE((*receiver)->on("bad", handled.handler(make_error(StatusCode::internal, "no"))));
  ASSERT_TRUE((*receiver)->start());
  Event<bool> failed;
  f.sender->on_ack([&](const std::string&, const Result<void>& outcome) {
    if (!outcome) failed.set(true);
  });
  SpoolSend bad;
  bad.type = "bad";
  bad.max_retries = 1;
  ASSERT_TRUE(f.sender->send(bad));
  ASSERT_TRUE(failed.wait_for(kWait));
  // The failed message waits for its retry as .wait-ID.msg.
  auto waiting = spool_directory_stats("dir://" + f.dir);
  ASSERT_TRUE(waiting) << waiting.error().to_string();
  EXPECT_EQ(waiting->directory, f.dir);
  EXPECT_EQ(waiting->waiting.count, 1u);
  EXPECT_EQ(waiting->ready.count, 0u);
  EXPECT_EQ(waiting->errors.count, 0u);
  EXPECT_EQ(f.sender->stats().retried, 1u);
  f.advance(seconds(5));
  ASSERT_TRUE(f.dead_event.wait_for(kWait));
  ASSERT_TRUE(handled.wait_count(2));
  {
    std::lock_guard lock(handled.mu);
    EXPECT_EQ(handled.messages.at(1).attempt, 2u);
  }
  // The dead letter is one file in errors/ (its reason file is not counted).
  auto dead = spool_directory_stats(f.dir);
  ASSERT_TRUE(dead);
  EXPECT_EQ(dead->waiting.count, 0u);
  EXPECT_EQ(dead->errors.count, 1u);
  EXPECT_EQ(dead->temporary.count, 0u);
  EXPECT_EQ(spool_directory_stats(f.tmp.path() + "/absent/g").error().code, StatusCode::not_found);
  EXPECT_EQ(spool_directory_stats("relative/g").error().code, StatusCode::invalid_argument);
}

TEST(SpoolReceiverCounts, DuplicatesAndRedeliveries) {
  TempDir tmp;
  const std::string dir = tmp.path() + "/g1";
  // A script's sender writes; an ack for "done" exists already (handled before a restart).
  SpoolOptions writer = fast();
  writer.take_over = false;
  auto script = SpoolSender::create(dir, writer);
  ASSERT_TRUE(script);
  SpoolSend done;
  done.id = "done";
  ASSERT_TRUE((*script)->send(done));
  ASSERT_TRUE(spool_ack(dir, "done", std::nullopt, fast()));
  // The second attempt of "again", as a sender's retry writes it.
  sp::Record again;
  again.id = "again";
  again.group = "g1";
  again.attempt = 2;
  auto bytes = sp::encode_message(again, 1 << 20);
  ASSERT_TRUE(bytes);
  std::ofstream(dir + "/messages/again.msg", std::ios::binary) << *bytes;

  auto receiver = SpoolReceiver::create(dir, fast());
  ASSERT_TRUE(receiver);
  Handled handled;
  ASSERT_TRUE((*receiver)->on_any(handled.handler()));
  ASSERT_TRUE((*receiver)->start());
  // The scan goes in name order: again.msg, then done.msg (a duplicate). A message sent after
  // the scan is handled once both are counted.
  SpoolSend after;
  after.id = "zz-after";
  ASSERT_TRUE((*script)->send(after));
  ASSERT_TRUE(handled.wait_count(2));
  const auto stats = (*receiver)->stats();
  EXPECT_GE(stats.delivered, 1u);
  EXPECT_EQ(stats.redelivered, 1u);
  EXPECT_EQ(stats.duplicates_dropped, 1u);
  std::lock_guard lock(handled.mu);
  EXPECT_EQ(handled.messages.at(0).id, "again");
  EXPECT_EQ(handled.messages.at(0).attempt, 2u);
  EXPECT_EQ(handled.messages.at(1).id, "zz-after");
}

}  // namespace
}  // namespace plexus::test::spool_unit

// api_tour: the public API part by part, in one program. A server and a client in the same
// process over an abstract Unix socket (no file to clean up):
//
//   1. a typed method, served and called                          plexus/method.hpp
//   2. a generator, iterated                                      plexus/generator.hpp
//   3. streams: a generator_handler's items read in the blocking  plexus/stream.hpp,
//      form, write_chunks, a stream written with try_write        plexus/stream_items.hpp
//   4. a lane to a method of the server                           plexus/lane.hpp
//   5. a typed channel                                            plexus/channel.hpp
//   6. a direct channel, served by a thread of its own            plexus/direct.hpp
//   7. de-duplication and batching                                plexus/coalesce.hpp
//
// The code snippets of those headers are lines of this program: tests/docs/check_snippets.py
// checks that each of them appears here, so the headers show code that compiles and runs.
// Every part checks what happened; the exit status is 0 only if all of them behaved.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <mutex>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio/steady_timer.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>

namespace {

using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kAddress = "unix:@plexus-api-tour";  // abstract: no socket file
constexpr plexus::Millis kTimeout{5000};                   // no step should come near it

// ---- Tiny helpers for the tour itself -----------------------------------------------------------

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("  %s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

template <typename T>
std::string describe(const plexus::Result<T>& r) {
  return r ? std::string("ok") : r.error().to_string();
}

// Options with a deadline, for every call of the tour. g++ 12 caveat (plexus/caller.hpp): in a
// coroutine, keep them in a named local, never a temporary inside a co_await expression.
plexus::CallOptions with_timeout() {
  plexus::CallOptions options;
  options.timeout = kTimeout;
  return options;
}

// Ends the process if the tour has not finished within `limit`: blocking stream and channel
// reads have no deadline, and a tour that hangs must fail rather than run forever.
class Watchdog {
 public:
  explicit Watchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock lock(mu_);
          if (!cv_.wait_for(lock, limit, [this] { return done_; })) {
            std::printf("FAIL the tour did not finish within %d s\n",
                        static_cast<int>(limit.count()));
            std::fflush(stdout);
            std::_Exit(2);
          }
        }) {}
  ~Watchdog() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: it uses the members above
};

// ---- 1. A typed method: plain structs in and out, JSON on the wire ------------------------------

struct AddRequest {
  int a = 0;
  int b = 0;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(AddRequest, a, b)
};
struct AddReply {
  int sum = 0;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(AddReply, sum)
};
inline constexpr plexus::Method<AddRequest, AddReply> kAdd{"calc.add"};

// The handler: a decoded request in, a reply or an error out (on the I/O thread: no blocking).
plexus::Result<AddReply> add(plexus::CallContext&, AddRequest r) {
  return AddReply{r.a + r.b};
}

void serve_add(plexus::Server& server) {
  plexus::handle(server, kAdd, add);
}

void tour_method(plexus::Client& client) {
  plexus::CallOptions options;
  options.timeout = plexus::Millis{5000};
  plexus::Result<AddReply> sum = plexus::call(client, kAdd, AddRequest{1, 2}, options);
  check(sum && sum->sum == 3,
        "method    calc.add(1, 2) = " + (sum ? std::to_string(sum->sum) : describe(sum)));
}

// ---- 2. A generator: a function that co_yields, run lazily by whoever iterates it ---------------

plexus::Generator<std::string> numbers(int n) {
  for (int i = 0; i < n; ++i) co_yield std::to_string(i);
}

void tour_generator() {
  std::string seen;
  for (const std::string& s : numbers(3)) seen += s;
  check(seen == "012", "generator numbers(3) yielded \"" + seen + "\"");
}

// ---- 3. Streams: ordered items with flow control, each way --------------------------------------

// "chunks": the integers 1..250 as items of 100 elements; its final payload counts the items.
asio::awaitable<plexus::Result<std::string>> chunks(plexus::CallContext&, std::string,
                                                    plexus::Stream out) {
  std::vector<int> values(250);
  std::iota(values.begin(), values.end(), 1);
  auto written = co_await plexus::write_chunks(out, values, 100);  // items of 100: JSON arrays
  if (!written) co_return tl::unexpected(written.error());
  co_return std::to_string(*written);
}

// "sum": adds up the integers the opener writes, until it closes its direction.
asio::awaitable<plexus::Result<std::string>> add_up(plexus::CallContext&, std::string,
                                                    plexus::Stream in) {
  long total = 0;
  for (;;) {
    auto item = co_await in.async_read(asio::use_awaitable);
    if (!item) co_return tl::unexpected(item.error());
    if (!*item) break;  // nullopt: the opener closed its direction
    total += std::stol(**item);
  }
  co_return std::to_string(total);
}

void serve_streams(plexus::Server& server) {
  // "numbers": the items "0" .. "n-1", n being the opener's argument; then {"items":n}.
  auto count = [](plexus::CallContext&, std::string payload) -> plexus::Generator<std::string> {
    const int n = std::stoi(payload);
    for (int i = 0; i < n; ++i) co_yield std::to_string(i);
  };
  server.handle_stream("numbers", plexus::generator_handler(count));
  server.handle_stream("chunks", chunks);
  server.handle_stream("sum", add_up);
}

// Every item of `s`, read in the blocking form (not on an I/O thread).
std::vector<std::string> read_all(plexus::Stream& s) {
  std::vector<std::string> items;
  while (auto item = s.read()) {  // blocking form; an error ends the loop too
    if (!*item) break;            // nullopt: the other side ended its direction cleanly
    items.push_back(**item);
  }
  return items;
}

// What the stream handler answered at the end (Stream::outcome).
std::string outcome_of(const plexus::Stream& s) {
  const auto outcome = s.outcome();
  if (!outcome) return "(no outcome: the stream is still open)";
  return *outcome ? **outcome : outcome->error().to_string();
}

void tour_read(plexus::Client& client) {
  plexus::Stream s = client.open_stream("numbers", "1000");
  const std::vector<std::string> items = read_all(s);
  check(items.size() == 1000 && items.back() == "999" && outcome_of(s) == R"({"items":1000})",
        "stream    numbers: " + std::to_string(items.size()) + " items, then " + outcome_of(s));

  plexus::Stream c = client.open_stream("chunks", "");
  const std::vector<std::string> arrays = read_all(c);
  const bool chunked = arrays.size() == 3 && json::parse(arrays[0]).size() == 100 &&
                       json::parse(arrays[2]).size() == 50 && json::parse(arrays[2]).back() == 250;
  check(chunked && outcome_of(c) == "3",
        "stream    chunks: " + std::to_string(arrays.size()) + " arrays, then " + outcome_of(c));
}

// Writes 1..1000 to "sum" from a coroutine on the client's I/O thread, where try_write sends
// at once while the server's credit lasts; returns the server's answer.
asio::awaitable<plexus::Result<std::string>> write_numbers(plexus::Client& client) {
  plexus::Stream s = client.open_stream("sum", "");
  for (int i = 1; i <= 1000; ++i) {
    const std::string item = std::to_string(i);
    if (!s.try_write(item)) {  // no credit now: wait for it
      auto written = co_await s.async_write(item, asio::use_awaitable);
      if (!written) co_return tl::unexpected(written.error());
    }
  }
  s.close_write();                                        // the handler's reads yield nullopt
  auto end = co_await s.async_read(asio::use_awaitable);  // coroutine form
  if (!end) co_return tl::unexpected(end.error());
  if (*end) co_return plexus::make_error(plexus::StatusCode::internal, "an item from \"sum\"?");
  co_return outcome_of(s);
}

void tour_write(plexus::Runtime& runtime, plexus::Client& client) {
  auto done = asio::co_spawn(runtime.executor(), write_numbers(client), asio::use_future);
  if (done.wait_for(kTimeout) != std::future_status::ready) {
    return check(false, "stream    sum: the writing coroutine did not finish");
  }
  const plexus::Result<std::string> total = done.get();
  check(total && *total == "500500",
        "stream    sum of 1..1000 written with try_write = " + (total ? *total : describe(total)));
}

// ---- 4. A lane: one-way messages to one method of the peer, bound once --------------------------

// What "market.tick" received: written on the I/O thread, waited for by the tour.
class Tally {
 public:
  void add(long value) {
    {
      std::lock_guard lock(mu_);
      ++count_;
      sum_ += value;
    }
    cv_.notify_all();
  }
  // The sum of the first `count` values, waiting up to `timeout` for them; nullopt if they
  // did not all come.
  std::optional<long> sum_of(int count, plexus::Millis timeout) {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return count_ >= count; })) return std::nullopt;
    return sum_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
  long sum_ = 0;
};

void serve_ticks(plexus::Server& server, Tally& tally) {
  server.handle(
      "market.tick",
      [&tally](plexus::CallContext&, std::string_view tick) -> plexus::Result<std::string> {
        tally.add(std::stol(std::string(tick)));
        return std::string();  // a lane's message is a NOTIFY: this goes nowhere
      });
}

void tour_lane(plexus::Client& client, Tally& tally) {
  auto ticks = client.open_lane("market.tick");  // Result<Lane>
  if (!ticks) return check(false, "lane      open_lane: " + describe(ticks));
  for (int i = 1; i <= 100; ++i) {
    auto sent = ticks->send(std::to_string(i));  // any thread; on the I/O thread: no post, no copy
    if (!sent) return check(false, "lane      send: " + describe(sent));
  }
  const std::optional<long> total = tally.sum_of(100, kTimeout);
  check(total == 5050, "lane      100 ticks received, their sum " +
                           (total ? std::to_string(*total) : std::string("(never came)")));
}

// ---- 5. A typed channel: values both ways over one stream ---------------------------------------

struct Msg {
  std::string from;
  std::string text;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(Msg, from, text)
};

// Serves one "chat" channel: answers each message until the opener closes; returning closes it.
asio::awaitable<plexus::Result<void>> chat(plexus::CallContext&, plexus::Channel<Msg> ch) {
  for (;;) {
    auto msg = co_await ch.async_receive();  // Result<std::optional<Msg>>, nullopt at the end
    if (!msg) co_return tl::unexpected(msg.error());
    if (!*msg) co_return plexus::Result<void>();
    const Msg reply{"server", "re: " + (*msg)->text};
    auto sent = co_await ch.async_send(reply);
    if (!sent) co_return tl::unexpected(sent.error());
  }
}

void serve_chat(plexus::Server& server) {
  // chat(CallContext&, Channel<Msg>) -> asio::awaitable<Result<void>>: a coroutine per channel
  plexus::handle_channel<Msg>(server, "chat", chat);
}

void tour_channel(plexus::Client& client) {
  auto ch = plexus::open_channel<Msg>(client, "chat");
  auto sent = ch.send(Msg{"ada", "hello"});
  auto reply = ch.receive();  // Result<std::optional<Msg>>
  ch.close();                 // chat's next receive yields nullopt, and it returns
  auto end = ch.receive();    // nullopt: chat returned, closing the channel
  const bool ok = sent && reply && *reply && (*reply)->from == "server" &&
                  (*reply)->text == "re: hello" && end && !*end;
  check(ok, "channel   chat: hello -> " +
                (reply && *reply ? (*reply)->text : "(" + describe(reply) + ")") +
                ", then the end: " + (end && !*end ? "yes" : "no"));
}

// ---- 6. A direct channel: shared-memory rings between two application threads -------------------

// Serves direct channels: each on a thread of its own that echoes every message until either
// side closes. stop() closes this side of every channel and joins the threads.
class Echoes {
 public:
  ~Echoes() { stop(); }
  void serve(plexus::DirectChannel ch) {
    std::lock_guard lock(mu_);
    channels_.push_back(ch);
    threads_.emplace_back([ch]() mutable {
      while (auto m = ch.receive()) ch.send(*m);  // until either side closes
      ch.close();
    });
  }
  void stop() {
    std::lock_guard lock(mu_);
    for (auto& ch : channels_) ch.close();  // wakes a thread waiting in receive()
    for (auto& t : threads_) t.join();
    channels_.clear();
    threads_.clear();
  }

 private:
  std::mutex mu_;
  std::vector<plexus::DirectChannel> channels_;
  std::vector<std::thread> threads_;
};

void serve_prices(plexus::Server& server, Echoes& echoes) {
  plexus::handle_direct(server, "prices", [&](plexus::CallContext&, plexus::DirectChannel ch) {
    echoes.serve(std::move(ch));  // to a thread of its own: the I/O thread must not block
  });
}

void tour_direct(plexus::Client& client) {
  auto ch = plexus::open_direct(client, "prices");  // Result<DirectChannel>
  if (!ch) return check(false, "direct    open_direct: " + describe(ch));
  auto sent = ch->send("EUR/USD 1.0842", 5s);
  auto reply = ch->receive(5s);  // Result<std::string_view>
  check(sent && reply && *reply == "EUR/USD 1.0842",
        "direct    prices: echoed " + (reply ? std::string(*reply) : describe(reply)));
  ch->close();  // the server's thread sees it and ends
}

// ---- 7. Coalescing: identical requests in flight share a run; others go in batches --------------

// "user.get": a slow lookup (200 ms), so that identical requests overlap.
asio::awaitable<plexus::Result<std::string>> get_user(plexus::CallContext& ctx, std::string id) {
  asio::steady_timer slow(ctx.io_executor(), 200ms);
  co_await slow.async_wait(asio::use_awaitable);
  co_return json{{"id", id}, {"name", "user " + id}}.dump();
}

// "user.load": many requests in one go; one answer per request, in order.
std::vector<plexus::Result<std::string>> load_many(const std::vector<std::string>& ids) {
  std::vector<plexus::Result<std::string>> users;
  for (const std::string& id : ids) users.push_back(json{{"id", id}, {"batch", ids.size()}}.dump());
  return users;
}

std::shared_ptr<plexus::CoalesceCounters> serve_users(plexus::Server& server) {
  auto counters = std::make_shared<plexus::CoalesceCounters>();
  server.handle_async("user.get", plexus::deduplicate(get_user, counters));
  auto batcher = plexus::RequestBatcher::create(
      load_many, {.max_items = 4, .max_wait = plexus::Millis{20}}, counters);
  server.handle_async("user.load", batcher->handler());
  return counters;
}

// Calls `method` once per payload, all together from the I/O thread (so that they are in
// flight at once), and returns the answers. Every call has a deadline: every answer comes.
std::vector<plexus::Result<std::string>> call_together(plexus::Runtime& runtime,
                                                       plexus::Client& client,
                                                       const std::string& method,
                                                       const std::vector<std::string>& payloads) {
  std::vector<std::promise<plexus::Result<std::string>>> promises(payloads.size());
  asio::post(runtime.executor(), [&] {
    for (std::size_t i = 0; i < payloads.size(); ++i) {
      client.call_async(
          method, payloads[i], with_timeout(),
          [&promises, i](plexus::Result<std::string> r) { promises[i].set_value(std::move(r)); });
    }
  });
  std::vector<plexus::Result<std::string>> answers;
  for (auto& p : promises) answers.push_back(p.get_future().get());
  return answers;
}

void tour_dedup(plexus::Runtime& runtime, plexus::Client& client,
                const plexus::CoalesceCounters& counters) {
  const auto answers = call_together(runtime, client, "user.get", std::vector<std::string>(5, "7"));
  bool same = true;
  for (const auto& a : answers) same = same && a && *a == R"({"id":"7","name":"user 7"})";
  const plexus::CoalesceStats s = counters.snapshot();
  check(same && s.calls == 5 && s.handler_runs == 1 && s.deduplicated == 4,
        "dedup     5 identical calls: " + std::to_string(s.handler_runs) + " run, " +
            std::to_string(s.deduplicated) + " joined it" + (same ? "" : ", wrong answers"));
}

void tour_batch(plexus::Runtime& runtime, plexus::Client& client,
                const plexus::CoalesceCounters& counters) {
  std::vector<std::string> ids;
  for (int i = 1; i <= 10; ++i) ids.push_back(std::to_string(i));
  const auto answers = call_together(runtime, client, "user.load", ids);
  bool right = true;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    right = right && answers[i] && json::parse(*answers[i])["id"] == ids[i];
  }
  // 4 and 4 at once (max_items), the last 2 when max_wait passed: 3 batches when the 10 arrive
  // together, as they do here; a slow machine may split them further, never into 10.
  const plexus::CoalesceStats s = counters.snapshot();
  check(right && s.batches >= 3 && s.batches < 10 && s.batched_calls == 10,
        "batch     10 calls in " + std::to_string(s.batches) + " batches" +
            (right ? "" : ", wrong answers"));
}

// ---- The tour -----------------------------------------------------------------------------------

void run() {
  plexus::Runtime runtime;  // first: it must outlive the server and the client
  Echoes echoes;            // the direct channels' threads, used by the server's handler
  Tally tally;              // what the lane delivered, written by the server's handler

  plexus::ServerOptions server_options;
  server_options.listen = {kAddress};
  auto created = plexus::Server::create(runtime, server_options);
  if (!created) return check(false, "server: " + describe(created));
  plexus::Server& server = **created;
  serve_add(server);
  serve_streams(server);
  serve_ticks(server, tally);
  serve_chat(server);
  serve_prices(server, echoes);
  const std::shared_ptr<plexus::CoalesceCounters> counters = serve_users(server);
  if (auto started = server.start(); !started) return check(false, "server: " + describe(started));

  plexus::ClientOptions client_options;
  client_options.address = kAddress;
  client_options.reconnect.enabled = false;  // the tour's server goes away only at the end
  auto connected = plexus::Client::connect(runtime, client_options);
  if (!connected) return check(false, "connect: " + describe(connected));
  plexus::Client& client = **connected;

  tour_method(client);
  tour_generator();
  tour_read(client);
  tour_write(runtime, client);
  tour_lane(client, tally);
  tour_channel(client);
  tour_direct(client);
  echoes.stop();
  tour_dedup(runtime, client, *counters);
  tour_batch(runtime, client, *counters);

  client.close();
  server.shutdown(plexus::Millis{1000});
}  // the client, the server, then the runtime (joining its I/O thread) go here

}  // namespace

int main() {
  setenv("PLEXUS_LOG", "warn", /*overwrite=*/0);  // quiet unless asked otherwise
  {
    Watchdog watchdog(std::chrono::seconds(30));
    run();
  }
  if (failures > 0) {
    std::printf("%d part(s) did not behave as expected\n", failures);
    return 1;
  }
  std::printf("every part behaved as expected\n");
  return 0;
}

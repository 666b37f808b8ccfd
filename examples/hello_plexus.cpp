// hello_plexus: plexus in one program. A server and a client in the same process, talking over
// a Unix socket in a fresh temporary directory:
//
//   1. the server registers a typed method (calc.add), an asynchronous handler that answers
//      from a timer (timer.sleep), a coroutine handler that calls back into the client (greet)
//      and a handler for a one-way message (audit.log);
//   2. the client calls them blocking, with a callback and with co_await; a deadline expires,
//      a handler fails with code, message and details, a notify arrives, and the server calls
//      a method the client registered (sessions are symmetric);
//   3. the server shuts down gracefully while a call is in flight; the call still completes.
//
// Every step checks what happened; the exit status is 0 only if all of them behaved.
// Run it: <build>/examples/hello_plexus, or `ctest -L example` in the build directory.
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <future>
#include <memory>
#include <mutex>
#include <string>

#include <asio/steady_timer.hpp>
#include <asio/use_future.hpp>
#include <nlohmann/json.hpp>
#include <plexus/plexus.hpp>

namespace {

using nlohmann::json;
using plexus::Millis;

// ---- The typed method: request and reply are plain structs, JSON on the wire ----------------

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
inline constexpr int kMaxOperand = 1'000'000;

// The argument of timer.sleep, decoded by hand with the same codec.
struct SleepArgs {
  int ms = 0;
  NLOHMANN_DEFINE_TYPE_INTRUSIVE(SleepArgs, ms)
};

// ---- Tiny helpers for the example itself -----------------------------------------------------

int failures = 0;

void check(bool ok, const std::string& what) {
  std::printf("  %s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

// Waits for the result a callback delivers through a promise; a timeout becomes an error.
template <typename T>
plexus::Result<T> wait(std::future<plexus::Result<T>> future, Millis timeout = Millis{5000}) {
  if (future.wait_for(timeout) != std::future_status::ready) {
    return plexus::make_error(plexus::StatusCode::deadline_exceeded, "the example gave up");
  }
  return future.get();
}

std::string describe(const plexus::Result<std::string>& r) {
  return r ? *r : r.error().to_string();
}

// What handlers did, reported from the I/O thread to run(), which waits for each event with a
// timeout instead of sleeping. Thread-safe.
class Events {
 public:
  void push(std::string event) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(event));
    }
    cv_.notify_all();
  }
  // Waits up to `timeout` for `wanted` and consumes it; false if it never came.
  bool wait_for(const std::string& wanted, Millis timeout = Millis{5000}) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      for (auto it = events_.begin(); it != events_.end(); ++it) {
        if (*it == wanted) {
          events_.erase(it);
          return true;
        }
      }
      return false;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> events_;
};

// ---- The server's handlers -------------------------------------------------------------------

// Synchronous and typed: a decoded request in, a reply or an error out. It runs on the I/O
// thread, so it must not block.
plexus::Result<AddReply> add(plexus::CallContext&, AddRequest req) {
  for (const auto& [field, value] : {std::pair{"a", req.a}, std::pair{"b", req.b}}) {
    if (std::abs(value) > kMaxOperand) {
      // A stable code for programs to branch on, a message for people, and details (a JSON
      // object) for programs that want to know more.
      return plexus::make_error(plexus::StatusCode::invalid_argument, "operand out of range",
                                json{{"field", field}, {"max", kMaxOperand}}.dump());
    }
  }
  return AddReply{req.a + req.b};
}

// Coroutine: co_awaits a call back into the client over the same connection (sessions are
// symmetric), then answers. A plain function rather than a capturing lambda: a lambda's
// captures live in the lambda object, not in the coroutine frame.
asio::awaitable<plexus::Result<std::string>> greet(plexus::CallContext& ctx, std::string payload) {
  plexus::Peer caller = ctx.peer();  // the client behind this call
  auto name = co_await caller.async_call("client.name", "", asio::use_awaitable);
  if (!name) co_return tl::unexpected(name.error());
  std::string greeting = payload + ", " + *name + "!";
  co_return greeting;
}

void register_server_handlers(plexus::Server& server, Events& events) {
  plexus::handle(server, kAdd, add);
  server.handle_coro("greet", greet);

  // Asynchronous: returns at once and answers later through the Responder, here from a timer
  // on the call's own executor (a strand: no locking needed against the session).
  server.handle_async("timer.sleep", [&events](plexus::CallContext& ctx, std::string_view payload,
                                               plexus::Responder responder) {
    auto args = plexus::codec::decode<SleepArgs>(payload);  // invalid_argument if it is not one
    if (!args) return responder.reply(tl::unexpected(args.error()));
    struct Sleep {
      asio::steady_timer timer;
      plexus::Responder responder;
    };
    auto sleep = std::make_shared<Sleep>(
        Sleep{asio::steady_timer(ctx.io_executor(), Millis{args->ms}), std::move(responder)});
    const int ms = args->ms;
    events.push("sleep started " + std::to_string(ms));
    // The caller gave up (deadline, cancel) or went away: stop the work; no answer is sent.
    ctx.on_cancel([sleep, &events] {
      sleep->timer.cancel();
      events.push("sleep cancelled");
    });
    sleep->timer.async_wait([sleep, ms](std::error_code ec) {
      if (ec) return;  // cancelled: the Responder is dropped unanswered, which is harmless now
      sleep->responder.reply(json{{"slept_ms", ms}}.dump());
    });
  });

  // Serves notifies: whatever it returns goes nowhere.
  server.handle(
      "audit.log",
      [&events](plexus::CallContext&, std::string_view payload) -> plexus::Result<std::string> {
        events.push("audit " + std::string(payload));
        return std::string();
      });
}

// ---- The co_await form -----------------------------------------------------------------------

struct CoResults {
  plexus::Result<std::string> greeting;
  plexus::Result<AddReply> sum;
};

// Runs on the I/O thread (co_spawn'ed on runtime.io()), so it never blocks: every call is
// co_awaited. g++ 12 caveat (include/plexus/caller.hpp): no temporary with a destructor inside
// a co_await expression — build CallOptions and payload strings in named locals first.
asio::awaitable<CoResults> greet_and_add(plexus::Client& client) {
  plexus::CallOptions options;
  options.timeout = Millis{2000};
  const std::string hello = "Hello";
  auto greeting = co_await client.async_call("greet", hello, options, asio::use_awaitable);

  // Typed, by hand: there is no typed async_call, so encode and decode around the raw one.
  const std::string request = plexus::codec::encode(AddRequest{20, 22});
  auto raw = co_await client.async_call(kAdd.name, request, options, asio::use_awaitable);
  plexus::Result<AddReply> sum = raw ? plexus::codec::decode<AddReply>(*raw)
                                     : plexus::Result<AddReply>(tl::unexpected(raw.error()));
  co_return CoResults{std::move(greeting), std::move(sum)};
}

// The whole tour; returns when everything has shut down.
void run(const std::string& address) {
  Events events;
  // The Runtime owns the I/O thread every handler and completion runs on. It must outlive the
  // server and the client, so it is declared first (and destroyed last).
  plexus::Runtime runtime;

  // ---- 1. Server --------------------------------------------------------------------------
  std::printf("1. server\n");
  plexus::ServerOptions server_options;
  server_options.listen = {address};
  server_options.name = "hello-server";
  auto created = plexus::Server::create(runtime, server_options);  // Result<unique_ptr<Server>>
  if (!created) return check(false, "server: " + created.error().to_string());
  plexus::Server& server = **created;
  register_server_handlers(server, events);
  if (auto started = server.start(); !started) {
    return check(false, "server: " + started.error().to_string());
  }
  check(true, "listening on " + server.addresses().front());

  // ---- 2. Client --------------------------------------------------------------------------
  std::printf("2. client\n");
  plexus::ClientOptions client_options;
  client_options.address = address;
  client_options.name = "hello-client";
  auto connected = plexus::Client::connect(runtime, client_options);  // blocks until WELCOME
  if (!connected) return check(false, "connect: " + connected.error().to_string());
  plexus::Client& client = **connected;
  check(client.state() == plexus::ConnectionState::connected, "connected as \"hello-client\"");
  // The client serves methods too: the server's "greet" calls this one back.
  client.handle("client.name",
                [](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                  return std::string("hello-client");
                });
  client.on_state_change([&events](plexus::ConnectionState state) {
    events.push("client " + std::string(plexus::to_string(state)));
  });

  // Blocking form (never on an I/O thread: there it fails with failed_precondition).
  auto sum = plexus::call(client, kAdd, AddRequest{2, 3});
  check(sum && sum->sum == 5,
        "blocking  calc.add(2, 3) = " + (sum ? std::to_string(sum->sum) : sum.error().to_string()));

  // Callback form: returns at once; the callback runs later on the I/O thread.
  std::promise<plexus::Result<std::string>> slept;
  client.call_async("timer.sleep", R"({"ms":50})", {},
                    [&slept](plexus::Result<std::string> r) { slept.set_value(std::move(r)); });
  const auto slept_result = wait(slept.get_future());
  check(slept_result && *slept_result == R"({"slept_ms":50})",
        "callback  timer.sleep(50 ms) -> " + describe(slept_result));

  // Callbacks run on this thread instead, many at a time: a CompletionQueue collects them.
  plexus::CompletionQueue completions;
  int sums = 0;
  for (int i = 0; i < 3; ++i) {
    client.call_async("calc.add", R"({"a":1,"b":2})", {},
                      completions.deliver([&sums](plexus::Result<std::string> reply) {
                        if (reply && *reply == R"({"sum":3})") ++sums;
                      }));
  }
  while (completions.outstanding() > 0 && completions.run_for(Millis{5000}) > 0) {
  }
  check(sums == 3, "queued    3 x calc.add(1, 2) ran on this thread: " + std::to_string(sums));

  // co_await form: a coroutine on the runtime's I/O thread; use_future hands its result back.
  auto co = asio::co_spawn(runtime.io(), greet_and_add(client), asio::use_future);
  if (co.wait_for(Millis{5000}) != std::future_status::ready) {
    check(false, "co_await  coroutine did not finish");
  } else {
    const CoResults r = co.get();
    check(r.greeting && *r.greeting == "Hello, hello-client!",
          "co_await  greet -> " + describe(r.greeting) + " (the server called client.name)");
    check(r.sum && r.sum->sum == 42,
          "co_await  calc.add(20, 22) = " +
              (r.sum ? std::to_string(r.sum->sum) : r.sum.error().to_string()));
  }

  // A deadline: the caller stops waiting after 100 ms and the server's handler is told.
  plexus::CallOptions hurry;
  hurry.timeout = Millis{100};
  auto late = client.call("timer.sleep", R"({"ms":10000})", hurry);
  check(!late && late.error().code == plexus::StatusCode::deadline_exceeded,
        "deadline  timer.sleep(10 s) with a 100 ms timeout -> " + describe(late));
  check(events.wait_for("sleep cancelled"), "deadline  the server's handler saw the cancel");

  // An error: a stable code, a message for people, details for programs.
  auto bad = plexus::call(client, kAdd, AddRequest{2'000'000, 1});
  const bool bad_ok = !bad && bad.error().code == plexus::StatusCode::invalid_argument &&
                      json::parse(bad.error().details, nullptr, false).value("field", "") == "a";
  check(bad_ok, "error     calc.add(2000000, 1) -> " +
                    (bad ? std::string("a sum?") : bad.error().to_string()));

  // A notify: one way, no answer; the server's handler reports that it ran.
  auto sent = client.notify("audit.log", R"({"user":"ada"})");
  check(sent.has_value() && events.wait_for(R"(audit {"user":"ada"})"),
        "notify    audit.log reached the server");

  // ---- 3. Graceful shutdown -------------------------------------------------------------
  std::printf("3. shutdown\n");
  std::promise<plexus::Result<std::string>> last;
  client.call_async("timer.sleep", R"({"ms":200})", {},
                    [&last](plexus::Result<std::string> r) { last.set_value(std::move(r)); });
  const bool in_flight = events.wait_for("sleep started 200");
  // Stop accepting, GOAWAY to every client, let in-flight calls finish (up to 2 s), close.
  server.shutdown(Millis{2000});
  const auto last_result = wait(last.get_future());
  check(in_flight && last_result && *last_result == R"({"slept_ms":200})",
        "drain     the call in flight during shutdown completed: " + describe(last_result));
  // The client noticed and would reconnect (with backoff) if a server came back.
  check(events.wait_for("client reconnecting"), "client    lost the server, now reconnecting");
  client.close();  // stops reconnecting; idempotent (the destructor does it too)
  check(client.state() == plexus::ConnectionState::closed, "client    closed");
}  // the client, the server, then the runtime (joining its I/O thread) are destroyed here

}  // namespace

int main() {
  // The library logs to stderr at info level unless PLEXUS_LOG says otherwise; the example is
  // easier to read without that (PLEXUS_LOG=info shows the sessions come and go).
  setenv("PLEXUS_LOG", "warn", /*overwrite=*/0);

  // A private directory for the socket file (the server removes the socket when it stops).
  char dir[] = "/tmp/hello_plexus.XXXXXX";
  if (!mkdtemp(dir)) {
    std::perror("mkdtemp");
    return 1;
  }
  run("unix://" + std::string(dir) + "/hello.sock");
  std::filesystem::remove_all(dir);

  if (failures > 0) {
    std::printf("%d step(s) did not behave as expected\n", failures);
    return 1;
  }
  std::printf("all steps behaved as expected\n");
  return 0;
}

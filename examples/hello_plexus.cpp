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
// Run it: build/examples/hello_plexus   (PLEXUS_LOG=info shows the library's own log.)
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

std::string describe(const plexus::Result<std::string>& r) {
  return r ? "\"" + *r + "\"" : r.error().to_string();
}

// Things that happen on the I/O thread (inside handlers), reported to main() which waits for
// them with a timeout instead of sleeping. Thread-safe.
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

void register_server_handlers(plexus::Server& server, Events& events) {
  // Synchronous and typed: decoded request in, reply or error out. Runs on the I/O thread, so
  // it must not block.
  plexus::handle(server, kAdd,
                 [](plexus::CallContext&, AddRequest req) -> plexus::Result<AddReply> {
                   if (std::abs(req.a) > kMaxOperand || std::abs(req.b) > kMaxOperand) {
                     // A code for programs to branch on, a message for people, details (JSON)
                     // for programs that want to say more.
                     const bool a_bad = std::abs(req.a) > kMaxOperand;
                     return plexus::make_error(
                         plexus::StatusCode::invalid_argument, "operand out of range",
                         json{{"field", a_bad ? "a" : "b"}, {"max", kMaxOperand}}.dump());
                   }
                   return AddReply{req.a + req.b};
                 });

  // Asynchronous: returns at once and answers later through the Responder, here from a timer
  // on the call's own executor (no locking needed against the session).
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
    // The caller gave up (deadline, cancel) or left: stop the work; the answer goes nowhere.
    ctx.on_cancel([sleep, &events] {
      sleep->timer.cancel();
      events.push("sleep cancelled");
    });
    sleep->timer.async_wait([sleep, ms](std::error_code ec) {
      if (ec) return;  // cancelled; dropping the Responder now is harmless
      sleep->responder.reply(json{{"slept_ms", ms}}.dump());
    });
  });

  // Coroutine: co_awaits a call back into the client over the same connection, then answers.
  // No captures: a coroutine lambda's captures live in the lambda, not in the coroutine frame.
  server.handle_coro("greet",
                     [](plexus::CallContext& ctx,
                        std::string payload) -> asio::awaitable<plexus::Result<std::string>> {
                       plexus::Peer caller = ctx.peer();  // the client behind this call
                       auto name =
                           co_await caller.async_call("client.name", "", asio::use_awaitable);
                       if (!name) co_return tl::unexpected(name.error());
                       std::string greeting = payload + ", " + *name + "!";
                       co_return greeting;
                     });

  // A handler that serves notifies: its answer, if any, goes nowhere.
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
  const plexus::CallOptions options{.timeout = Millis{2000}};
  const std::string hello = "Hello";
  auto greeting = co_await client.async_call("greet", hello, options, asio::use_awaitable);

  // Typed, by hand: there is no typed async_call, so encode and decode around the raw one.
  const std::string request = plexus::codec::encode(AddRequest{20, 22});
  auto raw = co_await client.async_call(kAdd.name, request, options, asio::use_awaitable);
  plexus::Result<AddReply> sum = raw ? plexus::codec::decode<AddReply>(*raw)
                                     : plexus::Result<AddReply>(tl::unexpected(raw.error()));
  co_return CoResults{std::move(greeting), std::move(sum)};
}

}  // namespace

int main() {
  // The library logs to stderr at info level unless PLEXUS_LOG says otherwise; an example is
  // easier to read without that (set PLEXUS_LOG=info to see the sessions come and go).
  setenv("PLEXUS_LOG", "warn", /*overwrite=*/0);

  // A private directory for the socket file, removed at the end.
  char dir_template[] = "/tmp/hello_plexus.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (!dir) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string address = "unix://" + std::string(dir) + "/hello.sock";

  Events events;
  {
    // The Runtime owns the I/O thread every handler and completion runs on. It must outlive
    // the server and the client, so it is declared first.
    plexus::Runtime runtime;

    // ---- 1. Server ------------------------------------------------------------------------
    std::printf("1. server\n");
    plexus::ServerOptions server_options;
    server_options.listen = {address};
    server_options.name = "hello-server";
    auto server = plexus::Server::create(runtime, server_options);
    if (!server) {
      std::fprintf(stderr, "server: %s\n", server.error().to_string().c_str());
      return 1;
    }
    register_server_handlers(**server, events);
    auto started = (*server)->start();
    check(started.has_value(),
          "listening on " + (started ? (*server)->addresses().front() : started.error().message));
    if (!started) return 1;

    // ---- 2. Client ------------------------------------------------------------------------
    std::printf("2. client\n");
    plexus::ClientOptions client_options;
    client_options.address = address;
    client_options.name = "hello-client";
    auto connected = plexus::Client::connect(runtime, client_options);
    if (!connected) {
      std::fprintf(stderr, "connect: %s\n", connected.error().to_string().c_str());
      return 1;
    }
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
    check(sum && sum->sum == 5, "blocking  calc.add(2, 3) = " +
                                    (sum ? std::to_string(sum->sum) : sum.error().to_string()));

    // Callback form: returns at once; the callback runs later on the I/O thread.
    std::promise<plexus::Result<std::string>> slept;
    client.call_async("timer.sleep", R"({"ms":50})", {},
                      [&slept](plexus::Result<std::string> r) { slept.set_value(std::move(r)); });
    auto slept_future = slept.get_future();
    const bool slept_in_time = slept_future.wait_for(Millis{5000}) == std::future_status::ready;
    const auto slept_result =
        slept_in_time ? slept_future.get() : plexus::make_error(plexus::StatusCode::unknown, "");
    check(slept_in_time && slept_result && *slept_result == R"({"slept_ms":50})",
          "callback  timer.sleep(50 ms) -> " + describe(slept_result));

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
    const plexus::CallOptions hurry{.timeout = Millis{100}};
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
    (*server)->shutdown(Millis{2000});
    auto last_future = last.get_future();
    const bool drained =
        in_flight && last_future.wait_for(Millis{5000}) == std::future_status::ready;
    const auto last_result =
        drained ? last_future.get() : plexus::make_error(plexus::StatusCode::unknown, "");
    check(drained && last_result && *last_result == R"({"slept_ms":200})",
          "drain     the call in flight during shutdown completed: " + describe(last_result));
    // The client noticed and would reconnect (with backoff) if a server came back.
    check(events.wait_for("client reconnecting"), "client    lost the server, now reconnecting");
    client.close();  // stops reconnecting; idempotent (the destructor does it too)
    check(client.state() == plexus::ConnectionState::closed, "client    closed");
  }  // the client, the server, then the runtime (its I/O thread joins) are destroyed here

  std::filesystem::remove_all(dir);
  std::printf("%s\n", failures == 0 ? "all steps behaved as expected"
                                    : (std::to_string(failures) + " step(s) failed").c_str());
  return failures == 0 ? 0 : 1;
}

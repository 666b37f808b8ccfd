// Sessions joined by in-process loopback pairs (transport/loopback/), all on one io_context that
// the test's own thread runs: the layers above the session (the pub/sub router, streams, the
// policy chain) meet a real session and a real transport without child processes or sockets.
// Used by loopback_session_test, pubsub_router_test, stream_core_test and policy/chain_test.
#pragma once

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "rpc/handler_table.hpp"
#include "rpc/session.hpp"
#include "transport/loopback/loopback_connection.hpp"

namespace plexus::rpc::test_support {

using namespace std::chrono_literals;

// One side of a link: its connection, the methods it serves, its session and what the session
// reported through its callbacks.
struct SessionEnd {
  std::shared_ptr<transport::LoopbackConnection> connection;
  std::shared_ptr<HandlerTable> handlers = std::make_shared<HandlerTable>();
  std::shared_ptr<Session> session;
  std::optional<Result<void>> ready;
  std::optional<Error> closed;

  void serve(const std::string& method, HandlerEntry entry) {
    handlers->set(method, std::move(entry));
  }
};

// A dialer ("client") and an acceptor ("server") over one loopback pair.
struct SessionLink {
  SessionEnd client;
  SessionEnd server;
};

class LoopbackSessions {
 public:
  // Joins `link`'s two ends and starts both sessions; the handshake runs when the io_context
  // does. `extra` callbacks run beside the ones that fill SessionEnd::ready and ::closed.
  // `link` must outlive this object's close_all().
  void start(SessionLink& link, SessionOptions client = {}, SessionOptions server = {},
             SessionCallbacks client_extra = {}, SessionCallbacks server_extra = {}) {
    auto [a, b] = transport::LoopbackConnection::make_pair(io.get_executor());
    link.client.connection = a;
    link.server.connection = b;
    client.role = SessionOptions::Role::dialer;
    if (client.local_name.empty()) client.local_name = "client";
    server.role = SessionOptions::Role::acceptor;
    if (server.local_name.empty()) server.local_name = "server";
    link.client.session =
        Session::create(a, link.client.handlers, client, recording(link.client, client_extra));
    link.server.session =
        Session::create(b, link.server.handlers, server, recording(link.server, server_extra));
    ends_.push_back(&link.client);
    ends_.push_back(&link.server);
    link.client.session->start();
    link.server.session->start();
  }

  // start(), then the handshake to its end on both sides.
  ::testing::AssertionResult connect(SessionLink& link, SessionOptions client = {},
                                     SessionOptions server = {}, SessionCallbacks client_extra = {},
                                     SessionCallbacks server_extra = {}) {
    start(link, std::move(client), std::move(server), std::move(client_extra),
          std::move(server_extra));
    if (!run_until([&] { return link.client.ready && link.server.ready; })) {
      return ::testing::AssertionFailure() << "the handshake never finished";
    }
    if (!*link.client.ready) {
      return ::testing::AssertionFailure() << "client: " << link.client.ready->error().to_string();
    }
    if (!*link.server.ready) {
      return ::testing::AssertionFailure() << "server: " << link.server.ready->error().to_string();
    }
    return ::testing::AssertionSuccess();
  }

  // A link owned by this object (for tests that need several).
  SessionLink& add() { return *owned_.emplace_back(std::make_unique<SessionLink>()); }

  // Runs handlers until `done()` holds; false after `limit` of real time (a hang).
  template <typename Done>
  bool run_until(Done&& done, std::chrono::milliseconds limit = 5s) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() >= until) return false;
      io.restart();
      io.run_one_for(5ms);
    }
    return true;
  }

  // Runs every handler that is ready, and those they make ready, until none is: what can happen
  // without a timer firing has happened (for checks that something did not).
  void settle() {
    do {
      io.restart();
    } while (io.poll() > 0);
  }

  // A session and its connection hold each other until the close: closes every session still
  // open and runs until each reported it, so that nothing is left (LeakSanitizer checks).
  bool close_all() {
    for (SessionEnd* end : ends_) {
      if (end->session && !end->closed) {
        end->session->close(Error{StatusCode::cancelled, "test over", ""}, /*flush=*/false);
      }
    }
    const bool all = run_until([&] {
      for (SessionEnd* end : ends_) {
        if (end->session && !end->closed) return false;
      }
      return true;
    });
    io.restart();
    io.poll();
    return all;
  }

  asio::io_context io;

 private:
  // After `io`: the sessions (and their timers) go before the io_context they use.
  std::vector<std::unique_ptr<SessionLink>> owned_;

  static SessionCallbacks recording(SessionEnd& end, SessionCallbacks cb) {
    cb.on_ready = [&end, next = std::move(cb.on_ready)](Session& s, Result<void> r) {
      end.ready = r;
      if (next) next(s, std::move(r));
    };
    cb.on_closed = [&end, next = std::move(cb.on_closed)](Session& s, const Error& e) {
      end.closed = e;
      if (next) next(s, e);
    };
    return cb;
  }

  std::vector<SessionEnd*> ends_;
};

}  // namespace plexus::rpc::test_support

// A durable-queue sender or consumer run as a real child process by the queue tests
// (tests/integration/queue_process_test.cpp), written as an application would write one with
// the public API. It reports on stdout, one line per event, each written with one write(2) so
// that a line the parent reads was complete when the process died:
//   consume: "READY", then "H <id> <payload>" per handled message; with --block-at N, the Nth
//            delivery prints "BLOCKED <id>" instead and its handler never returns.
//   send:    "S <id>" once each send returned (the message is stored), then "DONE"; --threads
//            senders at once, each blocking in QueueClient::send.
//   spool-serve: a Server listening on a spool directory (dir://…): "READY", then
//            "H <message id> <payload>" per message of type "task"; --block-at as for consume.
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "plexus/plexus.hpp"

namespace {

void say(const std::string& line) {
  const std::string l = line + "\n";
  (void)::write(STDOUT_FILENO, l.data(), l.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"plexus durable-queue test peer"};
  app.require_subcommand(1);
  std::string address;
  std::string queue;
  std::string state_dir;
  std::uint64_t block_at = 0;
  std::uint32_t prefetch = 16;
  std::uint64_t count = 0;
  std::string prefix = "m";
  auto* consume = app.add_subcommand("consume");
  consume->add_option("--address", address)->required();
  consume->add_option("--queue", queue)->required();
  consume->add_option("--state-dir", state_dir);
  consume->add_option("--block-at", block_at);
  consume->add_option("--prefetch", prefetch);
  auto* send = app.add_subcommand("send");
  send->add_option("--address", address)->required();
  send->add_option("--queue", queue)->required();
  send->add_option("--count", count)->required();
  send->add_option("--prefix", prefix);
  unsigned threads = 8;
  send->add_option("--threads", threads, "senders at once, each blocking in send()");
  auto* spool_serve = app.add_subcommand("spool-serve");
  spool_serve->add_option("--address", address)->required();
  spool_serve->add_option("--block-at", block_at);
  CLI11_PARSE(app, argc, argv);
  // Die with the test that spawned us, even when it is killed mid-test.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);

  if (spool_serve->parsed()) {
    plexus::Runtime runtime;
    plexus::ServerOptions so;
    so.listen = {address};
    auto server = plexus::Server::create(runtime, so);
    if (!server) {
      say("ERROR " + server.error().to_string());
      return 1;
    }
    std::uint64_t seen = 0;  // the directory hands messages over one at a time
    (*server)->handle(
        "task",
        [&](plexus::CallContext& ctx, std::string_view payload) -> plexus::Result<std::string> {
          const std::string id(ctx.message_id());
          if (block_at != 0 && ++seen == block_at) {
            say("BLOCKED " + id);
            for (;;) ::pause();
          }
          say("H " + id + " " + std::string(payload));
          return std::string();
        });
    if (auto ok = (*server)->start(); !ok) {
      say("ERROR " + ok.error().to_string());
      return 1;
    }
    say("READY");
    for (;;) ::pause();  // until killed
  }

  plexus::Runtime runtime;
  plexus::ClientOptions co;
  co.address = address;
  co.name = "queue-peer";
  co.reconnect.initial_delay = plexus::Millis{20};
  co.reconnect.max_delay = plexus::Millis{200};
  co.wait_for_server = plexus::Millis{10000};
  auto client = plexus::Client::connect(runtime, co);
  if (!client) {
    say("ERROR " + client.error().to_string());
    return 1;
  }
  if (consume->parsed()) {
    plexus::ConsumerOptions o;
    o.queue = queue;
    o.prefetch = prefetch;
    o.state_dir = state_dir;
    auto consumer = plexus::Consumer::create(**client, o);
    if (!consumer) {
      say("ERROR " + consumer.error().to_string());
      return 1;
    }
    std::atomic<std::uint64_t> seen{0};
    (*consumer)->on_any([&](const plexus::Delivery& d) -> plexus::Result<void> {
      if (block_at != 0 && seen.fetch_add(1) + 1 == block_at) {
        say("BLOCKED " + d.id);
        for (;;) ::pause();
      }
      say("H " + d.id + " " + d.payload);
      return {};
    });
    if (auto ok = (*consumer)->start(); !ok) {
      say("ERROR " + ok.error().to_string());
      return 1;
    }
    say("READY");
    for (;;) ::pause();  // until killed
  }
  plexus::QueueSendOptions so;
  so.timeout = plexus::Millis{5000};
  so.retries = 100;
  so.retry_delay = plexus::Millis{100};
  plexus::QueueClient queues(**client, so);
  // Several senders at once, as a busy application has: their sends share group commits.
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::vector<std::thread> senders;
  for (unsigned t = 0; t < threads; ++t) {
    senders.emplace_back([&] {
      for (std::uint64_t i = next++; i < count && !failed; i = next++) {
        plexus::NewMessage m;
        m.queue = queue;
        m.payload = prefix + "-" + std::to_string(i);
        auto r = queues.send(std::move(m));
        if (!r) {
          say("ERROR " + r.error().to_string());
          failed = true;
          return;
        }
        say("S " + r->id);
      }
    });
  }
  for (auto& t : senders) t.join();
  if (failed) return 1;
  say("DONE");
  return 0;
}

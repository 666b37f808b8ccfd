// durable_queue: acknowledged messages and durable queues in one program. A server that keeps
// queues in a fresh temporary directory, and a client in the same process:
//
//   1. send_acked: a one-way message the server's handler acknowledges; a resend with the same
//      id is acknowledged without running the handler again;
//   2. QueueClient::send stores messages (on disk before it returns); a Consumer handles them
//      by type; a message whose handler keeps failing ends in the dead letters with its status;
//   3. the dead letter is replayed once the handler is fixed, and handled.
//
// Every step checks what happened; the exit status is 0 only if all of them behaved.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <unistd.h>

#include <plexus/plexus.hpp>

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what);
  if (!ok) ++failures;
}

// Counts handled messages and lets the main thread wait for a number of them.
class Tally {
 public:
  void add() {
    std::lock_guard lock(mu_);
    ++n_;
    cv_.notify_all();
  }
  bool wait_for(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(20), [&] { return n_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

}  // namespace

int main() {
  const auto dir =
      std::filesystem::temp_directory_path() / ("plexus-durable-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  plexus::Runtime runtime;

  plexus::ServerOptions options;
  options.listen = {"unix://" + (dir / "queue.sock").string()};
  options.durable.data_dir = (dir / "data").string();
  options.durable.queue_defaults.max_retries = 1;  // one retry, then a dead letter
  options.durable.queue_defaults.retry_delay = plexus::Millis{50};
  auto server = plexus::Server::create(runtime, options).value();
  std::atomic<int> audits{0};
  server->handle("audit.log",
                 [&](plexus::CallContext&, std::string_view) -> plexus::Result<std::string> {
                   audits.fetch_add(1);
                   return std::string();
                 });
  check(server->start().has_value(), "the server listens");

  plexus::ClientOptions client_options;
  client_options.address = options.listen.front();
  auto client = plexus::Client::connect(runtime, client_options).value();

  // 1. An acknowledged message, sent twice with the same id: handled once.
  plexus::AckOptions ack;
  ack.message_id = "audit-1";
  ack.dead_letters = std::make_shared<plexus::DeadLetterBox>();
  check(plexus::send_acked(*client, "audit.log", "user 7 logged in", ack).has_value(),
        "send_acked is acknowledged");
  check(plexus::send_acked(*client, "audit.log", "user 7 logged in", ack).has_value(),
        "a resend is acknowledged too");
  check(audits.load() == 1, "the handler ran once");

  // 2. Durable queue: three tasks and one message whose handler fails.
  plexus::QueueClient queues(*client);
  for (int i = 0; i < 3; ++i) {
    plexus::NewMessage task;
    task.queue = "jobs";
    task.type = "task";
    task.payload = "resize image " + std::to_string(i);
    check(queues.send(task).has_value(), "a task is stored");
  }
  plexus::NewMessage invoice;
  invoice.queue = "jobs";
  invoice.type = "invoice";
  invoice.payload = "invoice 42";
  const auto stored = queues.send(invoice);
  check(stored.has_value(), "the invoice is stored");

  plexus::ConsumerOptions consumer_options;
  consumer_options.queue = "jobs";
  consumer_options.state_dir = (dir / "consumer").string();
  auto consumer = plexus::Consumer::create(*client, consumer_options).value();
  Tally tasks;
  Tally invoices;
  std::atomic<bool> printer_fixed{false};
  consumer->on("task", [&](const plexus::Delivery&) -> plexus::Result<void> {
    tasks.add();
    return {};
  });
  consumer->on("invoice", [&](const plexus::Delivery&) -> plexus::Result<void> {
    if (!printer_fixed)
      return plexus::make_error(plexus::StatusCode::unavailable, "printer offline");
    invoices.add();
    return {};
  });
  check(consumer->start().has_value(), "the consumer is registered");
  check(tasks.wait_for(3), "every task is handled");

  // 3. The invoice failed twice and is a dead letter; fix the printer and replay it.
  std::optional<plexus::DeadLetter> dead;
  for (int i = 0; i < 200 && !dead; ++i) {
    if (auto list = queues.dead_letters("jobs"); list && !list->empty()) dead = list->front();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  check(dead && dead->message.id == stored->id, "the invoice is a dead letter");
  check(dead && dead->status == plexus::StatusCode::unavailable && dead->error == "printer offline",
        "with its handler's status and message");
  printer_fixed = true;
  check(queues.replay(stored->id).has_value(), "the dead letter is replayed");
  check(invoices.wait_for(1), "and handled");

  consumer->stop();
  client->close();
  server->shutdown(plexus::Millis{1000});
  std::filesystem::remove_all(dir);
  std::printf("%s\n", failures == 0 ? "durable_queue: all steps behaved" : "durable_queue: FAILED");
  return failures == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

// `plexus queue send|stats` and `plexus dlq list|show|replay|purge`: a server's durable queues
// and their dead letters (plexus serve --data-dir), through plexus::QueueClient.
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct Target {
  std::string address = "default";
  int connect_timeout_ms = 3000;
  bool json = false;
};

// Connects to the server and runs `work` with a QueueClient on it.
int with_queue_client(const Target& t, const std::function<int(QueueClient&)>& work,
                      QueueSendOptions options = {}) {
  Runtime runtime;
  auto client = connect_client(runtime, t.address, t.connect_timeout_ms, "plexus-cli");
  if (!client) return fail(client.error());
  QueueClient queues(**client, options);
  return work(queues);
}

std::int64_t epoch_ms(DurableTime t) {
  return t.time_since_epoch().count();
}

std::string clip(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : s.substr(0, n - 1) + "~";
}

nlohmann::json dead_letter_json(const DeadLetter& d) {
  const auto& m = d.message;
  auto history = nlohmann::json::array();
  for (const auto& e : m.history) {
    history.push_back({{"at_ms", epoch_ms(e.at)},
                       {"reason", e.reason},
                       {"status", std::string(to_string(e.status))},
                       {"message", e.message}});
  }
  return {{"id", m.id},
          {"queue", m.queue},
          {"type", m.type},
          {"group", m.group},
          {"priority", m.priority},
          {"attempts", m.attempts},
          {"reason", std::string(to_string(d.reason))},
          {"status", std::string(to_string(d.status))},
          {"error", d.error},
          {"enqueued_at_ms", epoch_ms(m.enqueued_at)},
          {"dead_at_ms", epoch_ms(d.dead_at)},
          {"age_ms", d.age.count()},
          {"history", std::move(history)},
          {"payload", m.payload}};
}

std::string dump(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

void print_dead_letter_table(const std::vector<DeadLetter>& list) {
  std::printf("%-36s %-20s %-10s %8s %-14s %-18s %10s  %s\n", "id", "queue", "type", "attempts",
              "reason", "status", "age", "error");
  for (const auto& d : list) {
    std::printf("%-36s %-20s %-10s %8u %-14s %-18s %10s  %s\n", d.message.id.c_str(),
                clip(d.message.queue, 20).c_str(), clip(d.message.type, 10).c_str(),
                d.message.attempts, std::string(to_string(d.reason)).c_str(),
                std::string(to_string(d.status)).c_str(), age_text(d.age).c_str(),
                clip(d.error, 60).c_str());
  }
}

void print_dead_letter(const DeadLetter& d) {
  const auto& m = d.message;
  std::printf("id:        %s\n", m.id.c_str());
  std::printf("queue:     %s\n", m.queue.c_str());
  std::printf("type:      %s\n", m.type.c_str());
  std::printf("group:     %s\n", m.group.empty() ? "-" : m.group.c_str());
  std::printf("priority:  %d\n", m.priority);
  std::printf("attempts:  %u\n", m.attempts);
  std::printf("reason:    %s (%s)\n", std::string(to_string(d.reason)).c_str(),
              std::string(to_string(d.status)).c_str());
  std::printf("error:     %s\n", d.error.c_str());
  std::printf("dead for:  %s\n", age_text(d.age).c_str());
  std::printf("history:\n");
  for (const auto& e : m.history) {
    std::printf("  %lld  %-16s %-18s %s\n", static_cast<long long>(epoch_ms(e.at)),
                e.reason.c_str(), std::string(to_string(e.status)).c_str(), e.message.c_str());
  }
  std::printf("payload (%zu bytes):\n%s\n", m.payload.size(), m.payload.c_str());
}

// ---- plexus dlq ----

struct DlqArgs {
  Target target;
  std::string queue;
  std::string id;
  std::size_t limit = 100;
  bool yes = false;
  bool all = false;
};

int dlq_list(const DlqArgs& a) {
  return with_queue_client(a.target, [&](QueueClient& q) {
    auto list = q.dead_letters(a.queue, a.limit);
    if (!list) return fail(list.error());
    if (a.target.json) {
      auto rows = nlohmann::json::array();
      for (const auto& d : *list) rows.push_back(dead_letter_json(d));
      std::printf("%s\n", dump(rows).c_str());
    } else if (list->empty()) {
      std::printf("no dead letters%s%s\n", a.queue.empty() ? "" : " in queue ", a.queue.c_str());
    } else {
      print_dead_letter_table(*list);
    }
    return 0;
  });
}

int dlq_show(const DlqArgs& a) {
  return with_queue_client(a.target, [&](QueueClient& q) {
    std::vector<DeadLetter> shown;
    if (!a.id.empty()) {
      auto d = q.dead_letter(a.id);
      if (!d) return fail(d.error());
      shown.push_back(std::move(*d));
    } else {
      auto list = q.dead_letters(a.queue, a.limit);
      if (!list) return fail(list.error());
      shown = std::move(*list);
    }
    if (a.target.json) {
      if (!a.id.empty()) {
        std::printf("%s\n", dump(dead_letter_json(shown.front()), 2).c_str());
      } else {
        auto rows = nlohmann::json::array();
        for (const auto& d : shown) rows.push_back(dead_letter_json(d));
        std::printf("%s\n", dump(rows, 2).c_str());
      }
      return 0;
    }
    for (std::size_t i = 0; i < shown.size(); ++i) {
      if (i > 0) std::printf("\n");
      print_dead_letter(shown[i]);
    }
    if (shown.empty()) std::printf("no dead letters\n");
    return 0;
  });
}

int dlq_replay(const DlqArgs& a) {
  return with_queue_client(a.target, [&](QueueClient& q) {
    std::vector<std::string> ids;
    if (!a.id.empty()) {
      ids.push_back(a.id);
    } else {
      // The dead letters there are now: one pass, so that a message that fails again and
      // returns to the dead letters is not replayed in a loop.
      auto list = q.dead_letters(a.queue, a.limit);
      if (!list) return fail(list.error());
      for (const auto& d : *list) ids.push_back(d.message.id);
    }
    std::size_t replayed = 0;
    for (const auto& id : ids) {
      if (auto ok = q.replay(id); !ok) {
        if (!a.target.json) std::printf("replayed %zu\n", replayed);
        return fail(ok.error());
      }
      ++replayed;
      if (!a.target.json && !a.id.empty()) std::printf("replayed %s\n", id.c_str());
    }
    if (a.target.json) {
      std::printf("%s\n", dump({{"replayed", replayed}}).c_str());
    } else if (a.id.empty()) {
      std::printf("replayed %zu dead letter(s)\n", replayed);
    }
    return 0;
  });
}

int dlq_purge(const DlqArgs& a) {
  if (a.id.empty()) {
    if (a.queue.empty() && !a.all) {
      return fail(Error{StatusCode::invalid_argument,
                        "plexus dlq purge: name a QUEUE, --id ID, or --all for every queue",
                        {}});
    }
    if (!a.yes) {
      return fail(Error{StatusCode::failed_precondition,
                        "plexus dlq purge deletes every dead letter of " +
                            (a.queue.empty() ? std::string("every queue") : "queue " + a.queue) +
                            " for good: add --yes to confirm",
                        {}});
    }
  }
  return with_queue_client(a.target, [&](QueueClient& q) {
    std::size_t purged = 0;
    if (!a.id.empty()) {
      if (auto ok = q.purge(a.id); !ok) return fail(ok.error());
      purged = 1;
    } else {
      auto n = q.purge_queue(a.queue);
      if (!n) return fail(n.error());
      purged = *n;
    }
    if (a.target.json) {
      std::printf("%s\n", dump({{"purged", purged}}).c_str());
    } else {
      std::printf("purged %zu dead letter(s)\n", purged);
    }
    return 0;
  });
}

// ---- plexus queue ----

struct SendArgs {
  Target target;
  std::string queue;
  std::string type = "task";
  std::string group;
  std::int32_t priority = 0;
  std::int64_t delay_ms = 0;
  std::string id;
  std::optional<std::string> payload;
  int timeout_ms = 30000;
};

int queue_send(const SendArgs& a) {
  QueueSendOptions options;
  options.timeout = Millis{a.timeout_ms};
  return with_queue_client(
      a.target,
      [&](QueueClient& q) {
        auto send_one = [&](std::string payload, std::string id) -> int {
          NewMessage m;
          m.queue = a.queue;
          m.type = a.type;
          m.group = a.group;
          m.priority = a.priority;
          m.delay = std::chrono::milliseconds(a.delay_ms);
          m.payload = std::move(payload);
          m.id = std::move(id);
          auto sent = q.send(std::move(m));
          if (!sent) return fail(sent.error());
          if (a.target.json) {
            std::printf("%s\n", dump({{"id", sent->id}, {"duplicate", sent->duplicate}}).c_str());
          } else {
            std::printf("%s%s\n", sent->id.c_str(), sent->duplicate ? " (duplicate)" : "");
          }
          std::fflush(stdout);
          return 0;
        };
        if (a.payload) return send_one(*a.payload, a.id);
        // One message per line of standard input (each with an id of its own).
        std::string line;
        while (std::getline(std::cin, line)) {
          if (const int rc = send_one(line, {}); rc != 0) return rc;
        }
        return 0;
      },
      options);
}

int queue_stats(const Target& t) {
  return with_queue_client(t, [&](QueueClient& q) {
    auto stats = q.stats();
    if (!stats) return fail(stats.error());
    const auto& c = stats->counters;
    if (t.json) {
      auto queues = nlohmann::json::array();
      for (const auto& s : stats->queues) {
        queues.push_back({{"queue", s.queue},
                          {"ready", s.ready},
                          {"delayed", s.delayed},
                          {"in_flight", s.in_flight},
                          {"bytes", s.bytes},
                          {"oldest_ready_age_ms", s.oldest_ready_age.count()},
                          {"dead_letters", s.dead_letters},
                          {"oldest_dead_letter_age_ms", s.oldest_dead_letter_age.count()}});
      }
      std::printf("%s\n", dump({{"queues", std::move(queues)},
                                {"counters",
                                 {{"sent", c.sent},
                                  {"acked", c.acked},
                                  {"retried", c.retried},
                                  {"dead_lettered", c.dead_lettered},
                                  {"redelivered", c.redelivered},
                                  {"duplicates_dropped", c.duplicates_dropped},
                                  {"commits", c.commits}}}})
                              .c_str());
      return 0;
    }
    if (stats->queues.empty()) {
      std::printf("no queues hold messages or dead letters\n");
    } else {
      std::printf("%-24s %8s %8s %9s %10s %12s %6s %12s\n", "queue", "ready", "delayed",
                  "in flight", "bytes", "oldest ready", "dead", "oldest dead");
      for (const auto& s : stats->queues) {
        std::printf(
            "%-24s %8llu %8llu %9llu %10llu %12s %6llu %12s\n", s.queue.c_str(),
            static_cast<unsigned long long>(s.ready), static_cast<unsigned long long>(s.delayed),
            static_cast<unsigned long long>(s.in_flight), static_cast<unsigned long long>(s.bytes),
            s.ready ? age_text(s.oldest_ready_age).c_str() : "-",
            static_cast<unsigned long long>(s.dead_letters),
            s.dead_letters ? age_text(s.oldest_dead_letter_age).c_str() : "-");
      }
    }
    std::printf(
        "since start: %llu sent, %llu acknowledged, %llu retried, %llu dead-lettered, %llu "
        "redelivered, %llu duplicates dropped, %llu commits\n",
        static_cast<unsigned long long>(c.sent), static_cast<unsigned long long>(c.acked),
        static_cast<unsigned long long>(c.retried),
        static_cast<unsigned long long>(c.dead_lettered),
        static_cast<unsigned long long>(c.redelivered),
        static_cast<unsigned long long>(c.duplicates_dropped),
        static_cast<unsigned long long>(c.commits));
    return 0;
  });
}

void add_target(CLI::App* cmd, Target& t) {
  cmd->add_option("address", t.address, "Server address, or 'default'")->required();
  cmd->add_flag("--json", t.json, "Print JSON (for scripts)");
  cmd->add_option("--connect-timeout-ms", t.connect_timeout_ms, "Connect timeout in ms")
      ->capture_default_str();
}

}  // namespace

Run add_dlq(CLI::App& app) {
  auto* dlq = app.add_subcommand(
      "dlq",
      "Dead letters of a server's durable queues (plexus serve --data-dir): messages that ran "
      "out of retries, kept with their history until replayed or purged");
  dlq->require_subcommand(1);
  auto args = std::make_shared<DlqArgs>();
  auto* list = dlq->add_subcommand("list", "List dead letters, oldest first");
  auto* show = dlq->add_subcommand(
      "show", "Show dead letters in full (history and payload): one with --id, else a queue's");
  auto* replay = dlq->add_subcommand(
      "replay",
      "Put dead letters back on their queue (history kept, attempts reset): one with --id, else "
      "those of QUEUE (of every queue when none is named) as they are now");
  auto* purge = dlq->add_subcommand(
      "purge",
      "Delete dead letters for good: one with --id, else every one of QUEUE (or of every queue "
      "with --all), which needs --yes");
  for (auto* cmd : {list, show, replay, purge}) {
    add_target(cmd, args->target);
    cmd->add_option("queue", args->queue, "The queue (default: every queue)");
  }
  for (auto* cmd : {show, replay, purge}) {
    cmd->add_option("--id", args->id, "One dead letter, by its message id");
  }
  for (auto* cmd : {list, show, replay}) {
    cmd->add_option("--limit", args->limit, "At most this many (oldest first)")
        ->capture_default_str();
  }
  purge->add_flag("--yes", args->yes, "Confirm the purge of a whole queue (or of --all)");
  purge->add_flag("--all", args->all, "Purge the dead letters of every queue (with --yes)");
  return [=] {
    if (list->parsed()) return dlq_list(*args);
    if (show->parsed()) return dlq_show(*args);
    if (replay->parsed()) return dlq_replay(*args);
    if (purge->parsed()) return dlq_purge(*args);
    return -1;
  };
}

Run add_queue(CLI::App& app) {
  auto* queue = app.add_subcommand(
      "queue", "Durable queues of a server (plexus serve --data-dir): send messages, see depths");
  queue->require_subcommand(1);
  auto send_args = std::make_shared<SendArgs>();
  auto* send = queue->add_subcommand(
      "send",
      "Send a message to a durable queue; it is on the server's disk when this returns. Without "
      "PAYLOAD, each line of standard input is a message. Prints each message's id");
  add_target(send, send_args->target);
  send->add_option("queue", send_args->queue, "The queue")->required();
  send->add_option("payload", send_args->payload, "The message (default: stdin, one per line)");
  send->add_option("--type", send_args->type, "The message's type")->capture_default_str();
  send->add_option("--group", send_args->group, "The message's group");
  send->add_option("--priority", send_args->priority, "Higher is delivered first")
      ->capture_default_str();
  send->add_option("--delay-ms", send_args->delay_ms, "Not delivered before this many ms")
      ->check(CLI::NonNegativeNumber);
  send->add_option("--id", send_args->id,
                   "The message's id (default: a random one); a resend of an id the server has "
                   "is dropped as a duplicate");
  send->add_option("--timeout-ms", send_args->timeout_ms,
                   "How long one attempt waits for the server to store it")
      ->capture_default_str();
  auto stats_target = std::make_shared<Target>();
  auto* stats = queue->add_subcommand(
      "stats", "Depth, in flight, oldest age and dead letters per queue, and the counters");
  add_target(stats, *stats_target);
  return [=] {
    if (send->parsed()) return queue_send(*send_args);
    if (stats->parsed()) return queue_stats(*stats_target);
    return -1;
  };
}

}  // namespace plexus::cli

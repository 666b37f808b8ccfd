// `plexus spool send|recv|ack|replay DIR`: a shell script's part in a spool directory
// (plexus/spool.hpp, docs/PROTOCOL.md "Spool directories"). JSON lines in and out.
// `plexus spool stats DIR [--json]`: what the directory holds, for an operator.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"

namespace plexus::cli {
namespace {

using nlohmann::json;

struct SpoolArgs {
  std::string dir;
  // send
  std::string type;
  std::string payload;
  std::string id;
  std::string group;
  bool no_ack = false;
  bool raw = false;
  // recv
  std::size_t count = 0;
  int timeout_ms = 0;
  bool ack = false;
  // ack
  std::vector<std::string> ids;
  std::string error_code;
  std::string error_message;
  // stats
  bool json = false;
  // all
  bool no_sync = false;
};

SpoolOptions options_of(const SpoolArgs& a) {
  SpoolOptions o;
  o.sync = !a.no_sync;
  return o;
}

Error usage(std::string message) {
  return Error{StatusCode::invalid_argument, std::move(message), {}};
}

// The payload of a received message as JSON: its JSON value when it is JSON, else the text.
json payload_json(const SpoolMessage& m) {
  if (m.json) {
    auto v = json::parse(m.payload, nullptr, false);
    if (!v.is_discarded()) return v;
  }
  return json(m.payload);
}

std::string message_line(const SpoolMessage& m) {
  json j{{"id", m.id},
         {"type", m.type},
         {"group", m.group},
         {"attempt", m.attempt},
         {"requires_ack", m.requires_ack},
         {"json", m.json},
         {"payload", payload_json(m)}};
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// One message from a JSON line: {"type", "payload" (any JSON value, sent as JSON) or
// "payload_text" (a string, sent as bytes), "id", "group", "requires_ack", "max_retries",
// "retry_delay_ms"}.
Result<SpoolSend> message_of(const std::string& line) {
  auto j = json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return tl::unexpected(usage("not a JSON object: " + line));
  SpoolSend m;
  try {
    m.type = j.value("type", std::string("task"));
    if (j.contains("payload_text")) {
      m.payload = j.at("payload_text").get<std::string>();
    } else {
      m.payload = j.contains("payload") ? j.at("payload").dump() : "null";
      m.json = true;
    }
    m.id = j.value("id", std::string());
    m.group = j.value("group", std::string());
    m.requires_ack = j.value("requires_ack", true);
    if (j.contains("max_retries")) m.max_retries = j.at("max_retries").get<std::uint32_t>();
    if (j.contains("retry_delay_ms")) {
      m.retry_delay = std::chrono::milliseconds(j.at("retry_delay_ms").get<std::int64_t>());
    }
  } catch (const json::exception& e) {
    return tl::unexpected(usage(std::string("bad message line: ") + e.what()));
  }
  return m;
}

int send(const SpoolArgs& a) {
  // Writes and goes: the directory's long-running sender (if any) looks after retries.
  SpoolOptions o = options_of(a);
  o.take_over = false;
  auto sender = SpoolSender::create(a.dir, o);
  if (!sender) return fail(sender.error());
  auto one = [&](SpoolSend m) -> int {
    auto id = (*sender)->send(std::move(m));
    if (!id) return fail(id.error());
    std::printf("%s\n", json{{"id", *id}}.dump().c_str());
    std::fflush(stdout);
    return 0;
  };
  if (!a.type.empty()) {
    SpoolSend m;
    m.type = a.type;
    m.payload = a.payload;
    m.json = !a.raw;
    m.id = a.id;
    m.group = a.group;
    m.requires_ack = !a.no_ack;
    return one(std::move(m));
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto m = message_of(line);
    if (!m) return fail(m.error());
    if (const int rc = one(std::move(*m)); rc != 0) return rc;
  }
  return 0;
}

int recv_list(const SpoolArgs& a) {
  auto pending =
      spool_pending(a.dir, a.count, std::chrono::milliseconds(a.timeout_ms), options_of(a));
  if (!pending) return fail(pending.error());
  for (const auto& m : *pending) std::printf("%s\n", message_line(m).c_str());
  std::fflush(stdout);
  if (a.count > 0 && pending->size() < a.count) {
    return fail(Error{StatusCode::deadline_exceeded,
                      std::to_string(pending->size()) + " of " + std::to_string(a.count) +
                          " messages within " + std::to_string(a.timeout_ms) + " ms",
                      {}});
  }
  return 0;
}

// --ack: a SpoolReceiver that prints each message and acknowledges it.
int recv_ack(const SpoolArgs& a) {
  auto receiver = SpoolReceiver::create(a.dir, options_of(a));
  if (!receiver) return fail(receiver.error());
  std::mutex mu;
  std::condition_variable cv;
  std::size_t seen = 0;  // guarded by mu
  (void)(*receiver)->on_any([&](const SpoolMessage& m) -> Result<void> {
    const std::string line = message_line(m);
    std::lock_guard lock(mu);
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
    ++seen;
    cv.notify_all();
    return {};
  });
  if (auto started = (*receiver)->start(); !started) return fail(started.error());
  std::unique_lock lock(mu);
  auto enough = [&] { return a.count > 0 && seen >= a.count; };
  if (a.timeout_ms > 0) {
    cv.wait_for(lock, std::chrono::milliseconds(a.timeout_ms), enough);
  } else {
    cv.wait(lock, enough);
  }
  if (a.count > 0 && seen < a.count) {
    return fail(Error{StatusCode::deadline_exceeded,
                      std::to_string(seen) + " of " + std::to_string(a.count) +
                          " messages within " + std::to_string(a.timeout_ms) + " ms",
                      {}});
  }
  return 0;
}

std::optional<StatusCode> code_named(const std::string& text) {
  for (int n = 0; n <= 101; ++n) {
    const auto code = status_code_from_wire(static_cast<std::uint16_t>(n));
    if (code == StatusCode::unknown && n != 2) continue;
    if (text == to_string(code) || text == std::to_string(n)) return code;
  }
  return std::nullopt;
}

int ack(const SpoolArgs& a) {
  std::optional<Error> error;
  if (!a.error_code.empty()) {
    const auto code = code_named(a.error_code);
    if (!code || *code == StatusCode::ok) {
      return fail(
          usage("--error takes a status code's name or number other than ok, e.g. "
                "internal or 13"));
    }
    error = Error{*code, a.error_message, {}};
  }
  for (const auto& id : a.ids) {
    if (auto r = spool_ack(a.dir, id, error, options_of(a)); !r) return fail(r.error());
  }
  return 0;
}

int replay(const SpoolArgs& a) {
  auto sender = SpoolSender::create(a.dir, options_of(a));
  if (!sender) return fail(sender.error());
  for (const auto& id : a.ids) {
    if (auto r = (*sender)->replay(id); !r) return fail(r.error());
  }
  return 0;
}

int stats(const SpoolArgs& a) {
  auto s = spool_directory_stats(a.dir);
  if (!s) return fail(s.error());
  const std::pair<const char*, const SpoolFileCount*> kinds[] = {{"ready", &s->ready},
                                                                 {"waiting", &s->waiting},
                                                                 {"acks", &s->acks},
                                                                 {"errors", &s->errors},
                                                                 {"temporary", &s->temporary}};
  if (a.json) {
    json j{{"directory", s->directory}};
    for (const auto& [name, f] : kinds) {
      j[name] = {{"count", f->count}, {"oldest_age_ms", f->oldest_age.count()}};
    }
    j["temporary"]["stale"] = s->stale_temporary;
    std::printf("%s\n", j.dump().c_str());
    return 0;
  }
  std::printf("%s\n", s->directory.c_str());
  std::printf("%-10s %8s %12s\n", "files", "count", "oldest");
  for (const auto& [name, f] : kinds) {
    std::printf("%-10s %8llu %12s\n", name, static_cast<unsigned long long>(f->count),
                f->count ? age_text(f->oldest_age).c_str() : "-");
  }
  if (s->stale_temporary > 0) {
    std::printf(
        "%llu temporary files are stale (left by a writer that crashed); the next sender or "
        "receiver to start removes them\n",
        static_cast<unsigned long long>(s->stale_temporary));
  }
  return 0;
}

}  // namespace

Run add_spool(CLI::App& app) {
  auto args = std::make_shared<SpoolArgs>();
  auto* cmd = app.add_subcommand(
      "spool", "Exchange messages through a spool directory (dir:///path/group or /path/group)");
  cmd->require_subcommand(1);
  auto sync_flag = [&](CLI::App* sub) {
    sub->add_flag("--no-sync", args->no_sync,
                  "Do not fsync files and directories (survives kill -9, not an OS crash)");
  };

  auto* send_cmd = cmd->add_subcommand(
      "send",
      "Write messages: TYPE PAYLOAD, or JSON lines on stdin ({\"type\",\"payload\" | "
      "\"payload_text\",\"id\",\"group\",\"requires_ack\",\"max_retries\","
      "\"retry_delay_ms\"}); prints {\"id\"} per message");
  send_cmd->add_option("dir", args->dir, "The spool directory")->required();
  send_cmd->add_option("type", args->type, "Message type (task, command, …); none: read stdin");
  send_cmd->add_option("payload", args->payload, "Payload (JSON text unless --raw)");
  send_cmd->add_option("--id", args->id, "The message's id (default: a new one)");
  send_cmd->add_option("--group", args->group, "The message's group (default: the directory's)");
  send_cmd->add_flag("--no-ack", args->no_ack, "Ask for no ack (nobody resends it)");
  send_cmd->add_flag("--raw", args->raw, "PAYLOAD is bytes, not JSON");
  sync_flag(send_cmd);

  auto* recv_cmd = cmd->add_subcommand(
      "recv",
      "Print the messages not yet acknowledged as JSON lines ({\"id\",\"type\",\"group\","
      "\"attempt\",\"requires_ack\",\"json\",\"payload\"})");
  recv_cmd->add_option("dir", args->dir, "The spool directory")->required();
  recv_cmd->add_option("-n,--count", args->count,
                       "Wait until there are this many (with --ack: handle this many, then exit)");
  recv_cmd->add_option("--timeout-ms", args->timeout_ms,
                       "How long to wait for --count (0: no wait without --ack, forever with it)");
  recv_cmd->add_flag("--ack", args->ack,
                     "Acknowledge each message once printed (a receiver: new ones as they come)");
  sync_flag(recv_cmd);

  auto* ack_cmd = cmd->add_subcommand(
      "ack", "Acknowledge messages by id: handled, or --error CODE [--message TEXT] (failed)");
  ack_cmd->add_option("dir", args->dir, "The spool directory")->required();
  ack_cmd->add_option("ids", args->ids, "Message ids")->required();
  ack_cmd->add_option("--error", args->error_code,
                      "The handler failed with this status (a name such as internal, or its "
                      "number): the sender resends or dead-letters it");
  ack_cmd->add_option("--message", args->error_message, "The failure's message, with --error");
  sync_flag(ack_cmd);

  auto* replay_cmd = cmd->add_subcommand(
      "replay", "Put dead letters (errors/ID.msg) back into messages/ with attempt 1");
  replay_cmd->add_option("dir", args->dir, "The spool directory")->required();
  replay_cmd->add_option("ids", args->ids, "Message ids")->required();
  sync_flag(replay_cmd);

  auto* stats_cmd = cmd->add_subcommand(
      "stats",
      "Count the files of a spool directory and their oldest age: ready and waiting messages, "
      "acks, errors (dead letters and refused files), temporary files (stale: a crashed "
      "writer's); reads only");
  stats_cmd->add_option("dir", args->dir, "The spool directory")->required();
  stats_cmd->add_flag("--json", args->json,
                      "Print one JSON object: {\"directory\", KIND: {\"count\", "
                      "\"oldest_age_ms\"}, …} (KIND: ready, waiting, acks, errors, temporary, "
                      "whose object also has \"stale\")");

  return [=] {
    if (!cmd->parsed()) return -1;
    if (send_cmd->parsed()) return send(*args);
    if (recv_cmd->parsed()) return args->ack ? recv_ack(*args) : recv_list(*args);
    if (ack_cmd->parsed()) return ack(*args);
    if (replay_cmd->parsed()) return replay(*args);
    if (stats_cmd->parsed()) return stats(*args);
    return -1;
  };
}

}  // namespace plexus::cli

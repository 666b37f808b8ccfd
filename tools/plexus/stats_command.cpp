#include <cstdio>

#include <nlohmann/json.hpp>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct StatsArgs {
  std::string address;
  bool json = false;
  int connect_timeout_ms = 3000;
};

std::string micros(const nlohmann::json& seconds) {
  if (!seconds.is_number()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f us", seconds.get<double>() * 1e6);
  return buf;
}

// The snapshot `plexus.stats` returns (Server::metrics()), as a short human summary.
void print_summary(const nlohmann::json& s) {
  std::printf("%s (plexus %s, pid %d): %s, up %.0f s\n", s.value("name", "?").c_str(),
              s.value("version", "?").c_str(), s.value("pid", 0), s.value("status", "?").c_str(),
              s.value("uptime_seconds", 0.0));
  std::string listening;
  for (const auto& a : s.value("listen", nlohmann::json::array())) {
    listening += " " + a.get<std::string>();
  }
  const std::string http = s.value("http", "");
  std::printf("listening on%s; HTTP %s\n", listening.c_str(),
              http.empty() ? "off" : (http + "/").c_str());
  const auto& c = s.at("connections");
  const auto& t = s.at("transport");
  std::printf("connections: %d open, %.0f accepted, %.0f refused\n", c.value("open", 0),
              c.value("accepted", 0.0), c.value("refused", 0.0));
  std::printf("transport: %.0f bytes in, %.0f bytes out, %.2f frames per write\n",
              t.value("bytes_in", 0.0), t.value("bytes_out", 0.0),
              t.value("frames_per_batch", 0.0));
  std::printf("%-32s %10s %8s %12s %12s\n", "method", "calls", "errors", "p50", "p99");
  for (const auto& m : s.at("methods")) {
    double errors = 0;
    for (const auto& [_, n] : m.at("errors").items()) errors += n.get<double>();
    std::printf("%-32s %10.0f %8.0f %12s %12s\n", m.value("method", "?").c_str(),
                m.value("calls", 0.0), errors,
                micros(m.value("p50_seconds", nlohmann::json())).c_str(),
                micros(m.value("p99_seconds", nlohmann::json())).c_str());
  }
  // Pub/sub, streams and policies (an older server answers without them: skipped).
  if (const auto p = s.value("pubsub", nlohmann::json()); p.is_object()) {
    std::printf(
        "pub/sub: %.0f published, %.0f delivered, %.0f dropped, %.0f subscriptions, "
        "%.0f queued\n",
        p.value("published", 0.0), p.value("delivered", 0.0), p.value("dropped", 0.0),
        p.value("subscriptions", 0.0), p.value("queued", 0.0));
  }
  if (const auto st = s.value("streams", nlohmann::json()); st.is_object()) {
    std::printf("streams: %.0f open, %.0f started, %.0f items, %.0f credit waits\n",
                st.value("open", 0.0), st.value("started", 0.0), st.value("items", 0.0),
                st.value("credit_waits", 0.0));
  }
  // Durable queues (null: the server keeps none).
  if (const auto d = s.value("durable", nlohmann::json()); d.is_object()) {
    const auto c = d.value("counters", nlohmann::json::object());
    std::printf(
        "durable queues (%s, %s): %.0f sent, %.0f acknowledged, %.0f retried, %.0f "
        "dead-lettered, %.0f redelivered, %.0f duplicates dropped\n",
        d.value("data_dir", "?").c_str(), d.value("durability", "?").c_str(), c.value("sent", 0.0),
        c.value("acked", 0.0), c.value("retried", 0.0), c.value("dead_lettered", 0.0),
        c.value("redelivered", 0.0), c.value("duplicates_dropped", 0.0));
    const auto queues = d.value("queues", nlohmann::json::array());
    if (!queues.empty()) {
      std::printf("%-32s %8s %8s %9s %12s %8s %12s\n", "queue", "ready", "delayed", "in flight",
                  "oldest ready", "dead", "oldest dead");
      auto age = [](const nlohmann::json& q, const char* count, const char* key) {
        char buf[32] = "-";
        if (q.value(count, 0.0) > 0)
          std::snprintf(buf, sizeof buf, "%.1f s", q.value(key, 0.0) / 1e3);
        return std::string(buf);
      };
      for (const auto& q : queues) {
        std::printf("%-32s %8.0f %8.0f %9.0f %12s %8.0f %12s\n", q.value("queue", "?").c_str(),
                    q.value("ready", 0.0), q.value("delayed", 0.0), q.value("in_flight", 0.0),
                    age(q, "ready", "oldest_ready_age_ms").c_str(), q.value("dead_letters", 0.0),
                    age(q, "dead_letters", "oldest_dead_letter_age_ms").c_str());
      }
    }
  }
  const auto sections = s.value("sections", nlohmann::json::object());
  auto rows = [&sections](const char* key) {
    const auto it = sections.find(key);
    return it != sections.end() && it->is_array() && !it->empty() ? *it : nlohmann::json();
  };
  if (const auto b = rows("breakers"); !b.is_null()) {
    std::printf("%-32s %-7s %-10s %8s %8s\n", "breaker", "side", "state", "opened", "rejected");
    for (const auto& r : b) {
      std::printf("%-32s %-7s %-10s %8.0f %8.0f\n", r.value("method", "?").c_str(),
                  r.value("side", "?").c_str(), r.value("state", "?").c_str(),
                  r.value("opened", 0.0), r.value("rejected", 0.0));
    }
  }
  if (const auto c = rows("caches"); !c.is_null()) {
    std::printf("%-32s %8s %8s %8s %10s\n", "cache", "entries", "hits", "misses", "hit ratio");
    for (const auto& r : c) {
      std::printf("%-32s %8.0f %8.0f %8.0f %9.1f%%\n", r.value("method", "?").c_str(),
                  r.value("entries", 0.0), r.value("hits", 0.0), r.value("misses", 0.0),
                  r.value("hit_ratio", 0.0) * 100);
    }
  }
  if (const auto l = rows("rate_limits"); !l.is_null()) {
    std::printf("%-32s %8s %16s %16s\n", "rate limit", "allowed", "refused handler",
                "refused client");
    for (const auto& r : l) {
      std::printf("%-32s %8.0f %16.0f %16.0f\n", r.value("method", "?").c_str(),
                  r.value("allowed", 0.0), r.value("rejected_handler", 0.0),
                  r.value("rejected_client", 0.0));
    }
  }
  if (const auto t = rows("topics"); !t.is_null()) {
    std::printf("%-32s %-20s %-12s %8s %10s %8s\n", "subscription", "subscriber", "policy",
                "queued", "delivered", "dropped");
    for (const auto& r : t) {
      std::printf("%-32s %-20s %-12s %8.0f %10.0f %8.0f\n", r.value("pattern", "?").c_str(),
                  r.value("subscriber", "?").c_str(), r.value("policy", "?").c_str(),
                  r.value("queued", 0.0), r.value("delivered", 0.0), r.value("dropped", 0.0));
    }
  }
  // Spool directories this process sends or receives through (SpoolOptions::runtime).
  if (const auto sp = rows("spools"); !sp.is_null()) {
    std::printf("%-40s %-8s %8s %8s %8s %12s %8s\n", "spool", "role", "ready", "waiting", "errors",
                "oldest", "stale");
    for (const auto& r : sp) {
      const auto d = r.value("directory", nlohmann::json::object());
      char oldest[32] = "-";
      if (d.value("ready", 0.0) + d.value("waiting", 0.0) > 0) {
        std::snprintf(oldest, sizeof oldest, "%.1f s", d.value("oldest_pending_age_seconds", 0.0));
      }
      std::printf("%-40s %-8s %8.0f %8.0f %8.0f %12s %8.0f\n", r.value("dir", "?").c_str(),
                  r.value("role", "?").c_str(), d.value("ready", 0.0), d.value("waiting", 0.0),
                  d.value("dead_letters", 0.0), oldest, d.value("stale_temp_files", 0.0));
      std::string counts;
      const auto it = r.find("messages");
      if (it != r.end() && it->is_object()) {
        for (auto m = it->begin(); m != it->end(); ++m) {
          counts += (counts.empty() ? "" : ", ") + m.value().dump() + " " + m.key();
        }
      }
      std::printf("  since start: %s\n", counts.c_str());
    }
  }
}

int stats(const StatsArgs& a) {
  Runtime runtime;
  auto client = connect_client(runtime, a.address, a.connect_timeout_ms, "plexus-stats");
  if (!client) {
    return fail(client.error());
  }
  auto result = (*client)->call("plexus.stats", "{}");
  if (!result) {
    return fail(result.error());
  }
  if (a.json) {
    std::printf("%s\n", result->c_str());
    return 0;
  }
  const auto snapshot = nlohmann::json::parse(*result, nullptr, false);
  if (snapshot.is_discarded() || !snapshot.is_object()) {
    return fail(Error{StatusCode::internal, "plexus.stats answered something not JSON", {}});
  }
  try {
    print_summary(snapshot);
  } catch (const nlohmann::json::exception& e) {
    return fail(Error{
        StatusCode::internal, std::string("unexpected plexus.stats answer: ") + e.what(), {}});
  }
  return 0;
}

}  // namespace

Run add_stats(CLI::App& app) {
  auto args = std::make_shared<StatsArgs>();
  auto* cmd = app.add_subcommand(
      "stats",
      "Show a server's metrics (the built-in plexus.stats method): connections, methods, pub/sub, "
      "streams, durable queues, breakers, caches, rate limits");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_flag("--json", args->json, "Print the whole snapshot as JSON");
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  return [cmd, args] { return cmd->parsed() ? stats(*args) : -1; };
}

}  // namespace plexus::cli

// `plexus stream ADDR METHOD JSON`: opens a stream and shows it. On a terminal, a progress bar
// (done/total, rate, ETA) redrawn in place on stderr; otherwise one line per item on stdout.
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "commands.hpp"

namespace plexus::cli {
namespace {

struct StreamArgs {
  std::string address;
  std::string method;
  std::string payload = "{}";
  std::string progress = "auto";  // auto | bar | lines
  int connect_timeout_ms = 3000;
  int timeout_ms = 0;  // the whole stream's; 0: none (a stream may rightly run for hours)
};

// Cancels `s` when `timeout` passes before stop(): a stream has no deadline of its own.
class StreamDeadline {
 public:
  StreamDeadline(Stream& s, std::chrono::milliseconds timeout) {
    if (timeout.count() <= 0) return;
    thread_ = std::thread([this, &s, timeout] {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, timeout, [this] { return stopped_; })) {
        expired_ = true;
        s.cancel("the caller's deadline passed");
      }
    });
  }
  ~StreamDeadline() { stop(); }
  void stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  bool expired() {
    std::lock_guard lock(mu_);
    return expired_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  bool expired_ = false;
  std::thread thread_;
};

std::string duration_text(double seconds) {
  const auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

// One line, e.g. "[##########----------]  500/1000  50%  99.8/s  ETA 0:05".
std::string progress_line(const StreamProgress& p) {
  constexpr int kWidth = 30;
  std::string line;
  char buf[128];
  if (p.total && *p.total > 0) {
    const double fraction =
        std::min(1.0, static_cast<double>(p.done) / static_cast<double>(*p.total));
    const int filled = static_cast<int>(fraction * kWidth);
    line = "[" + std::string(filled, '#') + std::string(kWidth - filled, '-') + "]";
    std::snprintf(buf, sizeof buf, " %llu/%llu %3d%%", static_cast<unsigned long long>(p.done),
                  static_cast<unsigned long long>(*p.total), static_cast<int>(fraction * 100));
  } else {
    std::snprintf(buf, sizeof buf, "%llu items", static_cast<unsigned long long>(p.done));
  }
  line += buf;
  std::snprintf(buf, sizeof buf, "  %.1f/s", p.rate);
  line += buf;
  if (p.eta) line += "  ETA " + duration_text(p.eta->count());
  return line;
}

int stream(const StreamArgs& a) {
  Runtime runtime;
  auto client = connect_client(runtime, a.address, a.connect_timeout_ms, "plexus-cli");
  if (!client) {
    return fail(client.error());
  }
  const bool bar = a.progress == "bar" ||
                   (a.progress == "auto" && ::isatty(STDERR_FILENO) && ::isatty(STDOUT_FILENO));
  Stream s = (*client)->open_stream(a.method, a.payload);
  StreamDeadline deadline(s, std::chrono::milliseconds(a.timeout_ms));
  auto last_draw = std::chrono::steady_clock::now() - std::chrono::seconds(1);
  auto draw = [&](bool force) {
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_draw < std::chrono::milliseconds(100)) return;
    last_draw = now;
    // \r returns to the start of the line, \x1b[K clears what a longer line left behind.
    std::fprintf(stderr, "\r%s\x1b[K", progress_line(s.progress()).c_str());
    std::fflush(stderr);
  };
  for (;;) {
    auto item = s.read();
    if (!item) {
      if (bar) std::fputc('\n', stderr);
      deadline.stop();
      if (deadline.expired()) {
        return fail(Error{StatusCode::deadline_exceeded,
                          "the stream did not end within " + std::to_string(a.timeout_ms) + " ms",
                          {}});
      }
      return fail(item.error());
    }
    if (!*item) break;
    if (bar) {
      draw(false);
    } else {
      std::fwrite((*item)->data(), 1, (*item)->size(), stdout);
      std::fputc('\n', stdout);
    }
  }
  if (bar) {
    draw(true);
    std::fputc('\n', stderr);
  }
  // The producer's final word, if any, closes the output.
  if (auto outcome = s.outcome(); outcome && *outcome && !(*outcome)->empty()) {
    std::fprintf(bar ? stderr : stdout, "%s%s\n", bar ? "done: " : "", (*outcome)->c_str());
  }
  return 0;
}

}  // namespace

Run add_stream(CLI::App& app) {
  auto args = std::make_shared<StreamArgs>();
  auto* cmd = app.add_subcommand(
      "stream", "Open a stream METHOD with a JSON argument; show its items or a progress bar");
  cmd->add_option("address", args->address, "Server address, or 'default'")->required();
  cmd->add_option("method", args->method, "Stream method name")->required();
  cmd->add_option("payload", args->payload, "Argument (JSON text)");
  cmd->add_option("--progress", args->progress,
                  "auto: a progress bar on a terminal, else one line per item; bar; lines")
      ->check(CLI::IsMember({"auto", "bar", "lines"}));
  cmd->add_option("--connect-timeout-ms", args->connect_timeout_ms, "Connect timeout in ms");
  cmd->add_option("-t,--timeout-ms", args->timeout_ms,
                  "Deadline for the whole stream in ms; past it the stream is cancelled and the "
                  "exit status is 4 (0: none)")
      ->capture_default_str();
  cmd->footer(
      "Lines mode prints each item, then the producer's final payload. Exit status: 0 on a clean "
      "end, else the status code number of the error that ended the stream.");
  return [cmd, args] { return cmd->parsed() ? stream(*args) : -1; };
}

}  // namespace plexus::cli

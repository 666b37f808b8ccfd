// SpoolSender and SpoolReceiver (plexus/spool.hpp): the spool cores of src/transport/spool/
// behind a lock, each with a watcher thread of its own.
//
// Why a thread and not the runtime's asio loop: a spool endpoint needs no Runtime (a script's
// `plexus spool` has none), its handlers may block on disk as long as they like without holding
// up any connection, and its wait is one poll() over the inotify descriptor and an eventfd that
// wakes it for a stop or a sooner deadline. Nothing is polled: the thread sleeps until inotify
// reports a file or the next retry deadline comes.
#include "plexus/spool.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

#include "api/runtime_internals.hpp"
#include "api/spool_observe.hpp"
#include "observe/log.hpp"
#include "platform/posix/files.hpp"
#include "transport/spool/spool_census.hpp"
#include "transport/spool/spool_layout.hpp"
#include "transport/spool/spool_receiver_core.hpp"
#include "transport/spool/spool_sender_core.hpp"
#include "wire/names.hpp"

namespace plexus {
namespace {

namespace sp = transport::spool;
using sp::wait_ms;

Result<sp::Layout> open(std::string_view dir, const SpoolOptions& options) {
  auto root = sp::spool_root(dir);
  if (!root) return tl::unexpected(root.error());
  return sp::open_layout(*root, options.create);
}

// A warn line per file moved to errors/ other than a dead letter (those are logged by the
// sender with their attempts).
void log_error_files(const sp::Layout& layout, const std::vector<sp::ErrorFile>& files) {
  for (const auto& f : files) {
    observe::logger().warn("plexus: spool file {} of {} moved to errors/ ({}, {}): {}", f.name,
                           layout.root, f.reason, to_string(f.error.code), f.error.message);
  }
}

// The metrics of a sender or receiver whose options name a runtime; null otherwise.
std::unique_ptr<detail::SpoolMetrics> metrics_of(const SpoolOptions& options,
                                                 const sp::Layout& layout, std::string role,
                                                 std::function<detail::SpoolCounts()> read) {
  if (!options.runtime) return nullptr;
  return std::make_unique<detail::SpoolMetrics>(detail::runtime_metrics(*options.runtime), layout,
                                                std::move(role), std::move(read));
}

SpoolMessage to_message(const sp::Record& r, std::string_view id) {
  SpoolMessage m;
  m.id = std::string(id);
  m.type = r.type;
  m.group = r.group;
  m.payload = r.payload;
  m.json = r.json;
  m.attempt = r.attempt;
  m.requires_ack = !r.id.empty();
  return m;
}

}  // namespace

// ---- SpoolSender ----------------------------------------------------------------------------

struct SpoolSender::Impl {
  Impl(sp::Layout layout, SpoolOptions opts, platform::DirectoryWatch w)
      : options(std::move(opts)),
        clock(options.clock ? options.clock : Clock::steady()),
        core(std::move(layout),
             sp::SenderRules{options.ack_timeout, options.max_retries, options.retry_delay,
                             options.max_message_size, options.sync}),
        watch(std::move(w)) {}

  void run();
  // Takes the dead letters out of the core; `lock` is released before the callback runs.
  void report(std::unique_lock<std::mutex>& lock);

  SpoolOptions options;
  std::shared_ptr<const Clock> clock;
  mutable std::mutex mu;
  std::condition_variable idle;                         // notified when pending() may have dropped
  sp::SenderCore core;                                  // guarded by mu
  platform::DirectoryWatch watch;                       // the thread's, but wake() from any
  std::function<void(const SpoolDeadLetter&)> on_dead;  // guarded by mu
  std::function<void(const std::string&, const Result<void>&)> on_ack;  // guarded by mu
  std::atomic<bool> stop{false};
  std::thread thread;
  std::unique_ptr<detail::SpoolMetrics> metrics;  // null without options.runtime
};

void SpoolSender::Impl::report(std::unique_lock<std::mutex>& lock) {
  auto notes = core.take_dead_letters();
  auto acks = core.take_acks();
  const auto error_files = core.take_error_files();
  auto callback = on_dead;
  auto ack_callback = on_ack;
  idle.notify_all();
  lock.unlock();
  for (const auto& n : notes) {
    observe::logger().warn(
        "plexus: spool message {} ({}) of {} dead-lettered after {} deliveries ({}, {}): {}", n.id,
        n.type, core.layout().root, n.attempts, n.reason, to_string(n.error.code), n.error.message);
  }
  log_error_files(core.layout(), error_files);
  if (ack_callback) {
    for (const auto& a : acks) {
      ack_callback(a.id, a.ok ? Result<void>() : Result<void>(tl::unexpected(a.error)));
    }
  }
  if (!callback) return;
  for (auto& n : notes) {
    SpoolDeadLetter d;
    d.id = std::move(n.id);
    d.type = std::move(n.type);
    d.reason = n.reason == "timeout" ? DeadLetterReason::timeout : DeadLetterReason::handler_error;
    d.error = std::move(n.error);
    d.attempts = n.attempts;
    callback(d);
  }
}

void SpoolSender::Impl::run() {
  while (!stop.load(std::memory_order_acquire)) {
    int timeout;
    {
      std::lock_guard lock(mu);
      timeout = wait_ms(core.next_deadline(), clock->now());
    }
    auto batch = watch.wait(timeout);
    std::unique_lock lock(mu);
    const auto now = clock->now();
    if (batch) {
      for (const auto& e : batch->events) core.on_ack_file(e.name, now);
      if (batch->overflow) core.rescan_acks(now);
      core.flush();
    }
    core.expire(now);
    report(lock);
  }
}

SpoolSender::SpoolSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SpoolSender::~SpoolSender() {
  impl_->metrics.reset();
  impl_->stop.store(true, std::memory_order_release);
  impl_->watch.wake();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<SpoolSender>> SpoolSender::create(std::string_view dir,
                                                         SpoolOptions options) {
  auto layout = open(dir, options);
  if (!layout) return tl::unexpected(layout.error());
  auto watch = platform::DirectoryWatch::create();
  if (!watch) return tl::unexpected(watch.error());
  // The watch before the scan: an ack written in between is seen twice, never missed. A sender
  // that takes nothing over reads no acks at all: they are the directory's sender's to act on.
  if (options.take_over) {
    if (auto w = watch->watch(layout->acks, false); !w) return tl::unexpected(w.error());
  }
  auto impl = std::make_unique<Impl>(std::move(*layout), std::move(options), std::move(*watch));
  if (impl->options.take_over) {
    impl->core.remove_stale_temps(std::chrono::system_clock::now());
    if (auto started = impl->core.start(impl->clock->now()); !started) {
      return tl::unexpected(started.error());
    }
  }
  auto* raw = impl.get();
  raw->metrics = metrics_of(raw->options, raw->core.layout(), "sender", [raw] {
    std::lock_guard lock(raw->mu);
    const auto& c = raw->core.counters();
    return detail::SpoolCounts{{{"sent", c.sent},
                                {"acked", c.acked},
                                {"retried", c.retried},
                                {"dead_lettered", c.dead_lettered},
                                {"adopted", c.adopted}},
                               c.stale_temps_removed};
  });
  raw->thread = std::thread([raw] { raw->run(); });
  return std::unique_ptr<SpoolSender>(new SpoolSender(std::move(impl)));
}

Result<std::string> SpoolSender::send(SpoolSend message) {
  sp::Record r;
  r.id = std::move(message.id);
  r.type = std::move(message.type);
  r.group = message.group.empty() ? impl_->core.layout().group : std::move(message.group);
  r.payload = std::move(message.payload);
  r.json = message.json;
  r.max_retries = message.max_retries;
  r.retry_delay = message.retry_delay;
  std::unique_lock lock(impl_->mu);
  const bool was_idle = impl_->core.pending() == 0;
  auto id = impl_->core.send(std::move(r), message.requires_ack, impl_->clock->now());
  lock.unlock();
  // The watcher may be asleep without a deadline: let it take this message's.
  if (id && was_idle && message.requires_ack) impl_->watch.wake();
  return id;
}

Result<std::string> SpoolSender::send(std::string_view type, std::string payload) {
  SpoolSend m;
  m.type = std::string(type);
  m.payload = std::move(payload);
  return send(std::move(m));
}

void SpoolSender::on_dead_letter(std::function<void(const SpoolDeadLetter&)> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->on_dead = std::move(callback);
}

void SpoolSender::on_ack(
    std::function<void(const std::string& id, const Result<void>& outcome)> callback) {
  std::lock_guard lock(impl_->mu);
  impl_->on_ack = std::move(callback);
}

void SpoolSender::run_due_timers() {
  std::unique_lock lock(impl_->mu);
  impl_->core.expire(impl_->clock->now());
  impl_->report(lock);
  impl_->watch.wake();  // the next deadline may be sooner than the one the watcher waits for
}

Result<void> SpoolSender::replay(std::string_view id) {
  std::unique_lock lock(impl_->mu);
  auto r = impl_->core.replay(std::string(id), impl_->clock->now());
  lock.unlock();
  impl_->watch.wake();
  return r;
}

bool SpoolSender::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->idle.wait_for(lock, timeout, [&] { return impl_->core.pending() == 0; });
}

SpoolSenderStats SpoolSender::stats() const {
  std::lock_guard lock(impl_->mu);
  const auto& c = impl_->core.counters();
  return SpoolSenderStats{c.sent,
                          c.acked,
                          c.retried,
                          c.dead_lettered,
                          c.adopted,
                          impl_->core.pending(),
                          c.stale_temps_removed};
}

const std::string& SpoolSender::directory() const {
  return impl_->core.layout().root;
}

// ---- SpoolReceiver --------------------------------------------------------------------------

struct SpoolReceiver::Impl {
  Impl(sp::Layout layout, const SpoolOptions& options)
      : core(std::move(layout), options.max_message_size, options.sync) {}

  void run(std::vector<std::string> first);
  void process(const std::string& name);
  void publish_stats();

  sp::ReceiverCore core;  // the watcher thread's only (after start())
  std::map<std::string, Handler, std::less<>> handlers;  // fixed once started
  Handler any;
  std::optional<platform::DirectoryWatch> watch;
  std::atomic<bool> started{false};
  std::atomic<bool> stop{false};
  std::thread thread;
  mutable std::mutex stats_mu;
  sp::ReceiverCounters stats;  // guarded by stats_mu: a copy of core's after each file
  std::unique_ptr<detail::SpoolMetrics> metrics;  // null without SpoolOptions::runtime
};

void SpoolReceiver::Impl::publish_stats() {
  log_error_files(core.layout(), core.take_error_files());
  std::lock_guard lock(stats_mu);
  stats = core.counters();
}

void SpoolReceiver::Impl::process(const std::string& name) {
  auto record = core.take(name);
  if (!record) {
    publish_stats();
    return;
  }
  const auto id = sp::id_of(name, sp::kMessageSuffix);
  const SpoolMessage message = to_message(*record, id.value_or(std::string()));
  const auto it = handlers.find(message.type);
  const Handler& handler = it != handlers.end() ? it->second : any;
  Result<void> outcome;
  if (!handler) {
    outcome = make_error(StatusCode::not_found, "no handler for type \"" + message.type + "\"");
  } else {
    try {
      outcome = handler(message);
    } catch (const std::exception& e) {
      outcome = make_error(StatusCode::internal, std::string("the handler threw: ") + e.what());
    } catch (...) {
      outcome = make_error(StatusCode::internal, "the handler threw");
    }
  }
  // limit: when the ack cannot be written (full disk) the message is left as it is; the sender
  // resends it after its timeout and a restarted receiver hands it over again.
  (void)core.finish(*record, name, outcome);
  publish_stats();
}

void SpoolReceiver::Impl::run(std::vector<std::string> first) {
  for (const auto& name : first) {
    if (stop.load(std::memory_order_acquire)) return;
    process(name);
  }
  publish_stats();
  while (!stop.load(std::memory_order_acquire)) {
    auto batch = watch->wait(-1);
    if (!batch) continue;  // poll failed: try again (EINTR is handled below it)
    for (const auto& e : batch->events) {
      if (stop.load(std::memory_order_acquire)) break;
      process(e.name);
    }
    if (batch->overflow) {
      // Events were lost: what is still in messages/ and not acknowledged is the truth.
      if (auto names = core.scan()) {
        for (const auto& name : *names) process(name);
      }
    }
    publish_stats();
  }
}

SpoolReceiver::SpoolReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

SpoolReceiver::~SpoolReceiver() {
  impl_->metrics.reset();
  impl_->stop.store(true, std::memory_order_release);
  if (impl_->watch) impl_->watch->wake();
  if (impl_->thread.joinable()) impl_->thread.join();
}

Result<std::unique_ptr<SpoolReceiver>> SpoolReceiver::create(std::string_view dir,
                                                             SpoolOptions options) {
  auto layout = open(dir, options);
  if (!layout) return tl::unexpected(layout.error());
  auto impl = std::make_unique<Impl>(std::move(*layout), options);
  auto* raw = impl.get();
  raw->metrics = metrics_of(options, raw->core.layout(), "receiver", [raw] {
    std::lock_guard lock(raw->stats_mu);
    const auto& c = raw->stats;
    return detail::SpoolCounts{{{"delivered", c.delivered},
                                {"redelivered", c.redelivered},
                                {"acked", c.acked},
                                {"failed", c.failed},
                                {"duplicate", c.duplicates_dropped},
                                {"corrupt", c.corrupt}},
                               c.stale_temps_removed};
  });
  return std::unique_ptr<SpoolReceiver>(new SpoolReceiver(std::move(impl)));
}

Result<void> SpoolReceiver::on(std::string_view type, Handler handler) {
  if (impl_->started.load()) {
    return make_error(StatusCode::failed_precondition, "register handlers before start()");
  }
  if (auto ok = wire::validate_name(type, "message type"); !ok) return ok;
  impl_->handlers.insert_or_assign(std::string(type), std::move(handler));
  return {};
}

Result<void> SpoolReceiver::on_any(Handler handler) {
  if (impl_->started.load()) {
    return make_error(StatusCode::failed_precondition, "register handlers before start()");
  }
  impl_->any = std::move(handler);
  return {};
}

Result<void> SpoolReceiver::start() {
  if (impl_->started.exchange(true)) {
    return make_error(StatusCode::failed_precondition, "the receiver is started already");
  }
  auto watch = platform::DirectoryWatch::create();
  if (!watch) return tl::unexpected(watch.error());
  // The watch before the scan: a file renamed in between is seen twice (the second time its
  // ack exists, or it is gone), never missed.
  if (auto w = watch->watch(impl_->core.layout().messages, false); !w) {
    return tl::unexpected(w.error());
  }
  impl_->watch.emplace(std::move(*watch));
  impl_->core.remove_stale_temps(std::chrono::system_clock::now());
  impl_->publish_stats();
  auto first = impl_->core.scan();
  if (!first) return tl::unexpected(first.error());
  auto* raw = impl_.get();
  raw->thread =
      std::thread([raw, names = std::move(*first)]() mutable { raw->run(std::move(names)); });
  return {};
}

SpoolReceiverStats SpoolReceiver::stats() const {
  std::lock_guard lock(impl_->stats_mu);
  const auto& c = impl_->stats;
  return SpoolReceiverStats{
      c.delivered, c.redelivered,        c.acked, c.failed, c.duplicates_dropped,
      c.corrupt,   c.stale_temps_removed};
}

const std::string& SpoolReceiver::directory() const {
  return impl_->core.layout().root;
}

// ---- for scripts ----------------------------------------------------------------------------

Result<std::vector<SpoolMessage>> spool_pending(std::string_view dir, std::size_t at_least,
                                                std::chrono::milliseconds timeout,
                                                SpoolOptions options) {
  auto layout = open(dir, options);
  if (!layout) return tl::unexpected(layout.error());
  auto watch = platform::DirectoryWatch::create();
  if (!watch) return tl::unexpected(watch.error());
  if (auto w = watch->watch(layout->messages, false); !w) return tl::unexpected(w.error());
  sp::ReceiverCore core(*layout, options.max_message_size, options.sync);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto names = core.scan();
    if (!names) return tl::unexpected(names.error());
    std::vector<SpoolMessage> out;
    for (const auto& name : *names) {
      if (auto r = core.take(name)) out.push_back(to_message(*r, *sp::id_of(name, ".msg")));
    }
    log_error_files(*layout, core.take_error_files());
    const auto now = std::chrono::steady_clock::now();
    if (out.size() >= at_least || now >= deadline) return out;
    // Sleeps until a file arrives (or the time is up), then scans again.
    if (auto b = watch->wait(wait_ms(deadline, now)); !b) return tl::unexpected(b.error());
  }
}

Result<void> spool_ack(std::string_view dir, std::string_view id, std::optional<Error> error,
                       SpoolOptions options) {
  auto layout = open(dir, options);
  if (!layout) return tl::unexpected(layout.error());
  if (auto ok = sp::validate_id(id); !ok) return ok;
  if (platform::path_exists(layout->ack_path(id))) {
    return make_error(StatusCode::already_exists,
                      "message " + std::string(id) + " is acknowledged already");
  }
  sp::ReceiverCore core(*layout, options.max_message_size, options.sync);
  const std::string name = std::string(id) + std::string(sp::kMessageSuffix);
  auto record = core.take(name);
  log_error_files(*layout, core.take_error_files());
  if (!record) {
    return make_error(StatusCode::not_found, "no message " + std::string(id) + " in " +
                                                 layout->messages + " (gone, or corrupt: see " +
                                                 layout->errors + ")");
  }
  Result<void> outcome;
  if (error) outcome = tl::unexpected(*error);
  auto finished = core.finish(*record, name, outcome);
  log_error_files(*layout, core.take_error_files());
  return finished;
}

Result<SpoolDirectoryStats> spool_directory_stats(std::string_view dir) {
  SpoolOptions options;
  options.create = false;
  auto layout = open(dir, options);
  if (!layout) return tl::unexpected(layout.error());
  auto census = sp::take_census(*layout, std::chrono::system_clock::now());
  if (!census) return tl::unexpected(census.error());
  auto files = [](const sp::FileCount& f) { return SpoolFileCount{f.count, f.oldest_age}; };
  SpoolDirectoryStats s;
  s.directory = layout->root;
  s.ready = files(census->ready);
  s.waiting = files(census->waiting);
  s.acks = files(census->acks);
  s.errors = files(census->errors);
  s.temporary = files(census->temporary);
  s.stale_temporary = census->stale_temporary;
  return s;
}

}  // namespace plexus

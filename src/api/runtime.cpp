#include "plexus/runtime.hpp"

#include <algorithm>
#include <cstdlib>

#include <mutex>

#include <asio/post.hpp>
#include <asio/strand.hpp>

#include "plexus/version.hpp"

#include "api/executor_target.hpp"
#include "api/runtime_internals.hpp"
#include "observe/log.hpp"
#include "observe/metrics.hpp"
#include "platform/adaptive_spin.hpp"
#include "platform/cpu_relax.hpp"
#include "platform/posix/process.hpp"
#include "transport/exec/exec_transport.hpp"
#include "transport/hot_read.hpp"
#include "transport/spool/spool_connection.hpp"

namespace plexus {

Runtime::Runtime(RuntimeOptions options)
    : options_(options),
      internals_(std::make_unique<Internals>()),
      // A hint of 1 lets Asio's scheduler skip work meant for several threads.
      io_(std::max(1, options.io_threads)),
      work_(asio::make_work_guard(io_)) {
  internals_->workers = std::make_unique<rpc::WorkerPool>(options.worker_threads);
  // What exec:// helpers write to stdout and stderr, and the warnings of dir:// connections, go
  // to plexus's log (transport/ has no observe/). The same sink for every runtime: set by the
  // first.
  static std::once_flag helper_output_once;
  std::call_once(helper_output_once, [] {
    transport::exec::set_helper_output_sink(
        [](std::string_view line) { observe::logger().info("{}", line); });
    transport::spool::set_spool_warning_sink(
        [](std::string_view line) { observe::logger().warn("{}", line); });
  });
  if (std::max(1, options.io_threads) == 1 && options.idle_wait != WaitStrategy::block) {
    internals_->hot_read = std::make_unique<transport::HotReadSlot>();
    // spin means never sleep, whoever else wants the core.
    if (options.idle_wait == WaitStrategy::adaptive) {
      internals_->idle_hint = std::make_unique<transport::IdleHint>();
    }
  }
  // Process-wide metrics, registered once per runtime.
  auto& metrics = internals_->metrics;
  metrics.gauge("plexus_build_info", "Always 1; the plexus version is the label", {"version"})
      .with({std::string(plexus::version())})
      .set(1);
  metrics.add_collector(
      "plexus_process_resident_memory_bytes", "Resident set size of this process",
      observe::MetricType::gauge, {}, [](std::vector<observe::Sample>& out) {
        out.push_back({{}, static_cast<double>(platform::resident_memory_bytes()), {}});
      });
  metrics
      .counter("plexus_client_reconnects_total",
               "Times a client on this runtime connected again after losing its server")
      .with();
  const int n = std::max(1, options.io_threads);
  for (int i = 0; i < n; ++i) {
    threads_.emplace_back([this] { run_io_thread(); });
    thread_ids_.push_back(threads_.back().get_id());
  }
}

Runtime::~Runtime() {
  internals_->workers->stop();
  work_.reset();
  io_.stop();
  for (auto& t : threads_) t.join();
  internals_->hot_read.reset();  // before io_ (see Internals::hot_read)
  // Jobs the pool never started go with it, and with them the last references to their
  // sessions, whose timers need io_: before io_ (see Internals::workers).
  internals_->workers.reset();
}

namespace {
// How long one look at the hot socket (transport/hot_read.hpp) polls it before the thread goes
// through the reactor again: handlers the reactor just made ready (they queue behind the look),
// timers and work posted from other threads wait at most this long. Shorter looks leave more
// of each idle cycle to epoll_wait, where messages then arrive (docs/decisions/0008).
constexpr std::chrono::microseconds kHotLook{4};
// Busy this long with work other than input on the hot socket (other sockets, timers, posted
// work; not the looks themselves), the thread sends that socket back to the reactor.
constexpr std::chrono::microseconds kHotBusy{4};
}  // namespace

// Spinning is io_.poll() in a loop: each look runs the reactor without blocking (epoll_wait with
// a zero timeout) and every handler that is ready, so sockets, timers and work posted from
// other threads are all served while the thread spins. A peer's message that arrives then
// finds no sleeper to wake: on this project's VMs a wake-up costs tens of µs, a look ~1 µs.
// While idle, the socket that brought the last input is polled directly between two trips
// through the reactor (HotReadSlot): most messages are then read by one recv, where the reactor
// costs an epoll_wait, the recv and a recv that finds nothing.
//
// adaptive needs the thread to be alone: with several I/O threads, one of them asleep in
// run_one() may hold Asio's reactor (blocked in epoll_wait), and then another's poll() cannot
// see the sockets at all; it would burn its budget while the next message still wakes the
// sleeper. So several threads sleep at once under adaptive. (spin is safe: no thread ever
// sleeps, so the reactor is always free for whichever polls next.)
void Runtime::run_io_thread() {
  const bool alone = std::max(1, options_.io_threads) == 1;
  if (options_.idle_wait == WaitStrategy::block ||
      (options_.idle_wait == WaitStrategy::adaptive && !alone)) {
    io_.run();
    return;
  }
  using Clock = platform::AdaptiveSpin::Clock;
  platform::AdaptiveSpin spin(options_.idle_wait, options_.min_spin, options_.max_spin);
  // Made by the constructor whenever the thread polls: spin, or adaptive alone. (spin with
  // several threads has none: which thread would poll the socket?)
  transport::HotReadSlot* hot = internals_->hot_read.get();
  transport::IdleHint* hint = internals_->idle_hint.get();
  transport::IdleHint::current() = hint;
  bool look_pending = false;         // a look at the hot socket is posted and has not run yet
  bool look_ran = false;             // it ran in the last poll
  bool look_found = false;           // and brought input
  Clock::duration look_spent{};      // and lasted this long
  Clock::duration busy_elsewhere{};  // time on other work since the last input on the socket
  // Through the io_context, so that what the input causes runs inside a handler as it always
  // does (asio::dispatch runs inline only there).
  const auto post_look = [&] {
    if (look_pending) return;
    look_pending = true;
    asio::post(io_, [hot, &look_ran, &look_found, &look_spent] {
      look_ran = true;
      const auto start = Clock::now();
      look_found = hot->poll_for(kHotLook);
      look_spent = Clock::now() - start;
    });
  };
  auto before = Clock::now();
  spin.woke(before);
  for (;;) {
    // With a look posted, poll_one(): the reactor, then (usually) the look, and not the second
    // epoll_wait after it that poll() makes before it returns (a shorter round trip).
    look_ran = false;
    look_spent = {};
    std::size_t ran = 0;
    if (look_pending) {
      ran = io_.poll_one();
    } else if (hot) {
      // Bounded: handlers that keep posting themselves (a shared-memory connection that spins
      // by request) would keep poll() from ever returning, and a hot socket, read only from
      // this loop, would never be read again (a socket the reactor reads takes the slot inside
      // poll()). Past kHotBusy it goes back to the reactor below.
      const auto start = Clock::now();
      while (io_.poll_one() > 0) {
        ++ran;
        if (Clock::now() - start > kHotBusy) break;
      }
    } else {
      ran = io_.poll();
    }
    if (look_ran) look_pending = false;
    // A look is a handler itself: it counts as work only when it brought input.
    const std::size_t worked = look_ran ? (ran > 0 ? ran - 1 : 0) + (look_found ? 1 : 0) : ran;
    const auto now = Clock::now();
    const auto spent_elsewhere = now - before - look_spent;
    before = now;
    const unsigned takes = hot ? hot->takes_since_last_look() : 0;
    if (takes > 0) busy_elsewhere = {};
    if (worked > 0) {
      spin.found_work(now);
      if (takes == 1) {
        // Input on one socket (with what it caused), and its answers are on their way: look
        // again at once (after anything it posted), since the next message is likely their
        // reply. Input on several sockets at once is a busy thread: the reactor serves them.
        post_look();
      } else if (takes == 0 && hot && hot->occupied() &&
                 (busy_elsewhere += spent_elsewhere) > kHotBusy) {
        // Busy with other work: the socket goes back to the reactor, which sees it along with
        // everything else, rather than wait unread. Counted in time, not in handlers: the
        // reactor reports each arrival on the hot socket too, as a handler that does nothing.
        hot->park();
      }
      continue;
    }
    if (io_.stopped()) break;
    // Asked to leave the core to an application thread: sleep now (the hint is not kept
    // beyond this idle moment).
    const bool yield_core = hint && hint->take(now);
    if (!yield_core && spin.may_spin(now)) {
      if (hot && hot->occupied()) {
        post_look();
      } else {
        platform::cpu_relax();
      }
      continue;
    }
    if (hot) hot->park();
    spin.sleeping();
    if (io_.run_one() == 0) break;  // stopped while asleep
    before = Clock::now();          // the sleep was not work
    spin.woke(before);
  }
  if (hot) hot->clear();
}

asio::any_io_executor Runtime::serial_executor() {
  if (options_.io_threads <= 1) return io_.get_executor();
  return asio::make_strand(io_);
}

bool Runtime::running_in(const asio::any_io_executor& executor) {
  // The io_context's own executor first: it is what a one-thread runtime (the default) hands
  // out, and a type check that fails costs a string comparison of the type names.
  if (const auto* io = detail::executor_target<asio::io_context::executor_type>(executor)) {
    return io->running_in_this_thread();
  }
  using Strand = asio::strand<asio::io_context::executor_type>;
  if (const auto* strand = detail::executor_target<Strand>(executor)) {
    return strand->running_in_this_thread();
  }
  return false;
}

bool Runtime::on_io_thread() const {
  const auto me = std::this_thread::get_id();
  return std::find(thread_ids_.begin(), thread_ids_.end(), me) != thread_ids_.end();
}

}  // namespace plexus

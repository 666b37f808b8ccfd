// The ZeroMQ row of plexus_bench_conns: a ROUTER in a forked child process bound to ipc://, N
// idle DEALERs connecting to it from this process (and, past this process's open-file limit,
// from a helper process: zmq_dealer_crowd.hpp), and one more DEALER that carries the echo round
// trips and asks the ROUTER what it has seen.
//
// The ROUTER counts a connection as done when the DEALER's one message ("h") has arrived, and
// counts the connections it holds with a socket monitor (accepted minus disconnected), which is
// how the run checks that all N are held and, at the end, that all of them have gone.
#include "conns_case.hpp"
#include "proc_status.hpp"
#include "server_process.hpp"
#include "zmq_dealer_crowd.hpp"

#include <unistd.h>
#include <zmq.h>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <thread>

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kReplyTimeoutMs = 90000;  // the longest a question to the ROUTER may take
constexpr std::chrono::seconds kCloseTimeout{30};
constexpr int kJoinTimeoutMs = 10000;
constexpr int kListenBacklog = 4096;
// Sockets of the ROUTER's context and of this process's beyond the DEALERs: monitor, control.
constexpr std::size_t kSpareSockets = 64;

// What the control DEALER sends; the first byte says what it is.
constexpr char kGreeting = 'h';  // an idle DEALER's one message
constexpr char kEcho = 'e';      // answered with the same bytes
constexpr char kStatus = 's';    // answered with "<greeted> <open>"
constexpr char kWaitFor = 'w';   // "w<n>": answered with the status once n greetings arrived
constexpr char kQuit = 'q';

struct RouterStatus {
  std::size_t greeted = 0;  // idle DEALERs whose greeting arrived
  std::size_t open = 0;     // connections the ROUTER holds (the control DEALER's included)
};

class Router {
 public:
  Router(void* ctx, const std::string& endpoint) {
    router_ = zmq_socket(ctx, ZMQ_ROUTER);
    if (!router_) throw_zmq("zmq_socket(ROUTER)");
    const int zero = 0;
    zmq_setsockopt(router_, ZMQ_LINGER, &zero, sizeof zero);
    // The plexus listener's backlog (SOMAXCONN); ZeroMQ's default of 100 would turn a burst
    // of connects into refusals it retries only after its reconnect interval.
    const int backlog = kListenBacklog;
    zmq_setsockopt(router_, ZMQ_BACKLOG, &backlog, sizeof backlog);
    if (zmq_socket_monitor(router_, "inproc://conns-monitor",
                           ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
      throw_zmq("zmq_socket_monitor");
    }
    monitor_ = zmq_socket(ctx, ZMQ_PAIR);
    if (!monitor_) throw_zmq("zmq_socket(PAIR)");
    // No high-water mark towards us: a burst of 10,000 accepts must not lose events.
    zmq_setsockopt(monitor_, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(monitor_, ZMQ_LINGER, &zero, sizeof zero);
    if (zmq_connect(monitor_, "inproc://conns-monitor") != 0) throw_zmq("connect monitor");
    if (zmq_bind(router_, endpoint.c_str()) != 0) throw_zmq("zmq_bind " + endpoint);
  }
  ~Router() {
    zmq_close(monitor_);
    zmq_close(router_);
  }

  void run() {
    zmq_pollitem_t items[] = {{router_, 0, ZMQ_POLLIN, 0}, {monitor_, 0, ZMQ_POLLIN, 0}};
    while (!quit_) {
      if (zmq_poll(items, 2, -1) < 0) {
        if (zmq_errno() == EINTR) continue;
        throw_zmq("zmq_poll");
      }
      while (read_monitor_event()) {
      }
      while (!quit_ && read_message()) {
      }
      if (wait_for_ && status_.greeted >= *wait_for_) {
        wait_for_.reset();
        reply_status();
      }
    }
  }

 private:
  bool read_monitor_event() {
    zmq_msg_t event, address;
    zmq_msg_init(&event);
    if (zmq_msg_recv(&event, monitor_, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&event);
      return false;
    }
    std::uint16_t id = 0;
    std::memcpy(&id, zmq_msg_data(&event), sizeof id);  // u16 event, u32 value, then address
    zmq_msg_close(&event);
    zmq_msg_init(&address);
    zmq_msg_recv(&address, monitor_, 0);
    zmq_msg_close(&address);
    if (id == ZMQ_EVENT_ACCEPTED) ++status_.open;
    if (id == ZMQ_EVENT_DISCONNECTED) --status_.open;
    return true;
  }

  bool read_message() {
    zmq_msg_t identity;
    zmq_msg_init(&identity);
    if (zmq_msg_recv(&identity, router_, ZMQ_DONTWAIT) < 0) {
      zmq_msg_close(&identity);
      return false;
    }
    char body[4096];
    const int n = zmq_recv(router_, body, sizeof body, 0);
    if (n > 0 && body[0] == kGreeting) {
      ++status_.greeted;
    } else if (n > 0 && body[0] == kEcho) {
      zmq_send(router_, zmq_msg_data(&identity), zmq_msg_size(&identity), ZMQ_SNDMORE);
      zmq_send(router_, body, static_cast<std::size_t>(std::min<int>(n, sizeof body)), 0);
    } else if (n > 0) {
      control_.assign(static_cast<const char*>(zmq_msg_data(&identity)), zmq_msg_size(&identity));
      if (body[0] == kStatus) reply_status();
      if (body[0] == kWaitFor) wait_for_ = std::stoull(std::string(body + 1, n - 1));
      if (body[0] == kQuit) quit_ = true;
    }
    zmq_msg_close(&identity);
    return true;
  }

  void reply_status() {
    const std::string text = std::to_string(status_.greeted) + " " + std::to_string(status_.open);
    zmq_send(router_, control_.data(), control_.size(), ZMQ_SNDMORE);
    zmq_send(router_, text.data(), text.size(), 0);
  }

  void* router_ = nullptr;
  void* monitor_ = nullptr;
  RouterStatus status_;
  std::string control_;  // the control DEALER's routing id
  std::optional<std::size_t> wait_for_;
  bool quit_ = false;
};

// The extra DEALER of this process: echo round trips, and questions to the ROUTER.
class Control {
 public:
  Control(void* ctx, const std::string& endpoint) {
    socket_ = zmq_socket(ctx, ZMQ_DEALER);
    if (!socket_) throw_zmq("zmq_socket(DEALER)");
    const int zero = 0, timeout = kReplyTimeoutMs;
    zmq_setsockopt(socket_, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(socket_, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect(socket_, endpoint.c_str()) != 0) throw_zmq("zmq_connect(control)");
  }
  ~Control() { zmq_close(socket_); }

  RouterStatus status() { return ask(std::string(1, kStatus)); }
  RouterStatus wait_for_greetings(std::size_t n) { return ask(kWaitFor + std::to_string(n)); }
  void quit() { send(std::string(1, kQuit)); }

  void echo(const std::string& payload) {
    send(payload);
    if (receive() != payload) throw std::runtime_error("zmq: echo answered something else");
  }

 private:
  RouterStatus ask(const std::string& question) {
    send(question);
    const std::string answer = receive();
    RouterStatus s;
    s.greeted = std::stoull(answer);
    s.open = std::stoull(answer.substr(answer.find(' ') + 1));
    return s;
  }
  void send(const std::string& m) {
    if (zmq_send(socket_, m.data(), m.size(), 0) < 0) throw_zmq("zmq_send(control)");
  }
  std::string receive() {
    char buf[4096];
    int n;
    // A signal (a child's exit) may interrupt the wait: retry; a timeout is a failure.
    while ((n = zmq_recv(socket_, buf, sizeof buf, 0)) < 0) {
      if (zmq_errno() != EINTR) throw_zmq("zmq: no answer from the ROUTER");
    }
    return std::string(buf, static_cast<std::size_t>(std::min<int>(n, sizeof buf)));
  }

  void* socket_ = nullptr;
};

void check_held(const RouterStatus& s, std::size_t expected) {
  if (s.greeted != expected || s.open != expected + 1) {
    throw std::runtime_error("zmq: expected " + std::to_string(expected) +
                             " idle DEALERs + the control one; the ROUTER has " +
                             std::to_string(s.greeted) + " greetings and " +
                             std::to_string(s.open) + " connections");
  }
}

}  // namespace

ConnsResult run_zmq_conns(const ConnsPlan& plan) {
  const std::string endpoint = "ipc://" + plan.scratch_dir + "/zmq-router.sock";
  const std::size_t n = plan.conns();
  const std::size_t max_sockets = n + kSpareSockets;
  // Both children before this process makes a zmq context (server_process.hpp).
  ServerProcess router_process([&](const std::function<void()>& ready) {
    raise_open_file_limit();
    void* ctx = new_zmq_context(kSpareSockets);
    {
      Router router(ctx, endpoint);
      ready();
      router.run();
    }
    zmq_ctx_term(ctx);
  });
  const std::size_t here = std::min(n, dealers_per_process(plan.open_file_limit));
  std::unique_ptr<DealerCrowdProcess> helper;
  if (here < n) helper = std::make_unique<DealerCrowdProcess>(endpoint, max_sockets);

  void* ctx = new_zmq_context(max_sockets);
  ConnsResult r;
  {
    Control control(ctx, endpoint);
    DealerCrowd crowd(ctx, endpoint);
    const std::string payload = kEcho + std::string(plan.echo_payload - 1, 'x');
    auto echo = [&] { control.echo(payload); };
    auto client_rss = [&] {
      return vm_rss_kib(getpid()) + (helper ? vm_rss_kib(helper->pid()) : 0);
    };

    r.name = "zmq-router-ipc";
    r.conns = n;
    r.note = "ROUTER (forked child) over ipc://, N DEALERs each sending one message";
    if (helper) {
      r.note += " (" + std::to_string(n - here) +
                " of them in a helper process: a DEALER takes 2 descriptors, and the open-file "
                "limit is " +
                std::to_string(plan.open_file_limit) + ")";
    }
    r.note += "; echo: one more DEALER, blocking send/recv";
    r.echo_alone = time_round_trips(plan.echo_warmup, plan.echo_calls, echo);
    check_held(control.status(), 0);
    std::this_thread::sleep_for(kSettle);
    r.server_rss_before_kib = vm_rss_kib(router_process.pid());
    r.client_rss_before_kib = client_rss();
    for (const std::size_t level : plan.levels) {
      const double cpu_start = cpu_seconds(router_process.pid());
      const auto start = Clock::now();
      // Levels ascend: this process's DEALERs first, the helper's past its share.
      crowd.add(std::min(level, here) - crowd.size());
      if (helper && level > here) helper->add(level - here - helper->size());
      control.wait_for_greetings(level);
      r.open_seconds += std::chrono::duration<double>(Clock::now() - start).count();
      r.server_cpu_open_seconds += cpu_seconds(router_process.pid()) - cpu_start;
      std::this_thread::sleep_for(kSettle);
      r.held.push_back({level, vm_rss_kib(router_process.pid()), client_rss()});
      check_held(control.status(), level);
    }
    r.echo_held = time_round_trips(plan.echo_warmup, plan.echo_calls, echo);
    check_held(control.status(), n);

    crowd.close_all();
    if (helper) helper->close_all();
    const auto give_up = Clock::now() + kCloseTimeout;
    while (control.status().open != 1) {
      if (Clock::now() > give_up) throw std::runtime_error("zmq: closed connections linger");
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::this_thread::sleep_for(kSettle);
    r.server_rss_after_kib = vm_rss_kib(router_process.pid());
    control.quit();
  }
  helper.reset();
  zmq_ctx_term(ctx);
  if (!router_process.join(kJoinTimeoutMs)) throw std::runtime_error("zmq: the ROUTER failed");
  return r;
}

}  // namespace plexus_bench

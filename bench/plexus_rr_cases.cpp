// plexus rows: a plexus::Client calling an "echo" SyncHandler of a plexus::Server running in a
// forked child process.
//   plexus-unix           Unix socket; round trips and pipelined calls both with call_async,
//                         each completion (on the I/O thread) starting the next call
//                         (plexus_drivers.hpp)
//   plexus-unix-metrics-off  plexus-unix with ServerOptions::metrics = false: no per-method
//                         calls/errors/latency. Beside plexus-unix (metrics on, the default),
//                         it shows what the metrics cost per round trip
//   plexus-tcp            the same over TCP on 127.0.0.1 (port chosen by the server)
//   plexus-tls            the same over tls:// on 127.0.0.1: TLS 1.3, a P-256 server
//                         certificate made at run time with the openssl tool. Measured with
//                         plexus-tcp, their calls in slices that take turns (run_tcp_tls), so
//                         the ratio of the two (issue 25's target) is not the VM's noise
// Figures beside the rows: plexus-tls-handshakes and plexus-tcp-connects, Client::connect
// (TCP connect, the TLS handshake for tls://, HELLO/WELCOME) and close in a loop for ~2 s.
//   plexus-unix-block     plexus-unix with RuntimeOptions::idle_wait = block on both sides: the
//                         I/O threads sleep as soon as they are idle, like raw-unix does, so
//                         every message pays a wake-up (the like-for-like row for raw-unix;
//                         plexus-unix, with the default adaptive wait, compares with
//                         raw-unix-busypoll)
//   plexus-unix-blocking  Unix socket; blocking client.call() from the benchmark thread: it
//                         writes its request itself while the socket's writing side is idle,
//                         and its answer comes through the I/O thread (one hand-off per call).
//                         It cannot pipeline from one thread: sequential calls/s, shown as (seq)
//   plexus-unix-callback  Unix socket; call_async from the benchmark thread (not an I/O thread),
//                         its completion run there through a plexus::CompletionQueue
//                         (AppThreadCompletions): round trips one at a time, and pipelined with
//                         the window of the other rows. What an application's own thread gets
//                         from the callback form, beside plexus-unix's completions that start
//                         the next call on the I/O thread
//   plexus-unix-lane      a message round trip instead of a call: the client sends on a lane to
//                         the server's "ping", whose handler sends it back on a lane to the
//                         client's "pong" (LanePingPong, plexus_drivers.hpp). No answer frame,
//                         no call table: one LANE_DATA frame each way
//   plexus-shm-spin, plexus-shm-adaptive, plexus-shm-lane-spin, plexus-shm-lane-adaptive
//                         the same over shared memory (?shm=1), with that wait strategy on the
//                         rings (plexus_bench_shm shows them beside their own limits)
//   plexus-shm-blocking, plexus-shm-callback
//                         plexus-unix-blocking and plexus-unix-callback over shared memory with
//                         the default wait (?shm=1, adaptive): the application-thread forms
//                         beside plexus-shm-adaptive's I/O-thread form;
//                         plexus-shm-blocking-loaned (and plexus-unix-blocking-loaned beside
//                         it): the blocking form with the request and the answer written in
//                         loaned regions (Caller::call_loaned, CallContext::loan_answer), in the
//                         rings themselves over shared memory, instead of built as strings,
//                         and the answer read as a view (CallOptions::answer_view), where it
//                         lies in the ring when the calling thread reads it;
//                         plexus-shm-spin-blocking: the blocking form with every thread spinning
//                         (idle_wait and shm_wait spin), beside plexus-shm-spin
//   plexus-shm-spin-view  plexus-shm-spin with the answers taken as views (call_async_view): a
//                         large answer is read where it lies in the ring, not copied out
//   plexus-direct-spin, plexus-direct-adaptive
//                         a direct channel (plexus/direct.hpp) opened over the Unix socket: the
//                         benchmark thread sends and receives on the rings itself; a thread of
//                         the server's sends each message back. Both sides wait that way
// The client closes the run with a "bye" call, after which the server shuts down by itself.
#include "plexus_drivers.hpp"
#include "rr_case.hpp"
#include "rr_driver.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <plexus/plexus.hpp>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace plexus_bench {
namespace {

constexpr int kJoinTimeoutMs = 5000;
constexpr const char* kEcho = "echo";
constexpr const char* kEchoLoaned = "echo.loaned";  // writes its answer in a loaned region
constexpr const char* kBye = "bye";
constexpr const char* kPing = "ping";           // the lane rows: the server sends each one back ...
constexpr const char* kPong = "pong";           // ... on a lane to this method of the client
constexpr const char* kDirect = "echo.direct";  // the direct rows' channel
// Holds a 1 MiB message with room for two more behind it, like the shm transport's default.
constexpr std::uint64_t kDirectRingBytes = 4u << 20;

// All client-side state below is touched from exactly one I/O thread: that is what lets the
// pipelined driver keep its counters without locks.
constexpr int kIoThreads = 1;

void check_reply(const plexus::Result<std::string>& reply, std::size_t payload_size) {
  if (!reply) throw std::runtime_error("echo failed: " + reply.error().to_string());
  if (reply->size() != payload_size) throw std::runtime_error("bad plexus reply size");
}

// Carries the server's bound address (a tcp port 0 becomes the chosen port) from the child to
// the parent. Created before fork(); the child writes one line before it signals ready, so the
// parent finds it complete once the ServerProcess constructor returns.
class AddressPipe {
 public:
  AddressPipe() {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) throw_errno("pipe2");
    read_ = UniqueFd(fds[0]);
    write_ = UniqueFd(fds[1]);
  }

  // Child side.
  void send(const std::string& address) {
    const std::string line = address + '\n';
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = write(write_.get(), line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("write(address pipe)");
      done += static_cast<std::size_t>(n);
    }
  }

  // Parent side, after the child signalled ready.
  std::string receive() {
    write_.reset();  // the parent never writes; the child keeps its own copy
    std::string address;
    for (;;) {
      char c = 0;
      const ssize_t n = read(read_.get(), &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw_errno("read(address pipe)");
      if (n == 0) throw std::runtime_error("server child sent no address");
      if (c == '\n') return address;
      address += c;
    }
  }

 private:
  UniqueFd read_;
  UniqueFd write_;
};

// The TLS rows' files, made once per run in the scratch directory with the openssl tool: a CA
// and a server certificate for 127.0.0.1 signed by it. Made before fork(): the server child
// reads the same paths.
struct TlsFiles {
  std::string ca, certificate, key;
};

TlsFiles& tls_files() {
  static TlsFiles files;
  return files;
}

void make_tls_files(const std::string& dir) {
  if (!tls_files().ca.empty()) return;
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1";
  const std::string command =
      "cd '" + dir + "' && (openssl req -x509 " + ec +
      " -keyout bench-ca.key -out bench-ca.pem -subj '/CN=plexus bench CA'"
      " && openssl req " +
      ec +
      " -keyout bench-server.key -out bench-server.csr"
      " -subj '/CN=localhost'"
      " && printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > bench-server.ext"
      " && openssl x509 -req -in bench-server.csr -CA bench-ca.pem -CAkey bench-ca.key"
      " -set_serial 1 -days 1 -out bench-server.pem -extfile bench-server.ext) >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("the openssl tool could not make the TLS certificates in " + dir);
  }
  tls_files() = {dir + "/bench-ca.pem", dir + "/bench-server.pem", dir + "/bench-server.key"};
}

// The server child: its own Runtime and Server, created after fork().
// The direct rows' server side: one thread per channel, sending every message back until the
// channel ends (the client closes it before it says bye).
void echo_direct(plexus::DirectChannel channel) {
  for (;;) {
    auto message = channel.receive();
    if (!message || !channel.send(*message)) break;
  }
  channel.close();
}

// Listens on every address of `listen`; sends the bound addresses, in that order, separated by
// spaces.
void serve(const std::vector<std::string>& listen, AddressPipe& address_pipe,
           const std::function<void()>& ready, bool metrics, plexus::WaitStrategy idle_wait,
           plexus::WaitStrategy direct_wait) {
  std::vector<std::thread> direct_echoes;  // joined after the server has shut down
  plexus::RuntimeOptions runtime_options{kIoThreads};
  runtime_options.idle_wait = idle_wait;
  plexus::Runtime runtime(runtime_options);
  std::promise<void> bye;  // outlives the server, whose handler sets it
  auto bye_said = bye.get_future();
  std::optional<plexus::Lane> pong;  // outlives the server too; opened by the first ping
  plexus::ServerOptions options;
  options.listen = listen;
  options.name = "plexus-bench-server";
  options.metrics = metrics;
  if (std::any_of(listen.begin(), listen.end(),
                  [](const std::string& a) { return a.starts_with("tls://"); })) {
    options.tls.certificate_file = tls_files().certificate;
    options.tls.private_key_file = tls_files().key;
  }
  auto server = unwrap(plexus::Server::create(runtime, std::move(options)), "Server::create");
  server->handle(kEcho, [](plexus::CallContext&, std::string_view payload) {
    return plexus::Result<std::string>(std::string(payload));
  });
  server->handle(kEchoLoaned, [](plexus::CallContext& ctx, std::string_view payload) {
    char* at = ctx.loan_answer(payload.size());
    if (!at) return plexus::Result<std::string>(std::string(payload));
    std::memcpy(at, payload.data(), payload.size());
    ctx.commit_answer(payload.size());
    return plexus::Result<std::string>(std::string());
  });
  server->handle(kPing, [&pong](plexus::CallContext& ctx, std::string_view payload) {
    if (!pong) pong = unwrap(ctx.peer().open_lane(kPong), "open_lane pong");
    // A lost pong fails the row: the client's driver stops waiting after kStallTimeout.
    if (auto sent = pong->send(payload); !sent)
      return plexus::Result<std::string>(tl::unexpected(sent.error()));
    return plexus::Result<std::string>(std::string());
  });
  server->handle(kBye, [&bye, said = false](plexus::CallContext&, std::string_view) mutable {
    if (!std::exchange(said, true)) bye.set_value();
    return plexus::Result<std::string>(std::string());
  });
  plexus::DirectOptions direct_options;
  direct_options.wait = direct_wait;
  plexus::handle_direct(
      *server, kDirect,
      [&direct_echoes](plexus::CallContext&, plexus::DirectChannel channel) {
        direct_echoes.emplace_back(echo_direct, std::move(channel));
      },
      direct_options);
  check(server->start(), "Server::start");
  std::string bound;
  for (const auto& a : server->addresses()) bound += (bound.empty() ? "" : " ") + a;
  address_pipe.send(bound);
  ready();
  // No timeout needed: if the client dies instead of saying bye, the parent kills this process
  // (ServerProcess: join timeout, PDEATHSIG).
  bye_said.wait();
  server->shutdown(plexus::Millis{1000});
  for (auto& t : direct_echoes) t.join();
}

std::unique_ptr<plexus::Client> connect_client(plexus::Runtime& runtime,
                                               const std::string& address) {
  plexus::ClientOptions options;
  options.address = address;
  options.name = "plexus-bench-client";
  // A lost connection must fail the row, not be papered over by a reconnect.
  options.reconnect.enabled = false;
  if (address.starts_with("tls://")) options.tls.ca_file = tls_files().ca;
  return unwrap(plexus::Client::connect(runtime, std::move(options)), "connect " + address);
}

enum class CallStyle { on_io_thread, views, blocking, blocking_loaned, app_callback, lane, direct };

// Completions of call_async made from the benchmark thread, run on that thread through a
// plexus::CompletionQueue (as the README shows an application thread collecting its callbacks):
// the I/O thread queues them and wakes the benchmark thread once per batch, only if it sleeps.
class AppThreadCompletions {
 public:
  plexus::CallCallback callback(std::size_t payload_size) {
    return queue_.deliver([this, payload_size](plexus::Result<std::string> reply) {
      if (!reply || reply->size() != payload_size) failed_ = true;
      ++done_;
    });
  }
  // Blocks until one more call than taken so far has completed (any of those in flight).
  void take() {
    ++taken_;
    while (done_ < taken_) {
      if (queue_.run_for(kStallTimeout) == 0) {
        throw std::runtime_error("call_async from the application thread: no completion in time");
      }
    }
    if (failed_) throw std::runtime_error("call_async from the application thread failed");
  }

 private:
  plexus::CompletionQueue queue_;
  std::uint64_t done_ = 0;  // all three: the benchmark thread's alone (callbacks run there)
  std::uint64_t taken_ = 0;
  bool failed_ = false;
};

void check_reply(const plexus::Result<std::string_view>& reply, std::size_t payload_size) {
  if (!reply) throw std::runtime_error("direct receive failed: " + reply.error().to_string());
  if (reply->size() != payload_size) throw std::runtime_error("bad direct reply size");
}

// `window` messages in flight on a direct channel, from this one thread: it sends while the
// window has room and the ring takes the message at once, else it takes a reply (never waiting
// on a full ring while the server waits on ours). Returns the seconds `count` round trips took.
double direct_pipelined(plexus::DirectChannel& channel, const std::string& payload,
                        std::uint64_t count, std::uint32_t window) {
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0, received = 0;
  while (received < count) {
    if (sent < count && sent - received < window) {
      auto ok = channel.send(payload, std::chrono::nanoseconds{0});
      if (ok) {
        ++sent;
        continue;
      }
      if (ok.error().code != plexus::StatusCode::deadline_exceeded) check(ok, "direct send");
    }
    check_reply(channel.receive(kStallTimeout), payload.size());
    ++received;
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

RrResult run_plexus(const RrParams& params, const std::string& listen_address,
                    const std::string& socket_file,  // empty: none to clean up
                    CallStyle style, bool metrics = true,
                    plexus::WaitStrategy idle_wait = plexus::WaitStrategy::adaptive,
                    plexus::WaitStrategy direct_wait = plexus::WaitStrategy::adaptive) {
  // The library logs connects and shutdowns at info level; keep them out of the table unless
  // the user asked for them. Set before fork() so the server child inherits it.
  setenv("PLEXUS_LOG", "warn", /*overwrite=*/0);
  std::optional<SocketFileGuard> file_guard;  // removes the socket file however we leave
  if (!socket_file.empty()) file_guard.emplace(socket_file);
  AddressPipe address_pipe;
  ServerProcess server([&](const std::function<void()>& ready) {
    serve({listen_address}, address_pipe, ready, metrics, idle_wait, direct_wait);
  });
  const std::string address = address_pipe.receive();

  RrResult result;
  const std::string payload(params.payload_size, 'x');
  {
    // Declaration order is destruction order reversed: the client closes (failing any call
    // still in flight) while the drivers its callbacks point to are alive, and the runtime
    // joins its thread before they go.
    Pipeliner pipeliner;
    RoundTripper round_tripper;
    LanePingPong lanes;
    AppThreadCompletions app_completions;
    plexus::RuntimeOptions runtime_options{kIoThreads};
    runtime_options.idle_wait = idle_wait;
    plexus::Runtime runtime(runtime_options);
    auto client = connect_client(runtime, address);

    if (style == CallStyle::on_io_thread || style == CallStyle::views) {
      round_tripper.use_views(style == CallStyle::views);
      pipeliner.use_views(style == CallStyle::views);
      result.rt_us = std::move(round_tripper.run(runtime, *client, params, {kEcho}, payload)[0]);
      result.pipelined_seconds =
          pipeliner.run(runtime, *client, kEcho, payload, params.pipelined_count, params.window);
      result.pipelined_calls = params.pipelined_count;
      result.pipeline_mode = PipelineMode::windowed;
    } else if (style == CallStyle::lane) {
      lanes.attach(*client, kPing, kPong);
      result.rt_us = lanes.round_trips(runtime, params, payload);
      result.pipelined_seconds =
          lanes.pipelined(runtime, payload, params.pipelined_count, params.window);
      result.pipelined_calls = params.pipelined_count;
      result.pipeline_mode = PipelineMode::windowed;
    } else if (style == CallStyle::direct) {
      plexus::DirectOptions direct_options;
      direct_options.ring_bytes = kDirectRingBytes;
      direct_options.wait = direct_wait;
      auto channel = unwrap(plexus::open_direct(*client, kDirect, direct_options), "open_direct");
      result.rt_us = time_round_trips(params, [&] {
        check(channel.send(payload), "direct send");
        check_reply(channel.receive(kStallTimeout), params.payload_size);
      });
      result.pipelined_seconds =
          direct_pipelined(channel, payload, params.pipelined_count, params.window);
      result.pipelined_calls = params.pipelined_count;
      result.pipeline_mode = PipelineMode::windowed;
      channel.close();
    } else if (style == CallStyle::app_callback) {
      const auto send_one = [&] {
        client->call_async(kEcho, payload, {}, app_completions.callback(params.payload_size));
      };
      result.rt_us = time_round_trips(params, [&] {
        send_one();
        app_completions.take();
      });
      result.pipelined_seconds = time_windowed(params.pipelined_count, params.window, send_one,
                                               [&] { app_completions.take(); });
      result.pipelined_calls = params.pipelined_count;
      result.pipeline_mode = PipelineMode::windowed;
    } else {
      // blocking_loaned: the request made where it goes, as an application that produces it
      // in place would (the copy from `payload` stands for that), the answer made likewise by
      // the server, and read where it lies (a view).
      std::size_t viewed = 0;
      plexus::CallOptions view_options;
      view_options.answer_view = [&viewed](std::string_view answer) { viewed = answer.size(); };
      const auto call = [&] {
        if (style == CallStyle::blocking_loaned) {
          viewed = 0;
          auto r = client->call_loaned(
              kEchoLoaned, payload.size(),
              [&](std::span<char> region) {
                std::memcpy(region.data(), payload.data(), payload.size());
                return payload.size();
              },
              view_options);
          check_reply(std::move(r), 0);
          if (viewed != params.payload_size) throw std::runtime_error("short answer (view)");
        } else {
          check_reply(client->call(kEcho, payload), params.payload_size);
        }
      };
      result.rt_us = time_round_trips(params, call);
      // One thread blocked in call() has one call in flight: report back-to-back calls,
      // capped at rt_count like the other sequential row.
      result.pipelined_calls = std::min(params.pipelined_count, params.rt_count);
      result.pipelined_seconds = time_sequential(result.pipelined_calls, call);
      result.pipeline_mode = PipelineMode::sequential;
    }
    unwrap(client->call(kBye, {}), "bye");
    client->close();
  }
  if (!server.join(kJoinTimeoutMs)) {
    throw std::runtime_error("plexus server (" + address + ") did not exit cleanly");
  }
  return result;
}

RrResult run_unix(const RrParams& params, const char* file, CallStyle style, bool metrics = true,
                  plexus::WaitStrategy idle_wait = plexus::WaitStrategy::adaptive) {
  const std::string path = params.scratch_dir + "/" + file;
  return run_plexus(params, "unix://" + path, path, style, metrics, idle_wait);
}

const RrRegistrar unix_case{RrCase{"plexus-unix", [](const RrParams& p) {
                                     return run_unix(p, "plexus-unix.sock",
                                                     CallStyle::on_io_thread);
                                   }}};

const RrRegistrar unix_metrics_off_case{RrCase{"plexus-unix-metrics-off", [](const RrParams& p) {
                                                 return run_unix(p, "plexus-unix-nometrics.sock",
                                                                 CallStyle::on_io_thread, false);
                                               }}};

const RrRegistrar unix_block_case{RrCase{"plexus-unix-block", [](const RrParams& p) {
                                           return run_unix(p, "plexus-unix-block.sock",
                                                           CallStyle::on_io_thread, true,
                                                           plexus::WaitStrategy::block);
                                         }}};

const RrRegistrar unix_blocking_case{RrCase{"plexus-unix-blocking", [](const RrParams& p) {
                                              return run_unix(p, "plexus-unix-blocking.sock",
                                                              CallStyle::blocking);
                                            }}};
const RrRegistrar unix_blocking_loaned_case{
    RrCase{"plexus-unix-blocking-loaned", [](const RrParams& p) {
             return run_unix(p, "plexus-unix-blocking-loaned.sock", CallStyle::blocking_loaned);
           }}};
const RrRegistrar unix_callback_case{RrCase{"plexus-unix-callback", [](const RrParams& p) {
                                              return run_unix(p, "plexus-unix-callback.sock",
                                                              CallStyle::app_callback);
                                            }}};

// Shared memory negotiated over a Unix socket (?shm=1); the server reports its address with the
// options, so the client spins or adapts exactly like the server.
RrResult run_shm(const RrParams& p, const char* wait, CallStyle style = CallStyle::on_io_thread) {
  const char* suffix = style == CallStyle::lane              ? "-lane"
                       : style == CallStyle::views           ? "-view"
                       : style == CallStyle::blocking        ? "-blocking"
                       : style == CallStyle::blocking_loaned ? "-blocking-loaned"
                       : style == CallStyle::app_callback    ? "-callback"
                                                             : "";
  const std::string path = p.scratch_dir + "/plexus-shm-" + wait + suffix + ".sock";
  return run_plexus(p, "unix://" + path + "?shm=1&shm_wait=" + wait, path, style);
}

const RrRegistrar shm_spin_case{
    RrCase{"plexus-shm-spin", [](const RrParams& p) { return run_shm(p, "spin"); }}};
const RrRegistrar shm_spin_view_case{RrCase{"plexus-shm-spin-view", [](const RrParams& p) {
                                              return run_shm(p, "spin", CallStyle::views);
                                            }}};
const RrRegistrar shm_adaptive_case{
    RrCase{"plexus-shm-adaptive", [](const RrParams& p) { return run_shm(p, "adaptive"); }}};
const RrRegistrar shm_blocking_case{RrCase{"plexus-shm-blocking", [](const RrParams& p) {
                                             return run_shm(p, "adaptive", CallStyle::blocking);
                                           }}};
const RrRegistrar shm_blocking_loaned_case{
    RrCase{"plexus-shm-blocking-loaned",
           [](const RrParams& p) { return run_shm(p, "adaptive", CallStyle::blocking_loaned); }}};
const RrRegistrar shm_spin_blocking_case{
    RrCase{"plexus-shm-spin-blocking", [](const RrParams& p) {
             const std::string path = p.scratch_dir + "/plexus-shm-spin-blocking.sock";
             return run_plexus(p, "unix://" + path + "?shm=1&shm_wait=spin", path,
                               CallStyle::blocking, true, plexus::WaitStrategy::spin);
           }}};
const RrRegistrar shm_callback_case{RrCase{"plexus-shm-callback", [](const RrParams& p) {
                                             return run_shm(p, "adaptive", CallStyle::app_callback);
                                           }}};
const RrRegistrar shm_lane_spin_case{RrCase{
    "plexus-shm-lane-spin", [](const RrParams& p) { return run_shm(p, "spin", CallStyle::lane); }}};
const RrRegistrar shm_lane_adaptive_case{RrCase{"plexus-shm-lane-adaptive", [](const RrParams& p) {
                                                  return run_shm(p, "adaptive", CallStyle::lane);
                                                }}};
const RrRegistrar unix_lane_case{RrCase{"plexus-unix-lane", [](const RrParams& p) {
                                          return run_unix(p, "plexus-unix-lane.sock",
                                                          CallStyle::lane);
                                        }}};

RrResult run_direct(const RrParams& p, plexus::WaitStrategy wait) {
  const std::string path =
      p.scratch_dir + "/plexus-direct-" + std::string(plexus::to_string(wait)) + ".sock";
  return run_plexus(p, "unix://" + path, path, CallStyle::direct, true,
                    plexus::WaitStrategy::adaptive, wait);
}

const RrRegistrar direct_spin_case{RrCase{"plexus-direct-spin", [](const RrParams& p) {
                                            return run_direct(p, plexus::WaitStrategy::spin);
                                          }}};
const RrRegistrar direct_adaptive_case{
    RrCase{"plexus-direct-adaptive",
           [](const RrParams& p) { return run_direct(p, plexus::WaitStrategy::adaptive); }}};

// plexus-tcp and plexus-tls differ by a few microseconds in a round trip that other work on the
// VM moves by more than that between two rows measured one after the other, so they are measured
// together: one server child listens on both, one client runtime holds a client of each, and
// their calls run in slices that take turns (tcp, tls, tcp, …). Slices rather than single calls
// alternating: each slice keeps its socket in the I/O threads' hot-read slots, as a lone
// connection has it. Round k of plexus-tls and round k of plexus-tcp lie in the same pair of
// slices, so the report's paired figure compares moments of the machine that are close.
constexpr std::uint64_t kTcpTlsRoundTripSlice = 100;  // ~1 ms: shorter than the VM's swings
constexpr std::uint64_t kTcpTlsPipelineSlices = 10;   // as the policy rows

std::string address_with_scheme(const std::string& bound, const std::string& scheme) {
  std::size_t begin = 0;
  while (begin < bound.size()) {
    const std::size_t end = std::min(bound.find(' ', begin), bound.size());
    const std::string a = bound.substr(begin, end - begin);
    if (a.starts_with(scheme)) return a;
    begin = end + 1;
  }
  throw std::runtime_error("the server reported no " + scheme + " address: " + bound);
}

RrResult run_tcp_tls(const RrParams& params) {
  setenv("PLEXUS_LOG", "warn", /*overwrite=*/0);
  make_tls_files(params.scratch_dir);
  AddressPipe address_pipe;
  ServerProcess server([&](const std::function<void()>& ready) {
    serve({"tcp://127.0.0.1:0", "tls://127.0.0.1:0"}, address_pipe, ready, true,
          plexus::WaitStrategy::adaptive, plexus::WaitStrategy::adaptive);
  });
  const std::string bound = address_pipe.receive();
  RrResult tcp, tls;
  const std::string payload(params.payload_size, 'x');
  {
    // As run_plexus: drivers first, the clients close before them, the runtime joins first.
    Pipeliner pipeliner;
    RoundTripper round_tripper;
    plexus::Runtime runtime(plexus::RuntimeOptions{kIoThreads});
    auto tcp_client = connect_client(runtime, address_with_scheme(bound, "tcp://"));
    auto tls_client = connect_client(runtime, address_with_scheme(bound, "tls://"));
    const std::array<std::pair<plexus::Client*, RrResult*>, 2> rows = {
        {{tcp_client.get(), &tcp}, {tls_client.get(), &tls}}};
    RrParams slice = params;
    for (std::uint64_t done = 0; done < params.rt_count; done += slice.rt_count) {
      slice.rt_count = std::min(kTcpTlsRoundTripSlice, params.rt_count - done);
      for (auto [client, result] : rows) {
        auto samples = round_tripper.run(runtime, *client, slice, {kEcho}, payload)[0];
        result->rt_us.insert(result->rt_us.end(), samples.begin(), samples.end());
      }
      slice.warmup_count = 0;  // warm once, at the start
    }
    const std::uint64_t per_slice =
        std::max<std::uint64_t>(params.pipelined_count / kTcpTlsPipelineSlices, 1);
    for (std::uint64_t done = 0; done < params.pipelined_count; done += per_slice) {
      const std::uint64_t n = std::min(per_slice, params.pipelined_count - done);
      for (auto [client, result] : rows) {
        result->pipelined_seconds +=
            pipeliner.run(runtime, *client, kEcho, payload, n, params.window);
        result->pipelined_calls += n;
      }
    }
    unwrap(tcp_client->call(kBye, {}), "bye");
    tls_client->close();
    tcp_client->close();
  }
  if (!server.join(kJoinTimeoutMs)) {
    throw std::runtime_error("plexus server (" + bound + ") did not exit cleanly");
  }
  tcp.companions = {std::move(tls)};
  return tcp;
}

const RrRegistrar tcp_tls_case{RrCase{"plexus-tcp", run_tcp_tls, {"plexus-tls"}}};

// Client::connect and close in a loop for ~2 s against a server child on `listen_address`:
// connections made per second (each a TCP connect, the TLS handshake for tls://, and the
// HELLO/WELCOME exchange).
double connects_per_second(const std::string& listen_address) {
  setenv("PLEXUS_LOG", "warn", /*overwrite=*/0);
  AddressPipe address_pipe;
  ServerProcess server([&](const std::function<void()>& ready) {
    serve({listen_address}, address_pipe, ready, true, plexus::WaitStrategy::adaptive,
          plexus::WaitStrategy::adaptive);
  });
  const std::string address = address_pipe.receive();
  double rate = 0;
  {
    plexus::Runtime runtime(plexus::RuntimeOptions{kIoThreads});
    const auto began = std::chrono::steady_clock::now();
    const auto until = began + std::chrono::seconds(2);
    std::uint64_t made = 0;
    auto now = began;
    while (now < until) {
      connect_client(runtime, address)->close();
      ++made;
      now = std::chrono::steady_clock::now();
    }
    rate = static_cast<double>(made) / std::chrono::duration<double>(now - began).count();
    auto last = connect_client(runtime, address);
    unwrap(last->call(kBye, {}), "bye");
    last->close();
  }
  if (!server.join(kJoinTimeoutMs)) {
    throw std::runtime_error("plexus server (" + address + ") did not exit cleanly");
  }
  return rate;
}

const RrFigureRegistrar tls_handshakes{RrFigure{"plexus-tls-handshakes",
                                                "TLS handshakes/s (Client::connect + close)",
                                                [](const std::string& scratch_dir) {
                                                  make_tls_files(scratch_dir);
                                                  return connects_per_second("tls://127.0.0.1:0");
                                                }}};
const RrFigureRegistrar tcp_connects{
    RrFigure{"plexus-tcp-connects", "TCP connects/s (Client::connect + close)",
             [](const std::string&) { return connects_per_second("tcp://127.0.0.1:0"); }}};

}  // namespace
}  // namespace plexus_bench

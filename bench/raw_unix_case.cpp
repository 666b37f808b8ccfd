// "raw-unix": the physical limit. Length-prefixed frames over a blocking
// AF_UNIX stream socket, echoed by a server process. Nothing a real IPC
// library does can be cheaper than this, so every other row is compared to it.
// "raw-unix-busypoll": the same, but both sides poll the socket (non-blocking
// recv in a loop) instead of sleeping in recv: the limit for a library that
// polls before it sleeps (plexus's default RuntimeOptions::idle_wait). Neither
// side ever pays a wake-up, so its round trip is the socket's own cost. (Its
// pipelined phase polls only on the server side; the client waits in poll(2)
// when it can neither send nor receive, as raw-unix does.)
#include "rr_case.hpp"
#include "rr_driver.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace plexus_bench {
namespace {

constexpr int kIdleTimeoutMs = 10000;  // bounds every blocking wait
constexpr int kJoinTimeoutMs = 5000;
constexpr std::size_t kIoChunk = 256 * 1024;  // bytes per recv/send batch

enum class Wait { block, busy_poll };

// recv that waits as `wait` says: blocking (bounded by SO_RCVTIMEO), or polling with
// MSG_DONTWAIT until data, EOF or kIdleTimeoutMs.
ssize_t recv_waiting(int fd, void* buf, std::size_t size, Wait wait) {
  if (wait == Wait::block) return recv(fd, buf, size, 0);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(kIdleTimeoutMs);
  for (unsigned i = 1;; ++i) {
    const ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);
    if (n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return n;
    if (i % 1024 == 0 && std::chrono::steady_clock::now() > deadline) return n;  // EAGAIN
  }
}

// Server: reads whatever is available and echoes every complete frame with
// one send, so it never becomes the bottleneck of the pipelined test.
void serve_echo(int listen_fd, std::size_t max_payload, Wait wait) {
  set_recv_timeout(listen_fd, kIdleTimeoutMs);  // accept() honours it too
  int raw = -1;
  while ((raw = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC)) < 0) {
    if (errno != EINTR) throw_errno("accept");
  }
  UniqueFd conn(raw);
  set_recv_timeout(conn.get(), kIdleTimeoutMs);

  // Room for at least one whole frame, so a complete frame always fits.
  std::vector<char> buf(std::max(kIoChunk, kFrameHeader + max_payload));
  std::size_t used = 0;
  for (;;) {
    const ssize_t n = recv_waiting(conn.get(), buf.data() + used, buf.size() - used, wait);
    if (n == 0) return;  // client closed: the run is over
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_errno("server recv");
    }
    used += static_cast<std::size_t>(n);
    std::uint64_t frames = 0;
    const std::size_t done = complete_frames_prefix(buf.data(), used, max_payload, frames);
    if (done == 0) continue;
    send_all(conn.get(), buf.data(), done);  // echo == the same bytes back
    std::memmove(buf.data(), buf.data() + done, used - done);
    used -= done;
  }
}

class RawUnixClient {
 public:
  RawUnixClient(UniqueFd fd, std::size_t payload, std::uint32_t window, Wait wait)
      : fd_(std::move(fd)), wait_(wait), payload_(payload), frame_size_(kFrameHeader + payload) {
    set_recv_timeout(fd_.get(), kIdleTimeoutMs);
    // tx_ holds several identical frames so pipelined sends can batch them.
    const std::size_t batch =
        std::clamp<std::size_t>(kIoChunk / frame_size_, 1, std::max<std::uint32_t>(window, 1));
    tx_.resize(batch * frame_size_, 'x');
    const auto len = static_cast<std::uint32_t>(payload);
    for (std::size_t i = 0; i < batch; ++i) std::memcpy(&tx_[i * frame_size_], &len, sizeof(len));
    rx_.resize(std::max(kIoChunk, 2 * frame_size_));
  }

  // One blocking ping-pong.
  void call() {
    send_all(fd_.get(), tx_.data(), frame_size_);
    while (!pop_reply()) fill(/*blocking=*/true);
  }

  // Writes ahead up to `window` requests and reads replies as they come.
  // Non-blocking + poll: with blocking writes both sides could stall in
  // send() with full socket buffers.
  double pipelined(std::uint64_t count, std::uint32_t window) {
    set_nonblocking(fd_.get(), true);
    const auto start = std::chrono::steady_clock::now();
    std::uint64_t bytes_sent = 0;
    std::uint64_t received = 0;
    while (received < count) {
      bool progress = false;
      const std::uint64_t limit = std::min<std::uint64_t>(count, received + window) * frame_size_;
      while (bytes_sent < limit) {
        const std::size_t offset = bytes_sent % frame_size_;
        const std::size_t len = static_cast<std::size_t>(
            std::min<std::uint64_t>(limit - bytes_sent, tx_.size() - offset));
        const ssize_t n = send(fd_.get(), tx_.data() + offset, len, MSG_NOSIGNAL);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          throw_errno("client send");
        }
        bytes_sent += static_cast<std::uint64_t>(n);
        progress = true;
      }
      while (fill(/*blocking=*/false) > 0) {
        progress = true;
        while (pop_reply()) ++received;
      }
      if (!progress) wait_io(bytes_sent < limit);
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    set_nonblocking(fd_.get(), false);
    return seconds;
  }

  void close() { fd_.reset(); }

 private:
  // Consumes one complete reply from rx_ if there is one.
  bool pop_reply() {
    const std::size_t avail = rx_end_ - rx_begin_;
    if (avail < kFrameHeader) return false;
    if (frame_length(&rx_[rx_begin_]) != payload_) throw std::runtime_error("bad reply length");
    if (avail < frame_size_) return false;
    rx_begin_ += frame_size_;
    if (rx_begin_ == rx_end_) rx_begin_ = rx_end_ = 0;
    return true;
  }

  // Returns bytes received; 0 only when non-blocking and nothing is ready.
  std::size_t fill(bool blocking) {
    if (rx_.size() - rx_end_ < frame_size_) {  // keep room for a whole frame
      std::memmove(rx_.data(), rx_.data() + rx_begin_, rx_end_ - rx_begin_);
      rx_end_ -= rx_begin_;
      rx_begin_ = 0;
    }
    for (;;) {
      const ssize_t n =
          blocking ? recv_waiting(fd_.get(), rx_.data() + rx_end_, rx_.size() - rx_end_, wait_)
                   : recv(fd_.get(), rx_.data() + rx_end_, rx_.size() - rx_end_, 0);
      if (n > 0) {
        rx_end_ += static_cast<std::size_t>(n);
        return static_cast<std::size_t>(n);
      }
      if (n == 0) throw std::runtime_error("server closed the connection");
      if (errno == EINTR) continue;
      if (!blocking && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      throw_errno("client recv");  // includes the SO_RCVTIMEO timeout
    }
  }

  void wait_io(bool want_write) {
    pollfd pfd{fd_.get(), static_cast<short>(POLLIN | (want_write ? POLLOUT : 0)), 0};
    int rc = 0;
    while ((rc = poll(&pfd, 1, kIdleTimeoutMs)) < 0 && errno == EINTR) {
    }
    if (rc < 0) throw_errno("poll");
    if (rc == 0) throw std::runtime_error("pipelined raw-unix stalled");
  }

  UniqueFd fd_;
  Wait wait_;
  std::size_t payload_;
  std::size_t frame_size_;
  std::vector<char> tx_;
  std::vector<char> rx_;
  std::size_t rx_begin_ = 0;
  std::size_t rx_end_ = 0;
};

RrResult run_raw_unix(const RrParams& params, Wait wait) {
  const std::string path =
      params.scratch_dir + (wait == Wait::block ? "/raw-unix.sock" : "/raw-unix-busypoll.sock");
  const SocketFileGuard file_guard(path);
  // Listening before fork(): the client's connect() succeeds immediately
  // (backlog), no readiness race.
  UniqueFd listener = listen_unix(path);
  ServerProcess server([&](const std::function<void()>& ready) {
    ready();
    serve_echo(listener.get(), params.payload_size, wait);
  });
  listener.reset();  // only the child accepts

  RawUnixClient client(connect_unix(path), params.payload_size, params.window, wait);
  RrResult result;
  result.rt_us = time_round_trips(params, [&] { client.call(); });
  result.pipelined_seconds = client.pipelined(params.pipelined_count, params.window);
  result.pipelined_calls = params.pipelined_count;
  result.pipeline_mode = PipelineMode::windowed;
  client.close();  // EOF tells the server to exit
  if (!server.join(kJoinTimeoutMs))
    throw std::runtime_error("raw-unix server did not exit cleanly");
  return result;
}

const RrRegistrar registrar{
    RrCase{kBaselineCase, [](const RrParams& p) { return run_raw_unix(p, Wait::block); }}};
const RrRegistrar busy_poll_registrar{RrCase{
    kBusyPollBaselineCase, [](const RrParams& p) { return run_raw_unix(p, Wait::busy_poll); }}};

}  // namespace
}  // namespace plexus_bench

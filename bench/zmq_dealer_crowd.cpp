#include "zmq_dealer_crowd.hpp"

#include "proc_status.hpp"

#include <fcntl.h>
#include <unistd.h>
#include <zmq.h>
#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace plexus_bench {
namespace {

// Descriptors a process keeps for other things than DEALERs: stdio, the contexts' own
// mailboxes and pollers, the pipes and listeners of the benchmark.
constexpr std::size_t kDescriptorReserve = 100;
constexpr int kChildJoinMs = 10000;

struct Command {
  char op;  // 'a': add `count` DEALERs, 'c': close them all
  std::uint64_t count;
};

bool read_full(int fd, void* data, std::size_t size) {
  auto* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

void write_full(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw_errno("write(pipe)");
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

// The child: obeys commands until the parent closes its end.
void serve_commands(const std::string& endpoint, std::size_t max_sockets, int in, int out) {
  raise_open_file_limit();
  void* ctx = new_zmq_context(max_sockets);
  {
    DealerCrowd crowd(ctx, endpoint);
    Command cmd{};
    while (read_full(in, &cmd, sizeof cmd)) {
      if (cmd.op == 'a') crowd.add(cmd.count);
      if (cmd.op == 'c') crowd.close_all();
      const char done = 'k';
      write_full(out, &done, 1);
    }
  }
  zmq_ctx_term(ctx);
}

}  // namespace

void throw_zmq(const std::string& what) {
  throw std::runtime_error(what + ": " + zmq_strerror(zmq_errno()));
}

void* new_zmq_context(std::size_t max_sockets) {
  void* ctx = zmq_ctx_new();
  if (!ctx) throw_zmq("zmq_ctx_new");
  // Only before the first socket: the context sizes its socket table then.
  if (zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, static_cast<int>(max_sockets)) != 0) {
    throw_zmq("zmq_ctx_set(ZMQ_MAX_SOCKETS)");
  }
  return ctx;
}

std::size_t dealers_per_process(std::size_t open_file_limit) {
  return open_file_limit > kDescriptorReserve ? (open_file_limit - kDescriptorReserve) / 2 : 0;
}

void DealerCrowd::add(std::size_t count) {
  sockets_.reserve(sockets_.size() + count);
  for (std::size_t i = 0; i < count; ++i) {
    void* s = zmq_socket(ctx_, ZMQ_DEALER);
    if (!s) throw_zmq("zmq_socket(DEALER) #" + std::to_string(sockets_.size()));
    sockets_.push_back(s);
    const int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (zmq_connect(s, endpoint_.c_str()) != 0) throw_zmq("zmq_connect");
    // Queued on the pipe zmq_connect made (ZMQ_IMMEDIATE off): sent once the connection is up.
    if (zmq_send(s, "h", 1, ZMQ_DONTWAIT) != 1) throw_zmq("zmq_send(greeting)");
  }
}

void DealerCrowd::close_all() {
  for (void* s : sockets_) zmq_close(s);
  sockets_.clear();
}

DealerCrowdProcess::DealerCrowdProcess(const std::string& endpoint, std::size_t max_sockets) {
  int down[2], up[2];
  if (pipe2(down, O_CLOEXEC) != 0) throw_errno("pipe2");
  to_child_ = UniqueFd(down[1]);
  UniqueFd child_in(down[0]);
  if (pipe2(up, O_CLOEXEC) != 0) throw_errno("pipe2");
  from_child_ = UniqueFd(up[0]);
  UniqueFd child_out(up[1]);
  child_ = std::make_unique<ServerProcess>([&](const std::function<void()>& ready) {
    // The parent's ends must close here too, or the child would never see EOF.
    to_child_.reset();
    from_child_.reset();
    ready();
    serve_commands(endpoint, max_sockets, child_in.get(), child_out.get());
  });
}

DealerCrowdProcess::~DealerCrowdProcess() {
  to_child_.reset();  // EOF: the child closes its DEALERs and exits
  child_->join(kChildJoinMs);
}

void DealerCrowdProcess::add(std::size_t count) {
  command('a', count);
  size_ += count;
}

void DealerCrowdProcess::close_all() {
  command('c', 0);
  size_ = 0;
}

void DealerCrowdProcess::command(char op, std::size_t count) {
  const Command cmd{op, count};
  write_full(to_child_.get(), &cmd, sizeof cmd);
  char done = 0;
  if (!read_full(from_child_.get(), &done, 1)) {
    throw std::runtime_error("the DEALER helper process died");
  }
}

}  // namespace plexus_bench

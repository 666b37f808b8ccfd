// ZeroMQ competitor rows over ipc://:
//   zmq-req-rep        REQ/REP; strict lockstep, so "pipelined" is sequential
//   zmq-dealer-router  DEALER client / ROUTER echo server, windowed pipelining
// An empty message is the client's goodbye so the server exits by itself;
// its receive timeout bounds the wait if the client vanished instead.
#include "rr_case.hpp"
#include "rr_driver.hpp"
#include "server_process.hpp"
#include "unix_io.hpp"

#include <zmq.h>
#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

namespace plexus_bench {
namespace {

constexpr int kIdleTimeoutMs = 10000;
constexpr int kJoinTimeoutMs = 5000;
// Client linger must be > 0 or zmq_close could drop the goodbye message.
constexpr int kClientLingerMs = 2000;

[[noreturn]] void throw_zmq(const std::string& what) {
  throw std::runtime_error(what + ": " + zmq_strerror(zmq_errno()));
}

class ZmqContext {
 public:
  ZmqContext() : ctx_(zmq_ctx_new()) {
    if (ctx_ == nullptr) throw_zmq("zmq_ctx_new");
  }
  ~ZmqContext() {
    while (zmq_ctx_term(ctx_) != 0 && zmq_errno() == EINTR) {
    }
  }
  ZmqContext(const ZmqContext&) = delete;
  ZmqContext& operator=(const ZmqContext&) = delete;
  void* get() const { return ctx_; }

 private:
  void* ctx_;
};

class ZmqSocket {
 public:
  ZmqSocket(const ZmqContext& ctx, int type, int linger_ms, int hwm)
      : sock_(zmq_socket(ctx.get(), type)) {
    if (sock_ == nullptr) throw_zmq("zmq_socket");
    set(ZMQ_LINGER, linger_ms);
    set(ZMQ_RCVTIMEO, kIdleTimeoutMs);
    set(ZMQ_SNDTIMEO, kIdleTimeoutMs);
    set(ZMQ_SNDHWM, hwm);
    set(ZMQ_RCVHWM, hwm);
  }
  ~ZmqSocket() { zmq_close(sock_); }
  ZmqSocket(const ZmqSocket&) = delete;
  ZmqSocket& operator=(const ZmqSocket&) = delete;
  void* get() const { return sock_; }

 private:
  void set(int option, int value) {
    if (zmq_setsockopt(sock_, option, &value, sizeof(value)) != 0) throw_zmq("zmq_setsockopt");
  }
  void* sock_;
};

// zmq_msg_t with RAII, so every exit path releases the buffer.
class ZmqMessage {
 public:
  ZmqMessage() { zmq_msg_init(&msg_); }
  ~ZmqMessage() { zmq_msg_close(&msg_); }
  ZmqMessage(const ZmqMessage&) = delete;
  ZmqMessage& operator=(const ZmqMessage&) = delete;
  zmq_msg_t* get() { return &msg_; }
  std::size_t size() { return zmq_msg_size(&msg_); }

 private:
  zmq_msg_t msg_;
};

void recv_msg(ZmqMessage& msg, void* sock) {
  while (zmq_msg_recv(msg.get(), sock, 0) < 0) {
    if (zmq_errno() != EINTR) throw_zmq("zmq_msg_recv");  // EAGAIN = timeout
  }
}

// Hands the message's buffer to zmq without copying (the echo path).
void send_msg(ZmqMessage& msg, void* sock, int flags) {
  while (zmq_msg_send(msg.get(), sock, flags) < 0) {
    if (zmq_errno() != EINTR) throw_zmq("zmq_msg_send");
  }
}

void send_bytes(void* sock, const std::vector<char>& bytes) {
  while (zmq_send(sock, bytes.data(), bytes.size(), 0) < 0) {
    if (zmq_errno() != EINTR) throw_zmq("zmq_send");
  }
}

int hwm_for(const RrParams& params) {
  // Above the window so neither side blocks (DEALER) or drops (ROUTER).
  return static_cast<int>(std::max<std::uint32_t>(1000, 2 * params.window));
}

void serve(const std::string& endpoint, int type, int hwm, const std::function<void()>& ready) {
  const ZmqContext ctx;
  const ZmqSocket sock(ctx, type, 0, hwm);
  if (zmq_bind(sock.get(), endpoint.c_str()) != 0) throw_zmq("zmq_bind " + endpoint);
  ready();
  const bool routed = type == ZMQ_ROUTER;
  for (;;) {
    ZmqMessage identity;  // ROUTER prefixes each request with the peer id
    if (routed) recv_msg(identity, sock.get());
    ZmqMessage payload;
    recv_msg(payload, sock.get());
    if (payload.size() == 0) return;  // goodbye
    if (routed) send_msg(identity, sock.get(), ZMQ_SNDMORE);
    send_msg(payload, sock.get(), 0);
  }
}

class ZmqClient {
 public:
  ZmqClient(const std::string& endpoint, int type, const RrParams& params)
      : sock_(ctx_, type, kClientLingerMs, hwm_for(params)),
        request_(params.payload_size, 'x'),
        payload_size_(params.payload_size) {
    // ipc connect is asynchronous; the server is already bound (ready pipe).
    if (zmq_connect(sock_.get(), endpoint.c_str()) != 0) throw_zmq("zmq_connect " + endpoint);
  }

  void send_one() { send_bytes(sock_.get(), request_); }

  void recv_one() {
    ZmqMessage reply;
    recv_msg(reply, sock_.get());
    if (reply.size() != payload_size_) throw std::runtime_error("bad zmq reply size");
  }

  void call() {
    send_one();
    recv_one();
  }

  void say_goodbye() { send_bytes(sock_.get(), {}); }

 private:
  ZmqContext ctx_;  // per client: created after fork(), never shared with the child
  ZmqSocket sock_;
  std::vector<char> request_;
  std::size_t payload_size_;
};

RrResult run_zmq(const RrParams& params, int client_type, int server_type, const char* file,
                 bool windowed) {
  const std::string path = params.scratch_dir + "/" + file;
  const std::string endpoint = "ipc://" + path;
  const SocketFileGuard file_guard(path);
  ServerProcess server([&](const std::function<void()>& ready) {
    serve(endpoint, server_type, hwm_for(params), ready);
  });

  RrResult result;
  {
    ZmqClient client(endpoint, client_type, params);
    result.rt_us = time_round_trips(params, [&] { client.call(); });
    if (windowed) {
      result.pipelined_seconds = time_windowed(
          params.pipelined_count, params.window, [&] { client.send_one(); },
          [&] { client.recv_one(); });
      result.pipelined_calls = params.pipelined_count;
      result.pipeline_mode = PipelineMode::windowed;
    } else {
      // REQ/REP enforces send/recv lockstep: report back-to-back calls,
      // capped at rt_count because sequential calls are slow.
      result.pipelined_calls = std::min(params.pipelined_count, params.rt_count);
      result.pipelined_seconds = time_sequential(result.pipelined_calls, [&] { client.call(); });
      result.pipeline_mode = PipelineMode::sequential;
    }
    client.say_goodbye();
  }  // context term flushes the goodbye (linger) before we wait for the child
  if (!server.join(kJoinTimeoutMs))
    throw std::runtime_error(std::string(file) + " server did not exit cleanly");
  return result;
}

const RrRegistrar req_rep{RrCase{"zmq-req-rep", [](const RrParams& p) {
                                   return run_zmq(p, ZMQ_REQ, ZMQ_REP, "zmq-req-rep.sock", false);
                                 }}};

const RrRegistrar dealer_router{RrCase{"zmq-dealer-router", [](const RrParams& p) {
                                         return run_zmq(p, ZMQ_DEALER, ZMQ_ROUTER,
                                                        "zmq-dealer-router.sock", true);
                                       }}};

}  // namespace
}  // namespace plexus_bench

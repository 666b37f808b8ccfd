// gRPC rows, the peers of plexus-tcp and plexus-tls: an Echo.Call unary method
// (bench/grpc/echo.proto, a bytes body) answered by gRPC's synchronous server in a child process
// (bench/grpc/echo_server.cpp, started with fork + exec: gRPC's threads and global state do not
// survive a bare fork, and the benchmark process itself runs the gRPC client).
//   grpc-tcp   insecure credentials on 127.0.0.1
//   grpc-tls   SslServerCredentials / SslCredentials with a certificate made like plexus-tls's
//              (the same openssl command, the same files in the scratch directory), the client
//              checking it for the name "localhost"
// Round trips are one call at a time and pipelined calls keep the window in flight, both with
// the asynchronous client API: Stub::AsyncCall + Finish on a CompletionQueue that the benchmark
// thread polls, each call with a ClientContext of its own. Every repetition starts a server and
// a channel with its own connection (GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL).
// Figures beside the rows: grpc-tls-handshakes and grpc-tcp-connects, a new channel (its own
// connection: TCP connect, the TLS handshake for grpc-tls, the HTTP/2 preface and settings) and
// its first call, an empty body, in a loop for ~2 s: the counterpart of plexus-tls-handshakes.
#include "echo.grpc.pb.h"
#include "exec_child.hpp"
#include "rr_case.hpp"
#include "rr_driver.hpp"

#include <grpcpp/grpcpp.h>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#ifndef PLEXUS_BENCH_GRPC_SERVER
#error "PLEXUS_BENCH_GRPC_SERVER (the path of plexus_bench_grpc_server) must be defined"
#endif

namespace plexus_bench {
namespace {

constexpr auto kStallTimeout = std::chrono::seconds(30);  // no completion: the row fails
constexpr auto kStartTimeout = std::chrono::seconds(10);  // server port file, channel connect
constexpr int kStopTimeoutMs = 5000;
constexpr const char* kTlsTargetName = "localhost";  // in the certificate's subjectAltName

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct TlsFiles {
  std::string ca, certificate, key;
};

// The files plexus-tls uses (plexus_rr_cases.cpp, make_tls_files): the same command makes the
// same files, a CA and a P-256 server certificate for 127.0.0.1 and localhost signed by it,
// unless they are there already. Whichever row comes first makes them; a set made again replaces
// all three, and every run reads them afresh.
TlsFiles make_tls_files(const std::string& dir) {
  const TlsFiles files{dir + "/bench-ca.pem", dir + "/bench-server.pem", dir + "/bench-server.key"};
  namespace fs = std::filesystem;
  if (fs::exists(files.ca) && fs::exists(files.certificate) && fs::exists(files.key)) return files;
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
  return files;
}

// plexus_bench_grpc_server as a child process for the length of a scope, listening on
// 127.0.0.1 at the port it reports through a file in the scratch directory.
class GrpcServer {
 public:
  GrpcServer(const std::string& scratch_dir, const std::optional<TlsFiles>& tls)
      : port_file_(scratch_dir + "/grpc-server.port"), log_file_(scratch_dir + "/grpc-server.log") {
    std::filesystem::remove(port_file_);
    std::vector<std::string> argv{PLEXUS_BENCH_GRPC_SERVER, port_file_};
    if (tls) {
      argv.push_back(tls->certificate);
      argv.push_back(tls->key);
    }
    child_.emplace(argv, log_file_);
    const auto deadline = std::chrono::steady_clock::now() + kStartTimeout;
    for (;;) {
      std::ifstream in(port_file_);
      if (in >> port_ && port_ > 0) return;
      if (!child_->running()) {
        throw std::runtime_error("the gRPC server exited: " + tail_of_file(log_file_, 5));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        throw std::runtime_error("the gRPC server reported no port in time");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  int port() const { return port_; }

  // SIGTERM; throws unless it then exited by itself with status 0.
  void stop() {
    if (!child_->stop(kStopTimeoutMs)) {
      throw std::runtime_error("the gRPC server did not exit cleanly: " +
                               tail_of_file(log_file_, 5));
    }
  }

 private:
  std::string port_file_;
  std::string log_file_;
  std::optional<ExecChild> child_;  // its destructor stops the server on every path
  int port_ = 0;
};

std::shared_ptr<grpc::ChannelCredentials> make_credentials(const std::optional<TlsFiles>& tls) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = read_file(tls->ca);
  return grpc::SslCredentials(options);
}

// A channel with a connection of its own: channels with equal arguments otherwise share their
// connections through gRPC's global subchannel pool.
std::shared_ptr<grpc::Channel> make_channel(int port,
                                            const std::shared_ptr<grpc::ChannelCredentials>& creds,
                                            bool tls) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  if (tls) args.SetSslTargetNameOverride(kTlsTargetName);
  return grpc::CreateCustomChannel("ipv4:127.0.0.1:" + std::to_string(port), creds, args);
}

// Up to `window` Echo.Call calls in flight on one CompletionQueue, polled by the calling thread.
class EchoCaller {
 public:
  EchoCaller(const std::shared_ptr<grpc::Channel>& channel, std::size_t payload_size,
             std::uint32_t window)
      : stub_(plexus_bench_grpc::Echo::NewStub(channel)),
        slots_(std::max<std::uint32_t>(window, 1)),
        payload_size_(payload_size) {
    request_.set_body(std::string(payload_size, 'x'));
    for (std::size_t i = slots_.size(); i-- > 0;) free_.push_back(i);
  }

  ~EchoCaller() {
    // Only after a failure are calls still in flight: cancel them, then drain the queue.
    for (auto& slot : slots_) {
      if (slot.busy) slot.context->TryCancel();
    }
    queue_.Shutdown();
    void* tag = nullptr;
    bool ok = false;
    while (queue_.Next(&tag, &ok)) {
    }
  }

  EchoCaller(const EchoCaller&) = delete;
  EchoCaller& operator=(const EchoCaller&) = delete;

  // Starts one call (the caller keeps at most `window` in flight).
  void send_one() {
    const std::size_t index = free_.back();
    free_.pop_back();
    Slot& slot = slots_[index];
    slot.reader.reset();  // lives in the previous call's arena, which the old context holds
    slot.context.emplace();
    slot.reply.Clear();
    slot.busy = true;
    slot.reader = stub_->AsyncCall(&*slot.context, request_, &queue_);
    slot.reader->Finish(&slot.reply, &slot.status, reinterpret_cast<void*>(index));
  }

  // Waits for one call in flight to complete, and checks its answer.
  void take() {
    void* tag = nullptr;
    bool ok = false;
    const auto got = queue_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + kStallTimeout);
    if (got != grpc::CompletionQueue::GOT_EVENT) {
      throw std::runtime_error("gRPC: no call completed in time");
    }
    const auto index = reinterpret_cast<std::uintptr_t>(tag);
    Slot& slot = slots_.at(index);
    slot.busy = false;
    free_.push_back(index);
    if (!ok || !slot.status.ok()) {
      throw std::runtime_error("gRPC call failed: " + slot.status.error_message());
    }
    if (slot.reply.body().size() != payload_size_) {
      throw std::runtime_error("bad gRPC reply size");
    }
  }

  void call() {
    send_one();
    take();
  }

 private:
  struct Slot {
    std::optional<grpc::ClientContext> context;  // one per call: a context is not reusable
    std::unique_ptr<grpc::ClientAsyncResponseReader<plexus_bench_grpc::Payload>> reader;
    plexus_bench_grpc::Payload reply;
    grpc::Status status;
    bool busy = false;
  };

  std::unique_ptr<plexus_bench_grpc::Echo::Stub> stub_;
  grpc::CompletionQueue queue_;
  std::vector<Slot> slots_;
  std::vector<std::size_t> free_;
  plexus_bench_grpc::Payload request_;
  std::size_t payload_size_;
};

RrResult run_grpc(const RrParams& params, bool tls) {
  std::optional<TlsFiles> files;
  if (tls) files = make_tls_files(params.scratch_dir);
  GrpcServer server(params.scratch_dir, files);
  RrResult result;
  {
    const auto channel = make_channel(server.port(), make_credentials(files), tls);
    if (!channel->WaitForConnected(std::chrono::system_clock::now() + kStartTimeout)) {
      throw std::runtime_error("the gRPC channel did not connect");
    }
    EchoCaller caller(channel, params.payload_size, params.window);
    result.rt_us = time_round_trips(params, [&] { caller.call(); });
    result.pipelined_seconds = time_windowed(
        params.pipelined_count, params.window, [&] { caller.send_one(); }, [&] { caller.take(); });
    result.pipelined_calls = params.pipelined_count;
    result.pipeline_mode = PipelineMode::windowed;
  }
  server.stop();
  return result;
}

// New channels, each with one call, for ~2 s: channels (connections) made per second.
double new_channels_per_second(const std::string& scratch_dir, bool tls) {
  std::optional<TlsFiles> files;
  if (tls) files = make_tls_files(scratch_dir);
  GrpcServer server(scratch_dir, files);
  const auto credentials = make_credentials(files);
  const plexus_bench_grpc::Payload request;
  const auto began = std::chrono::steady_clock::now();
  const auto until = began + std::chrono::seconds(2);
  std::uint64_t made = 0;
  auto now = began;
  while (now < until) {
    const auto stub =
        plexus_bench_grpc::Echo::NewStub(make_channel(server.port(), credentials, tls));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + kStartTimeout);
    plexus_bench_grpc::Payload reply;
    const grpc::Status status = stub->Call(&context, request, &reply);
    if (!status.ok()) throw std::runtime_error("gRPC call failed: " + status.error_message());
    ++made;
    now = std::chrono::steady_clock::now();
  }
  server.stop();
  return static_cast<double>(made) / std::chrono::duration<double>(now - began).count();
}

const RrRegistrar tcp_case{
    RrCase{"grpc-tcp", [](const RrParams& p) { return run_grpc(p, /*tls=*/false); }}};
const RrRegistrar tls_case{
    RrCase{"grpc-tls", [](const RrParams& p) { return run_grpc(p, /*tls=*/true); }}};

const RrFigureRegistrar tls_handshakes{
    RrFigure{"grpc-tls-handshakes", "TLS handshakes/s (new channel + first call)",
             [](const std::string& dir) { return new_channels_per_second(dir, true); }}};
const RrFigureRegistrar tcp_connects{
    RrFigure{"grpc-tcp-connects", "TCP connects/s (new channel + first call)",
             [](const std::string& dir) { return new_channels_per_second(dir, false); }}};

}  // namespace
}  // namespace plexus_bench

// plexus_bench_grpc_server: the server side of plexus_bench_rr's gRPC rows
// (bench/grpc_rr_cases.cpp). The benchmark starts it as a child process (a fork followed by exec:
// gRPC's threads and global state do not survive a bare fork), like every other row's server runs
// in a child of its own.
//
//   plexus_bench_grpc_server PORT_FILE [CERTIFICATE KEY]
//
// Listens on 127.0.0.1 (port chosen by the kernel), with TLS when given a certificate and its
// key, writes the port to PORT_FILE (written aside and renamed, so the file appears complete),
// answers Echo.Call with its request through gRPC's synchronous server API (default thread
// settings), and shuts down on SIGTERM or SIGINT, exiting 0.
#include "echo.grpc.pb.h"

#include <grpcpp/grpcpp.h>
#include <pthread.h>
#include <signal.h>
#include <chrono>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

class EchoService final : public plexus_bench_grpc::Echo::Service {
  grpc::Status Call(grpc::ServerContext*, const plexus_bench_grpc::Payload* request,
                    plexus_bench_grpc::Payload* reply) override {
    reply->set_body(request->body());
    return grpc::Status::OK;
  }
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_port(const std::string& path, int port) {
  const std::string aside = path + ".tmp";
  {
    std::ofstream out(aside);
    out << port << '\n';
    if (!out.flush()) throw std::runtime_error("cannot write " + aside);
  }
  if (std::rename(aside.c_str(), path.c_str()) != 0) {
    throw std::runtime_error("cannot rename " + aside);
  }
}

int serve(int argc, char** argv) {
  if (argc != 2 && argc != 4) {
    std::cerr << "usage: plexus_bench_grpc_server PORT_FILE [CERTIFICATE KEY]\n";
    return 2;
  }
  // Blocked before gRPC starts a thread, so every thread inherits the mask and only sigwait
  // below takes the signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (argc == 4) {
    grpc::SslServerCredentialsOptions options;
    options.pem_key_cert_pairs.push_back({read_file(argv[3]), read_file(argv[2])});
    credentials = grpc::SslServerCredentials(options);
  }
  EchoService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", credentials, &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || port == 0) throw std::runtime_error("the gRPC server did not start");
  write_port(argv[1], port);

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server->Wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return serve(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "plexus_bench_grpc_server: " << e.what() << '\n';
    return 1;
  }
}

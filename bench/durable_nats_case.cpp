// NATS JetStream rows of plexus_bench_durable (see durable_nats_case.hpp).
#include "durable_nats_case.hpp"

#include <nats/nats.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include "exec_child.hpp"
#include "nats_server.hpp"
#include "proc_status.hpp"

#ifndef PLEXUS_BENCH_NATS_SERVER
#error "bench/CMakeLists.txt defines PLEXUS_BENCH_NATS_SERVER (the nats-server program)"
#endif

namespace plexus_bench {
namespace {

using Clock = std::chrono::steady_clock;

void check(natsStatus s, const char* what, jsErrCode jerr = static_cast<jsErrCode>(0)) {
  if (s == NATS_OK) return;
  std::string msg = std::string("NATS ") + what + ": " + natsStatus_GetText(s);
  if (jerr != 0) msg += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  if (const char* last = nats_GetLastError(nullptr); last && *last) msg += ": " + std::string(last);
  throw std::runtime_error(msg);
}

struct NatsDeleter {
  void operator()(natsConnection* c) const { natsConnection_Destroy(c); }
  void operator()(jsCtx* j) const { jsCtx_Destroy(j); }
  void operator()(jsStreamInfo* s) const { jsStreamInfo_Destroy(s); }
};
template <typename T>
using NatsPtr = std::unique_ptr<T, NatsDeleter>;

// Counts the asynchronous publishes the server refused or that timed out.
void on_publish_error(jsCtx*, jsPubAckErr*, void* closure) {
  static_cast<std::atomic<std::size_t>*>(closure)->fetch_add(1);
}

}  // namespace

double run_jetstream(const std::string& dir, std::size_t messages, std::size_t payload,
                     std::size_t window, double& server_cpu_s) {
  static int run = 0;
  const std::string store = dir + "/jetstream" + std::to_string(++run);
  std::filesystem::remove_all(store);
  std::filesystem::create_directories(store);
  const int port = free_port();
  ExecChild server({PLEXUS_BENCH_NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", std::to_string(port),
                    "-sd", store},
                   store + "/nats-server.log");
  wait_accepting(server, port, store + "/nats-server.log");

  natsConnection* raw_nc = nullptr;
  const std::string url = "nats://127.0.0.1:" + std::to_string(port);
  check(natsConnection_ConnectTo(&raw_nc, url.c_str()), "connect");
  NatsPtr<natsConnection> nc(raw_nc);

  std::atomic<std::size_t> publish_errors{0};
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = 30000;
  if (window > 0) {
    jo.PublishAsync.MaxPending = static_cast<int64_t>(window);
    jo.PublishAsync.StallWait = 30000;  // a full window waits for room, it does not fail
    jo.PublishAsync.ErrHandler = on_publish_error;
    jo.PublishAsync.ErrHandlerClosure = &publish_errors;
  }
  jsCtx* raw_js = nullptr;
  check(natsConnection_JetStream(&raw_js, nc.get(), &jo), "JetStream context");
  NatsPtr<jsCtx> js(raw_js);

  const char* subjects[] = {"bench.durable"};
  jsStreamConfig sc;
  jsStreamConfig_Init(&sc);
  sc.Name = "BENCH";
  sc.Subjects = subjects;
  sc.SubjectsLen = 1;
  sc.Storage = js_FileStorage;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  jsStreamInfo* raw_si = nullptr;
  check(js_AddStream(&raw_si, js.get(), &sc, nullptr, &jerr), "add stream", jerr);
  jsStreamInfo_Destroy(raw_si);

  const std::string data(payload, 'p');
  const int len = static_cast<int>(data.size());
  const auto start = Clock::now();
  if (window > 0) {
    for (std::size_t i = 0; i < messages; ++i) {
      check(js_PublishAsync(js.get(), subjects[0], data.data(), len, nullptr), "publish async");
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = 120000;
    check(js_PublishAsyncComplete(js.get(), &po), "wait for the PubAcks");
  } else {
    for (std::size_t i = 0; i < messages; ++i) {
      jsPubAck* raw_pa = nullptr;
      check(js_Publish(&raw_pa, js.get(), subjects[0], data.data(), len, nullptr, &jerr), "publish",
            jerr);
      jsPubAck_Destroy(raw_pa);
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (publish_errors.load() != 0) {
    throw std::runtime_error("NATS: " + std::to_string(publish_errors.load()) +
                             " asynchronous publishes failed");
  }
  raw_si = nullptr;
  check(js_GetStreamInfo(&raw_si, js.get(), "BENCH", nullptr, &jerr), "stream info", jerr);
  NatsPtr<jsStreamInfo> si(raw_si);
  if (si->State.Msgs != messages) {
    throw std::runtime_error("NATS: the stream holds " + std::to_string(si->State.Msgs) + " of " +
                             std::to_string(messages) + " messages");
  }
  server_cpu_s += cpu_seconds(server.pid());
  js.reset();
  natsConnection_Close(nc.get());
  nc.reset();
  server.stop(5000);
  std::filesystem::remove_all(store);
  return seconds;
}

}  // namespace plexus_bench

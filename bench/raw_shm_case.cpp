// "raw-shm-busypoll": the limit of any shared-memory transport. Two processes share one
// anonymous mapping; the client copies the request into it and bumps a sequence number, the
// server spins on that number, copies the request into the reply area (the echo) and bumps its
// own, which the client spins on and copies out. No framing, no checks, no sleeping: both
// processes burn a core, which is exactly what the spin mode of a real transport may approach.
// Each sequence number sits in the cache line right before its payload, so a 64 B message moves
// two lines between the cores (the number with the payload's first 56 bytes, then the rest), as
// few as a message with an 8-byte header can; a number on a line of its own would be one more.
#include "rr_case.hpp"
#include "rr_driver.hpp"
#include "server_process.hpp"

#include <sys/mman.h>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace plexus_bench {
namespace {

constexpr int kJoinTimeoutMs = 5000;
constexpr auto kIdle = std::chrono::seconds(10);  // the server gives up after this much silence

// A message area: the sequence number, then the payload right after it (payload()).
struct alignas(128) Area {
  std::atomic<std::uint64_t> seq;
  char* payload() { return reinterpret_cast<char*>(this) + sizeof(seq); }
};

class Mapping {
 public:
  explicit Mapping(std::size_t payload)
      : area_bytes_((sizeof(std::uint64_t) + payload + 127) / 128 * 128),
        size_(128 + 2 * area_bytes_) {
    data_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) throw std::runtime_error("mmap failed");
    stop_ = new (data_) std::atomic<std::uint64_t>(0);
    request_ = new (static_cast<char*>(data_) + 128) Area{};
    reply_ = new (static_cast<char*>(data_) + 128 + area_bytes_) Area{};
  }
  ~Mapping() { munmap(data_, size_); }
  std::atomic<std::uint64_t>& stop() { return *stop_; }
  Area& request() { return *request_; }
  Area& reply() { return *reply_; }

 private:
  std::size_t area_bytes_;
  std::size_t size_;
  void* data_;
  std::atomic<std::uint64_t>* stop_;
  Area* request_;
  Area* reply_;
};

void serve(Mapping& m, std::size_t payload) {
  std::uint64_t seen = 0;
  auto last = std::chrono::steady_clock::now();
  std::uint32_t spins = 0;
  auto& request = m.request();
  auto& reply = m.reply();
  while (!m.stop().load(std::memory_order_acquire)) {
    const std::uint64_t seq = request.seq.load(std::memory_order_acquire);
    if (seq == seen) {
      if (++spins == 1u << 20) {
        spins = 0;
        if (std::chrono::steady_clock::now() - last > kIdle) return;
      }
      continue;
    }
    std::memcpy(reply.payload(), request.payload(), payload);
    seen = seq;
    reply.seq.store(seq, std::memory_order_release);
    last = std::chrono::steady_clock::now();
  }
}

RrResult run_raw_shm(const RrParams& params) {
  Mapping m(params.payload_size);
  ServerProcess server([&](const std::function<void()>& ready) {
    ready();
    serve(m, params.payload_size);
  });
  auto& request = m.request();
  auto& reply = m.reply();
  std::vector<char> out(params.payload_size, 'x'), in(params.payload_size);
  std::uint64_t seq = 0;
  const auto call = [&] {
    std::memcpy(request.payload(), out.data(), out.size());
    request.seq.store(++seq, std::memory_order_release);
    const auto start = std::chrono::steady_clock::now();
    std::uint32_t spins = 0;
    while (reply.seq.load(std::memory_order_acquire) != seq) {
      if (++spins == 1u << 20) {
        spins = 0;
        if (std::chrono::steady_clock::now() - start > kIdle) {
          throw std::runtime_error("raw-shm server stopped answering");
        }
      }
    }
    std::memcpy(in.data(), reply.payload(), in.size());
  };
  RrResult result;
  result.rt_us = time_round_trips(params, call);
  // One slot each way: no pipelining; back-to-back calls, capped like the other sequential rows.
  result.pipelined_calls = std::min(params.pipelined_count, params.rt_count);
  result.pipelined_seconds = time_sequential(result.pipelined_calls, call);
  result.pipeline_mode = PipelineMode::sequential;
  m.stop().store(1, std::memory_order_release);
  if (!server.join(kJoinTimeoutMs)) throw std::runtime_error("raw-shm server did not exit");
  return result;
}

const RrRegistrar raw_shm_case{RrCase{"raw-shm-busypoll", run_raw_shm}};

}  // namespace
}  // namespace plexus_bench

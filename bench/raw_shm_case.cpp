// "raw-shm-busypoll": the limit of any shared-memory transport. Two processes share one
// anonymous mapping; the client copies the request into it and bumps a sequence number, the
// server spins on that number, copies the request into the reply area (the echo) and bumps its
// own, which the client spins on and copies out. No framing, no checks, no sleeping: both
// processes burn a core, which is exactly what the spin mode of a real transport may approach.
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

struct Shared {
  alignas(128) std::atomic<std::uint64_t> request_seq;
  alignas(128) std::atomic<std::uint64_t> reply_seq;
  alignas(128) std::atomic<std::uint64_t> stop;
  alignas(128) std::atomic<std::uint64_t> payload_size;
};

class Mapping {
 public:
  explicit Mapping(std::size_t payload) : size_(sizeof(Shared) + 2 * payload + 256) {
    data_ = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (data_ == MAP_FAILED) throw std::runtime_error("mmap failed");
    shared_ = new (data_) Shared{};
    request_ = static_cast<char*>(data_) + sizeof(Shared);
    reply_ = request_ + payload + 128;
  }
  ~Mapping() { munmap(data_, size_); }
  Shared& shared() { return *shared_; }
  char* request() { return request_; }
  char* reply() { return reply_; }

 private:
  std::size_t size_;
  void* data_;
  Shared* shared_;
  char* request_;
  char* reply_;
};

void serve(Mapping& m, std::size_t payload) {
  auto& s = m.shared();
  std::uint64_t seen = 0;
  auto last = std::chrono::steady_clock::now();
  std::uint32_t spins = 0;
  while (!s.stop.load(std::memory_order_acquire)) {
    const std::uint64_t seq = s.request_seq.load(std::memory_order_acquire);
    if (seq == seen) {
      if (++spins == 1u << 20) {
        spins = 0;
        if (std::chrono::steady_clock::now() - last > kIdle) return;
      }
      continue;
    }
    std::memcpy(m.reply(), m.request(), payload);
    seen = seq;
    s.reply_seq.store(seq, std::memory_order_release);
    last = std::chrono::steady_clock::now();
  }
}

RrResult run_raw_shm(const RrParams& params) {
  Mapping m(params.payload_size);
  ServerProcess server([&](const std::function<void()>& ready) {
    ready();
    serve(m, params.payload_size);
  });
  auto& s = m.shared();
  std::vector<char> out(params.payload_size, 'x'), in(params.payload_size);
  std::uint64_t seq = 0;
  const auto call = [&] {
    std::memcpy(m.request(), out.data(), out.size());
    s.request_seq.store(++seq, std::memory_order_release);
    const auto start = std::chrono::steady_clock::now();
    std::uint32_t spins = 0;
    while (s.reply_seq.load(std::memory_order_acquire) != seq) {
      if (++spins == 1u << 20) {
        spins = 0;
        if (std::chrono::steady_clock::now() - start > kIdle) {
          throw std::runtime_error("raw-shm server stopped answering");
        }
      }
    }
    std::memcpy(in.data(), m.reply(), in.size());
  };
  RrResult result;
  result.rt_us = time_round_trips(params, call);
  // One slot each way: no pipelining; back-to-back calls, capped like the other sequential rows.
  result.pipelined_calls = std::min(params.pipelined_count, params.rt_count);
  result.pipelined_seconds = time_sequential(result.pipelined_calls, call);
  result.pipeline_mode = PipelineMode::sequential;
  s.stop.store(1, std::memory_order_release);
  if (!server.join(kJoinTimeoutMs)) throw std::runtime_error("raw-shm server did not exit");
  return result;
}

const RrRegistrar raw_shm_case{RrCase{"raw-shm-busypoll", run_raw_shm}};

}  // namespace
}  // namespace plexus_bench

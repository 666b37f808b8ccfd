#include "rpc/trace.hpp"

#include <random>

#include "plexus/call.hpp"
#include "wire/traceparent.hpp"

namespace plexus::rpc::trace {

namespace {

// Seeded once per thread from the OS: ids must not repeat across processes, and a trace id is
// not a secret (the W3C format makes it visible to every hop), so a fast generator suffices.
std::mt19937_64& generator() {
  thread_local std::mt19937_64 gen = [] {
    std::random_device device;
    std::seed_seq seed{device(), device(), device(), device()};
    return std::mt19937_64(seed);
  }();
  return gen;
}

template <std::size_t N>
void fill_random(std::array<std::uint8_t, N>& out) {
  for (;;) {
    for (std::size_t i = 0; i < N; i += 8) {
      auto v = generator()();
      for (std::size_t j = i; j < N && j < i + 8; ++j, v >>= 8)
        out[j] = static_cast<std::uint8_t>(v);
    }
    for (auto b : out) {
      if (b != 0) return;  // all zero is invalid: draw again
    }
  }
}

thread_local CallContext* current_ctx = nullptr;
thread_local std::string_view current_trace;

}  // namespace

std::string generate() {
  wire::TraceParent tp;
  fill_random(tp.trace_id);
  fill_random(tp.parent_id);
  tp.flags = 1;  // sampled: plexus records every trace it sees in its logs
  return wire::format_traceparent(tp);
}

std::string child_of(std::string_view parent) {
  auto tp = wire::parse_traceparent(parent);
  if (!tp) return std::string(parent);
  fill_random(tp->parent_id);
  return wire::format_traceparent(*tp);
}

Scope::Scope(CallContext& ctx) : saved_ctx_(current_ctx), saved_trace_(current_trace) {
  current_ctx = &ctx;
  current_trace = {};
}

Scope::Scope(std::string_view trace) : saved_ctx_(current_ctx), saved_trace_(current_trace) {
  current_ctx = nullptr;
  current_trace = trace;
}

Scope::~Scope() {
  current_ctx = saved_ctx_;
  current_trace = saved_trace_;
}

std::string_view current() {
  return current_ctx ? current_ctx->trace_id() : current_trace;
}

std::string for_outgoing() {
  if (!current_ctx && current_trace.empty()) return {};
  return child_of(current());
}

}  // namespace plexus::rpc::trace

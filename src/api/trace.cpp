#include "plexus/trace.hpp"

#include "rpc/trace.hpp"
#include "wire/traceparent.hpp"

namespace plexus {

TraceScope::TraceScope(std::string trace)
    : trace_(std::move(trace)), scope_(std::make_unique<rpc::trace::Scope>(trace_)) {}

TraceScope::~TraceScope() = default;

std::string new_trace() {
  return rpc::trace::generate();
}

std::string current_trace() {
  return std::string(rpc::trace::current());
}

std::string trace_id_of(std::string_view trace) {
  return std::string(wire::trace_id_of(trace));
}

}  // namespace plexus

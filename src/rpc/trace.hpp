// Trace propagation (W3C traceparent, wire/traceparent.hpp). While a handler runs, its call is
// the thread's current trace: calls, notifications, publishes, streams and lanes started on the
// thread then carry a child of it (same trace id, a new parent id), so a trace crosses every hop
// without the application passing it along. An application sets the current trace itself with
// plexus::TraceScope. A received id that is not a traceparent is passed on unchanged.
//
// Threading: the current trace is per thread; ids are drawn from a per-thread generator.
#pragma once

#include <string>
#include <string_view>

namespace plexus {
class CallContext;
}

namespace plexus::rpc::trace {

// A new traceparent: a random trace id and parent id, sampled.
std::string generate();
// A child of `parent`: the same trace id and flags with a new parent id; `parent` itself when it
// is not a traceparent (an opaque id); empty when it is empty.
std::string child_of(std::string_view parent);

// Makes `ctx` (its trace, drawn when first needed) or an explicit trace the thread's current
// one until destroyed; scopes nest.
class Scope {
 public:
  explicit Scope(CallContext& ctx);
  explicit Scope(std::string_view trace);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  CallContext* saved_ctx_;
  std::string_view saved_trace_;
};

// The thread's current trace (empty: none); a handler's is drawn on first use.
std::string_view current();
// What a message started on this thread carries when its sender set none: a child of the
// current trace, or empty.
std::string for_outgoing();

}  // namespace plexus::rpc::trace

/// \file
/// Trace context: W3C `traceparent` ids ("00-<32 hex trace id>-<16 hex parent id>-<2 hex
/// flags>") that plexus carries on calls, notifications, publishes, streams and lanes, shows in
/// its logs and on the status page, and passes on from hop to hop by itself.
///
/// While a handler runs (a synchronous or offloaded one, an asynchronous one's own run, a
/// coroutine until its first suspension, a subscriber's callback), the trace of what it serves
/// is the thread's current trace: whatever it sends through any Client or Peer carries a child
/// of it (the same trace id, a new parent id). Elsewhere, an application makes a trace current
/// with TraceScope, or sets CallOptions::trace_id / StreamOptions::trace_id itself. A call that
/// arrives with no trace gets one drawn by the callee (CallContext::trace_id()).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "plexus/export.hpp"

namespace plexus {

namespace rpc::trace {
class Scope;
}  // namespace rpc::trace

/// Makes `trace` the calling thread's current trace until destroyed (scopes nest; the previous
/// one comes back). Ownership: keeps its own copy. Threading: affects the calling thread only.
class PLEXUS_EXPORT TraceScope {
 public:
  /// `trace`: a traceparent (new_trace()) or any id of up to 64 bytes.
  explicit TraceScope(std::string trace);
  ~TraceScope();                                      ///< the previous current trace comes back
  TraceScope(const TraceScope&) = delete;             ///< tied to its thread and scope
  TraceScope& operator=(const TraceScope&) = delete;  ///< tied to its thread and scope

 private:
  std::string trace_;
  std::unique_ptr<rpc::trace::Scope> scope_;
};

/// A new traceparent: random trace and parent ids, flags 01 (sampled).
PLEXUS_EXPORT std::string new_trace();
/// The calling thread's current trace (a handler's, a subscriber's, a TraceScope's); empty when
/// there is none.
PLEXUS_EXPORT std::string current_trace();
/// The trace id of a traceparent (32 hex characters), which every hop of one trace shares; any
/// other id whole.
PLEXUS_EXPORT std::string trace_id_of(std::string_view trace);

}  // namespace plexus

/// \file
/// NatsBridge: joins a Server to a NATS subject space (the NATS C client, libnats), so that a
/// call or a publish crosses hosts with the same API and the same wildcard grammar (`*`, `>`).
///
/// Subjects (docs/PROTOCOL.md §25): a method M is served on `PREFIX.call.M`, a topic T travels
/// on `PREFIX.topic.T`. Only what the options name crosses: nothing leaves the machine by
/// default.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plexus/export.hpp"
#include "plexus/runtime.hpp"
#include "plexus/server.hpp"
#include "plexus/status.hpp"

namespace plexus {

/// A remote method the local server serves: a call to `local` here becomes a NATS request on
/// PREFIX.call.REMOTE (REMOTE being `remote`), answered by whichever bridge exports `remote`.
struct PLEXUS_EXPORT NatsImport {
  std::string local;   ///< the method name the local server registers
  std::string remote;  ///< the method name on the NATS side (what another bridge exports)
};

/// Options of NatsBridge::start. A plain value, copied into the bridge.
struct PLEXUS_EXPORT NatsBridgeOptions {
  /// nats://HOST:PORT, or several separated by commas (the C client's server list).
  std::string url;
  /// The subject space's first token: subjects are PREFIX.call.METHOD and PREFIX.topic.TOPIC.
  /// Bridges that are to reach each other share it.
  std::string prefix = "plexus";
  /// The connection's name as nats-server shows it (empty: "plexus-bridge").
  std::string name;
  /// Local methods answered for NATS requests: names (`echo`) or patterns with the NATS
  /// wildcards (one token, or every token to the end), matched against the subject by NATS
  /// itself. Exported calls run through a client of the server's own, so every method the
  /// server serves can be exported.
  std::vector<std::string> export_methods;
  std::vector<NatsImport> import_methods;  ///< remote methods served locally (NatsImport)
  /// Local topic patterns whose publishes are sent to NATS.
  std::vector<std::string> export_topics;
  /// Topic patterns whose NATS messages are published on the local server.
  std::vector<std::string> import_topics;
  /// Where exported calls go: an address of the server (empty: its first address).
  std::string local_address;
  Millis connect_timeout{2000};  ///< the first connection to NATS, per server in `url`
  Millis reconnect_wait{1000};   ///< between reconnect attempts (it retries for ever)
  /// A call that carries no deadline gets this one, on either side of the bridge.
  Millis default_timeout{30000};
  /// Exported methods are served in this NATS queue group: bridges exporting one method share
  /// its requests instead of each answering.
  std::string queue_group = "plexus";
  /// Each message is written to the NATS socket at once (natsOptions_SetSendAsap): a request or
  /// a reply does not wait for the C client's flusher (about a millisecond). False: messages are
  /// coalesced, fewer writes for high publish rates, a millisecond more per call.
  bool send_asap = true;
};

/// A snapshot of a bridge's counters (NatsBridge::stats); the same numbers are in the server's
/// metrics (plexus_nats_*, the "nats" section of plexus.stats).
struct PLEXUS_EXPORT NatsBridgeStats {
  bool connected = false;            ///< connected to a NATS server now
  std::uint64_t disconnects = 0;     ///< times the connection was lost
  std::uint64_t reconnects = 0;      ///< times it came back
  std::uint64_t messages_in = 0;     ///< NATS messages received (requests, replies, publishes)
  std::uint64_t messages_out = 0;    ///< NATS messages sent
  std::uint64_t calls_exported = 0;  ///< NATS requests answered by the local server
  std::uint64_t calls_imported = 0;  ///< local calls sent as NATS requests
  std::uint64_t errors = 0;          ///< publishes NATS refused, asynchronous NATS errors
};

/// The bridge between one Server and NATS. Ownership: owned by the caller; the Runtime and the
/// Server must outlive it. Threading: NATS callbacks run on the C client's threads and never on
/// the runtime's I/O threads; every method is thread-safe; the destructor blocks until no
/// callback runs any more and must not run on an I/O thread.
class PLEXUS_EXPORT NatsBridge {
 public:
  /// Connects to NATS (failing at once, unavailable naming the URL, when none answers within
  /// connect_timeout), registers the imported methods on `server`, subscribes the exported
  /// ones and the topics. `server` must be started (exported calls connect to it).
  /// invalid_argument for a name or pattern that is no NATS subject.
  static Result<std::unique_ptr<NatsBridge>> start(Runtime& runtime, Server& server,
                                                   NatsBridgeOptions options);
  /// Removes the imported methods, fails calls waiting on NATS with unavailable, closes the
  /// NATS connection and waits until its callbacks have returned.
  ~NatsBridge();
  NatsBridge(const NatsBridge&) = delete;
  NatsBridge& operator=(const NatsBridge&) = delete;

  NatsBridgeStats stats() const;  ///< the counters now

  struct State;  // shared with the NATS and plexus callbacks (src/api/nats_bridge.cpp)

 private:
  NatsBridge() = default;
  std::shared_ptr<State> state_;
};

/// The `[nats]` table of a TOML file (`plexus serve --config`): url, prefix, name,
/// export-methods, import-methods ("NAME" or "LOCAL=REMOTE"), export-topics, import-topics,
/// connect-timeout-ms, reconnect-wait-ms, default-timeout-ms, queue-group, send-asap. Other
/// tables and keys
/// are not read; `nats = "nats://…"` alone sets the url. A file without either gives default
/// options (an empty url).
/// invalid_argument with "FILE:LINE: …" for an unknown key or a value of the wrong shape.
PLEXUS_EXPORT Result<NatsBridgeOptions> read_nats_bridge_config(const std::string& path);

}  // namespace plexus

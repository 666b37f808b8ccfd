// The server's publish/subscribe router: the subscription table, one bounded queue per
// subscription, and the slow-subscriber policies (include/plexus/pubsub.hpp).
//
// A publish is matched against every subscription (wire/topic_pattern.hpp) and queued for each
// match; delivery runs later on the subscriber's executor (a posted pump), never inside
// publish(). A remote subscription's pump hands messages to its session only while the
// connection's unwritten bytes stay under kMaxBacklog (checked per chunk of 64 messages), and
// resumes when the connection reports the writes done; so one subscriber holds at most
// queue_limit messages here plus kMaxBacklog bytes and one chunk in its connection, whatever
// the publishers do.
//
// Threading: every method is thread-safe (one mutex guards the table and the queues); callbacks
// and sends run on the subscriber's executor, outside the lock.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <asio/any_io_executor.hpp>

#include "plexus/pubsub.hpp"
#include "plexus/status.hpp"
#include "rpc/spin_then_block_mutex.hpp"

namespace plexus::rpc {

class Session;

// One published message, shared by every queue it is in.
struct PubMessage {
  std::string topic;
  std::string payload;
  bool immediate = false;  // PublishOptions::immediate, honoured on each subscriber's link
  std::string trace;       // the publisher's trace (rpc/trace.hpp), carried to each subscriber
};
using PubMessagePtr = std::shared_ptr<const PubMessage>;

// Plain atomic counters; stats() takes a snapshot (the server's metrics collectors read it).
struct PubSubCounters {
  std::atomic<std::uint64_t> published{0};
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> dropped_oldest{0};
  std::atomic<std::uint64_t> dropped_newest{0};
  std::atomic<std::uint64_t> dropped_too_large{0};
  std::atomic<std::uint64_t> blocked{0};
  std::atomic<std::uint64_t> block_refused{0};
  std::atomic<std::uint64_t> disconnected{0};
};

// SUBSCRIBE payloads (docs/PROTOCOL.md §Publish/subscribe): empty, or a JSON object
// {"queue": 1..1000000, "policy": "drop_oldest"|"drop_newest"|"block"|"disconnect"}, each
// field optional. invalid_argument for anything else.
Result<SubscribeOptions> parse_subscribe_options(std::string_view payload);
std::string encode_subscribe_options(const SubscribeOptions& options);

// One subscription as the metrics and the status page show it.
struct SubscriptionSnapshot {
  std::string pattern;
  std::string subscriber;  // the subscribing peer's name; "(server)" for Server::subscribe
  SlowPolicy policy = SlowPolicy::drop_oldest;
  std::size_t queue_limit = 0;
  std::size_t queued = 0;       // messages waiting in its queue now
  std::uint64_t delivered = 0;  // handed to its subscriber
  std::uint64_t dropped = 0;    // discarded for it: drop_oldest / drop_newest, or too large
};

class Router : public std::enable_shared_from_this<Router> {
 public:
  // Bytes a remote subscriber's connection may hold unwritten before its pump waits.
  static constexpr std::size_t kMaxBacklog = 256 * 1024;

  // Where a subscription's messages go: a remote session (PUBLISH with the subscription id) or
  // a server-local handler run on `executor`.
  struct Target {
    std::weak_ptr<Session> session;
    MessageHandler handler;
    asio::any_io_executor executor;
  };

  // Adds (or replaces) subscription `id` of `owner` (null: server-local). Fails with
  // invalid_argument for a bad pattern or options.
  Result<void> subscribe(const Session* owner, SubscriptionId id, std::string_view pattern,
                         const SubscribeOptions& options, Target target);
  void unsubscribe(const Session* owner, SubscriptionId id);
  // Forgets every subscription of a closed session.
  void drop_session(const Session* owner);
  // The patterns `owner` is subscribed to now (an access policy reload checks them again).
  std::vector<std::string> patterns_of(const Session* owner) const;

  // Routes one message to every matching subscription. `from` is the publishing session (null
  // for a server-local publish); a full `block` subscription pauses its reading until there is
  // room. A server-local publish waits for room when `may_wait`, and otherwise fails with
  // resource_exhausted for the full block subscriptions (the others still get the message).
  // Fails with invalid_argument for a bad topic.
  Result<void> publish(const std::shared_ptr<Session>& from, PubMessagePtr message, bool may_wait);

  // `session`'s connection has written everything: its waiting pumps go on.
  void on_writable(const Session* session);

  PubSubStats stats() const;
  // Every open subscription, in subscription order.
  std::vector<SubscriptionSnapshot> subscriptions() const;

 private:
  struct Sub;
  void schedule_pump(const std::shared_ptr<Sub>& sub);  // mu_ held
  void pump(const std::shared_ptr<Sub>& sub);
  // Publishers `sub` paused that wait on no other subscription now; mu_ held.
  std::vector<std::weak_ptr<Session>> release_publishers(Sub& sub);
  void remove_locked(std::vector<std::shared_ptr<Sub>>::iterator it);

  // Held for a few hundred nanoseconds at a time, by publishers on any thread and by pumps on
  // the I/O threads: a waiter spins briefly before it sleeps (a futex sleep and wake-up costs
  // ~10 µs here, far more than the wait).
  mutable SpinThenBlockMutex mu_;
  std::condition_variable_any room_;              // a queue shrank or a subscription went away
  std::vector<std::shared_ptr<Sub>> subs_;        // guarded by mu_
  std::atomic<std::size_t> waiting_writable_{0};  // subs whose pump waits for on_writable
  PubSubCounters counters_;
};

}  // namespace plexus::rpc

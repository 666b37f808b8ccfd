#include "rpc/pubsub_router.hpp"
#include "rpc/trace.hpp"

#include <algorithm>
#include <exception>

#include <asio/post.hpp>
#include <nlohmann/json.hpp>
#include "observe/log.hpp"

#include "rpc/session.hpp"
#include "wire/topic_pattern.hpp"

namespace plexus {

std::string_view to_string(SlowPolicy policy) {
  switch (policy) {
    case SlowPolicy::drop_oldest:
      return "drop_oldest";
    case SlowPolicy::drop_newest:
      return "drop_newest";
    case SlowPolicy::block:
      return "block";
    case SlowPolicy::disconnect:
      return "disconnect";
  }
  return "?";
}

Result<SlowPolicy> parse_slow_policy(std::string_view text) {
  for (auto p : {SlowPolicy::drop_oldest, SlowPolicy::drop_newest, SlowPolicy::block,
                 SlowPolicy::disconnect}) {
    if (text == to_string(p)) return p;
  }
  return make_error(StatusCode::invalid_argument,
                    "unknown slow-subscriber policy \"" + std::string(text) +
                        "\" (drop_oldest, drop_newest, block, disconnect)");
}

}  // namespace plexus

namespace plexus::rpc {

using wire::topic_matches;
using wire::validate_pattern;
using wire::validate_topic;

namespace {

constexpr std::size_t kMaxQueueLimit = 1'000'000;
constexpr int kMessagesPerPump = 512;  // then the pump re-posts itself: other work gets a turn

void resume_all(const std::vector<std::weak_ptr<Session>>& publishers) {
  for (const auto& weak : publishers) {
    if (auto s = weak.lock()) asio::post(s->executor(), [s] { s->resume_reading(); });
  }
}

}  // namespace

Result<SubscribeOptions> parse_subscribe_options(std::string_view payload) {
  SubscribeOptions options;
  if (payload.empty()) return options;
  const auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) {
    return make_error(StatusCode::invalid_argument, "subscribe options must be a JSON object");
  }
  if (auto it = j.find("queue"); it != j.end()) {
    if (!it->is_number_unsigned() || it->get<std::uint64_t>() == 0 ||
        it->get<std::uint64_t>() > kMaxQueueLimit) {
      return make_error(StatusCode::invalid_argument, "\"queue\" must be an integer 1..1000000");
    }
    options.queue_limit = it->get<std::size_t>();
  }
  if (auto it = j.find("policy"); it != j.end()) {
    if (!it->is_string()) {
      return make_error(StatusCode::invalid_argument, "\"policy\" must be a string");
    }
    auto policy = parse_slow_policy(it->get<std::string>());
    if (!policy) return tl::unexpected(policy.error());
    options.policy = *policy;
  }
  return options;
}

std::string encode_subscribe_options(const SubscribeOptions& options) {
  return nlohmann::json{{"queue", options.queue_limit},
                        {"policy", std::string(to_string(options.policy))}}
      .dump();
}

struct Router::Sub {
  struct Paused {
    const Session* raw;
    std::weak_ptr<Session> weak;
  };
  const Session* owner = nullptr;
  SubscriptionId id = 0;
  std::string pattern;
  std::string subscriber;  // for the status page
  SubscribeOptions options;
  Target target;
  // Everything below is guarded by Router::mu_.
  std::uint64_t delivered = 0;
  std::uint64_t dropped = 0;
  std::deque<PubMessagePtr> queue;
  bool pump_scheduled = false;
  bool waiting_writable = false;  // the pump stopped on the connection's backlog
  bool dead = false;
  std::vector<Paused> paused;  // publishers whose reading this full queue paused

  bool full() const { return queue.size() >= options.queue_limit; }
};

Result<void> Router::subscribe(const Session* owner, SubscriptionId id, std::string_view pattern,
                               const SubscribeOptions& options, Target target) {
  if (auto ok = validate_pattern(pattern); !ok) return ok;
  if (options.queue_limit == 0 || options.queue_limit > kMaxQueueLimit) {
    return make_error(StatusCode::invalid_argument, "queue limit must be 1 to 1000000, not " +
                                                        std::to_string(options.queue_limit));
  }
  auto sub = std::make_shared<Sub>();
  sub->owner = owner;
  sub->id = id;
  sub->pattern = std::string(pattern);
  // On the owner's strand, after its handshake: the identity is complete.
  sub->subscriber = owner ? owner->identity().name : std::string("(server)");
  sub->options = options;
  sub->target = std::move(target);
  std::vector<std::weak_ptr<Session>> resume;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(subs_.begin(), subs_.end(),
                           [&](const auto& s) { return s->owner == owner && s->id == id; });
    if (it != subs_.end()) {
      resume = release_publishers(**it);
      remove_locked(it);
    }
    subs_.push_back(std::move(sub));
  }
  resume_all(resume);
  return {};
}

void Router::unsubscribe(const Session* owner, SubscriptionId id) {
  std::vector<std::weak_ptr<Session>> resume;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(subs_.begin(), subs_.end(),
                           [&](const auto& s) { return s->owner == owner && s->id == id; });
    if (it == subs_.end()) return;
    resume = release_publishers(**it);
    remove_locked(it);
  }
  resume_all(resume);
}

std::vector<std::string> Router::patterns_of(const Session* owner) const {
  std::vector<std::string> patterns;
  std::lock_guard lock(mu_);
  for (const auto& s : subs_) {
    if (s->owner == owner) patterns.push_back(s->pattern);
  }
  return patterns;
}

void Router::drop_session(const Session* owner) {
  std::vector<std::weak_ptr<Session>> resume;
  {
    std::lock_guard lock(mu_);
    for (auto& s : subs_) {
      // The closed session no longer waits on anyone.
      std::erase_if(s->paused, [owner](const Sub::Paused& p) { return p.raw == owner; });
    }
    for (auto it = subs_.begin(); it != subs_.end();) {
      if ((*it)->owner != owner) {
        ++it;
        continue;
      }
      auto released = release_publishers(**it);
      resume.insert(resume.end(), released.begin(), released.end());
      if ((*it)->waiting_writable) waiting_writable_.fetch_sub(1, std::memory_order_relaxed);
      (*it)->waiting_writable = false;
      (*it)->dead = true;
      (*it)->queue.clear();
      it = subs_.erase(it);
    }
    room_.notify_all();
  }
  resume_all(resume);
}

void Router::remove_locked(std::vector<std::shared_ptr<Sub>>::iterator it) {
  if ((*it)->waiting_writable) waiting_writable_.fetch_sub(1, std::memory_order_relaxed);
  (*it)->waiting_writable = false;
  (*it)->dead = true;
  (*it)->queue.clear();
  subs_.erase(it);
  room_.notify_all();
}

std::vector<std::weak_ptr<Session>> Router::release_publishers(Sub& sub) {
  std::vector<std::weak_ptr<Session>> out;
  for (const auto& p : sub.paused) {
    const bool waits_elsewhere = std::any_of(subs_.begin(), subs_.end(), [&](const auto& other) {
      return other.get() != &sub && !other->dead && other->full() &&
             std::any_of(other->paused.begin(), other->paused.end(),
                         [&](const Sub::Paused& q) { return q.raw == p.raw; });
    });
    const bool listed = std::any_of(out.begin(), out.end(), [&](const auto& w) {
      return !w.owner_before(p.weak) && !p.weak.owner_before(w);
    });
    if (!waits_elsewhere && !listed) out.push_back(p.weak);
  }
  sub.paused.clear();
  return out;
}

Result<void> Router::publish(const std::shared_ptr<Session>& from, PubMessagePtr message,
                             bool may_wait) {
  if (auto ok = validate_topic(message->topic); !ok) return ok;
  // Reused by every publish on this thread (no allocation per message). Per thread, not per
  // router: a `block` publisher below waits with the lock released while others publish.
  thread_local std::vector<std::shared_ptr<Sub>> matched;
  matched.clear();
  std::vector<std::weak_ptr<Session>> to_disconnect;
  bool pause_from = false;
  std::size_t refused = 0;
  {
    std::unique_lock lock(mu_);
    counters_.published.fetch_add(1, std::memory_order_relaxed);
    for (const auto& s : subs_) {
      if (topic_matches(s->pattern, message->topic)) matched.push_back(s);
    }
    for (const auto& s : matched) {
      if (s->dead) continue;
      if (s->full()) {
        bool keep = true;
        switch (s->options.policy) {
          case SlowPolicy::drop_oldest:
            s->queue.pop_front();
            ++s->dropped;
            counters_.dropped_oldest.fetch_add(1, std::memory_order_relaxed);
            break;
          case SlowPolicy::drop_newest:
            ++s->dropped;
            counters_.dropped_newest.fetch_add(1, std::memory_order_relaxed);
            keep = false;
            break;
          case SlowPolicy::disconnect: {
            counters_.disconnected.fetch_add(1, std::memory_order_relaxed);
            to_disconnect.push_back(s->target.session);
            auto resume = release_publishers(*s);
            resume_all(resume);  // only posts
            remove_locked(std::find(subs_.begin(), subs_.end(), s));
            keep = false;
            break;
          }
          case SlowPolicy::block:
            counters_.blocked.fetch_add(1, std::memory_order_relaxed);
            if (from) {
              // Queued over the limit by this one message; the publisher sends no more until
              // the queue has room (its connection is not read meanwhile).
              s->paused.push_back({from.get(), from});
              pause_from = true;
            } else if (may_wait) {
              room_.wait(lock, [&] { return s->dead || !s->full(); });
              keep = !s->dead;
            } else {
              counters_.block_refused.fetch_add(1, std::memory_order_relaxed);
              ++refused;
              keep = false;
            }
            break;
        }
        if (!keep) continue;
      }
      s->queue.push_back(message);
      schedule_pump(s);
    }
    matched.clear();  // holds no subscription alive past this publish
  }
  if (pause_from) from->pause_reading();  // publish runs on `from`'s executor (its on_frame)
  for (const auto& weak : to_disconnect) {
    if (auto s = weak.lock()) {
      asio::post(s->executor(), [s] {
        const Error e{
            StatusCode::resource_exhausted, "slow subscriber disconnected: its queue was full", {}};
        s->goaway(e);
        s->close(e, /*flush=*/true);
      });
    }
  }
  if (refused > 0) {
    return make_error(StatusCode::resource_exhausted,
                      std::to_string(refused) +
                          " subscriber queue(s) full (block policy) and this thread may not wait");
  }
  return {};
}

void Router::schedule_pump(const std::shared_ptr<Sub>& sub) {
  if (sub->pump_scheduled || sub->waiting_writable) return;
  sub->pump_scheduled = true;
  asio::post(sub->target.executor, [self = shared_from_this(), sub] { self->pump(sub); });
}

void Router::pump(const std::shared_ptr<Sub>& sub) {
  std::shared_ptr<Session> session;
  if (!sub->target.handler) session = sub->target.session.lock();
  // Messages leave the queue in chunks, one lock per chunk: a publisher on another thread
  // contends for the same lock once per message it routes.
  constexpr std::size_t kChunk = 64;
  std::vector<PubMessagePtr> chunk;
  chunk.reserve(kChunk);
  for (int taken = 0; taken < kMessagesPerPump; taken += static_cast<int>(chunk.size())) {
    chunk.clear();
    std::vector<std::weak_ptr<Session>> resume;
    {
      std::lock_guard lock(mu_);
      if (sub->dead || sub->queue.empty() ||
          (!sub->target.handler && (!session || session->closed()))) {
        sub->pump_scheduled = false;
        return;
      }
      if (session && session->write_backlog() >= kMaxBacklog) {
        sub->pump_scheduled = false;
        sub->waiting_writable = true;  // on_writable() starts it again
        waiting_writable_.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      const std::size_t n = std::min(kChunk, sub->queue.size());
      for (std::size_t i = 0; i < n; ++i) {
        PubMessagePtr m = std::move(sub->queue.front());
        sub->queue.pop_front();
        if (session && m->payload.size() > session->peer_max_message_size()) {
          // The subscriber would refuse it: its subscription's drop, counted, not a silent one.
          ++sub->dropped;
          counters_.dropped_too_large.fetch_add(1, std::memory_order_relaxed);
          continue;
        }
        chunk.push_back(std::move(m));
      }
      counters_.delivered.fetch_add(chunk.size(), std::memory_order_relaxed);
      sub->delivered += chunk.size();
      if (!sub->paused.empty() && !sub->full()) resume = release_publishers(*sub);
      if (sub->options.policy == SlowPolicy::block) room_.notify_all();
    }
    resume_all(resume);
    for (const auto& m : chunk) {
      if (sub->target.handler) {
        const trace::Scope scope(m->trace);  // calls the subscriber makes continue the trace
        try {
          sub->target.handler(m->topic, m->payload);
        } catch (const std::exception& e) {
          observe::logger().warn("plexus: subscriber of \"{}\" threw: {}", sub->pattern, e.what());
        } catch (...) {
          observe::logger().warn("plexus: subscriber of \"{}\" threw", sub->pattern);
        }
      } else {
        (void)session->publish(sub->id, m->topic, m->payload, m->immediate, m->trace);
      }
    }
  }
  std::lock_guard lock(mu_);
  sub->pump_scheduled = false;
  if (!sub->dead && !sub->queue.empty()) schedule_pump(sub);
}

void Router::on_writable(const Session* session) {
  // Called after every write of every session: most have no pump waiting.
  if (waiting_writable_.load(std::memory_order_relaxed) == 0) return;
  std::lock_guard lock(mu_);
  for (const auto& s : subs_) {
    if (s->owner == session && s->waiting_writable) {
      s->waiting_writable = false;
      waiting_writable_.fetch_sub(1, std::memory_order_relaxed);
      schedule_pump(s);
    }
  }
}

PubSubStats Router::stats() const {
  PubSubStats st;
  st.published = counters_.published.load();
  st.delivered = counters_.delivered.load();
  st.dropped_oldest = counters_.dropped_oldest.load();
  st.dropped_newest = counters_.dropped_newest.load();
  st.dropped_too_large = counters_.dropped_too_large.load();
  st.blocked = counters_.blocked.load();
  st.block_refused = counters_.block_refused.load();
  st.disconnected = counters_.disconnected.load();
  std::lock_guard lock(mu_);
  st.subscriptions = subs_.size();
  return st;
}

std::vector<SubscriptionSnapshot> Router::subscriptions() const {
  std::vector<SubscriptionSnapshot> out;
  std::lock_guard lock(mu_);
  out.reserve(subs_.size());
  for (const auto& s : subs_) {
    out.push_back({s->pattern, s->subscriber, s->options.policy, s->options.queue_limit,
                   s->queue.size(), s->delivered, s->dropped});
  }
  return out;
}

}  // namespace plexus::rpc

#include "api/queue_service.hpp"

#include <asio/post.hpp>
#include <nlohmann/json.hpp>
#include <set>

#include "api/durable_json.hpp"
#include "observe/log.hpp"
#include "wire/envelope.hpp"

namespace plexus::detail {
namespace {

// Housekeeping period: expired leases, consumers whose session ended, delayed messages whose
// time came. Deliveries themselves are driven by events (a send, an answer), not by this.
constexpr auto kTick = std::chrono::milliseconds(50);

// What a consumer that stopped answers a delivery with (details of its unavailable): the
// message goes back to the queue instead of counting as a failed delivery.
constexpr std::string_view kConsumerStopped = R"("consumer":"stopped")";

const char* const kNoQueues =
    "this server keeps no durable queues: start it with a data directory "
    "(plexus serve --data-dir DIR, ServerOptions::durable.data_dir)";

const char* const kMethods[] = {"plexus.queue.send",  "plexus.queue.consume", "plexus.queue.cancel",
                                "plexus.queue.stats", "plexus.dlq.list",      "plexus.dlq.show",
                                "plexus.dlq.replay",  "plexus.dlq.purge"};

Result<nlohmann::json> parse_object(std::string_view payload, std::string_view method) {
  auto j = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return make_error(StatusCode::invalid_argument, std::string(method) + " takes a JSON object");
  }
  return j;
}

// A message's payload is any bytes: bytes that are not UTF-8 become U+FFFD in the JSON rather
// than failing the dump.
std::string printable(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string string_field(const nlohmann::json& j, const char* name) {
  auto it = j.find(name);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

struct QueueService::PendingSend {
  NewMessage message;
  Responder responder;
};

Result<std::shared_ptr<QueueService>> QueueService::open(const DurableOptions& options,
                                                         std::uint32_t max_message_size) {
  durable::StoreOptions so;
  so.dir = options.data_dir;
  so.durability = options.durability;
  so.max_message_size = max_message_size;
  so.queue_defaults = options.queue_defaults;
  so.clock = options.clock;
  so.on_dead_letter = [](const durable::DeadLettered& d) {
    observe::logger().warn(
        "plexus: message {} of queue {} dead-lettered after {} deliveries ({}, {}): {}", d.id,
        d.queue, d.attempts, to_string(d.reason), to_string(d.status), d.error);
  };
  auto store = durable::DurableStore::open(std::move(so));
  if (!store) return tl::unexpected(store.error());
  for (const auto& [name, q] : options.queues) {
    if (auto ok = (*store)->configure_queue(name, q); !ok) return tl::unexpected(ok.error());
  }
  std::shared_ptr<QueueService> service(new QueueService(options, std::move(*store)));
  service->start();
  return service;
}

QueueService::QueueService(DurableOptions options, std::unique_ptr<durable::DurableStore> store)
    : options_(std::move(options)), store_(std::move(store)), tick_timer_(io_) {}

QueueService::~QueueService() {
  stop();
}

void QueueService::start() {
  work_.emplace(io_.get_executor());
  arm_tick();
  thread_ = std::thread([this] { io_.run(); });
}

void QueueService::stop() {
  std::call_once(stopped_, [this] {
    asio::post(io_, [this] {
      tick_timer_.cancel();
      consumers_.clear();
    });
    work_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    // Sends still waiting are answered: the server is going, the sender resends elsewhere.
    std::vector<PendingSend> left;
    {
      std::lock_guard lock(send_mu_);
      left.swap(pending_);
    }
    for (auto& p : left) {
      p.responder.reply(make_error(StatusCode::unavailable, "server is shutting down"));
    }
  });
}

Result<DurableStats> QueueService::stats() {
  return store_->stats();
}

const QueueOptions& QueueService::queue_options(const std::string& queue) const {
  auto it = options_.queues.find(queue);
  return it == options_.queues.end() ? options_.queue_defaults : it->second;
}

void QueueService::register_unavailable(HandlerRegistry& registry) {
  for (const char* m : kMethods) {
    registry.handle(m, [](CallContext&, std::string_view) -> Result<std::string> {
      return make_error(StatusCode::failed_precondition, kNoQueues);
    });
  }
}

void QueueService::on_thread(Responder responder, std::function<Result<std::string>()> work) {
  asio::post(io_,
             [r = std::move(responder), work = std::move(work)]() mutable { r.reply(work()); });
}

void QueueService::register_methods(HandlerRegistry& registry) {
  std::weak_ptr<QueueService> weak = weak_from_this();
  // Each handler holds the service weakly: the server's handler table may outlive it.
  auto gone = [](Responder& r) {
    r.reply(make_error(StatusCode::unavailable, "the server's queues are closed"));
  };
  registry.handle_async("plexus.queue.send",
                        [weak, gone](CallContext&, std::string_view payload, Responder r) {
                          auto self = weak.lock();
                          if (!self) return gone(r);
                          self->on_send(payload, std::move(r));
                        });
  registry.handle_async("plexus.queue.consume",
                        [weak, gone](CallContext& ctx, std::string_view payload, Responder r) {
                          auto self = weak.lock();
                          if (!self) return gone(r);
                          self->on_consume(ctx, payload, std::move(r));
                        });
  auto admin = [&registry, weak, gone](
                   const char* method,
                   std::function<Result<std::string>(QueueService&, const nlohmann::json&)> fn) {
    registry.handle_async(
        method, [weak, gone, method, fn](CallContext&, std::string_view payload, Responder r) {
          auto self = weak.lock();
          if (!self) return gone(r);
          auto args = parse_object(payload.empty() ? std::string_view("{}") : payload, method);
          if (!args) return r.reply(tl::unexpected(args.error()));
          self->on_thread(std::move(r),
                          [self, fn, args = std::move(*args)] { return fn(*self, args); });
        });
  };
  admin("plexus.queue.cancel", [](QueueService& s, const nlohmann::json& a) -> Result<std::string> {
    const auto name = string_field(a, "consumer");
    if (s.consumers_.count(name) == 0) {
      return make_error(StatusCode::not_found, "no consumer " + name);
    }
    s.drop_consumer(name, "cancelled");
    return std::string("{}");
  });
  admin("plexus.queue.stats", [](QueueService& s, const nlohmann::json&) -> Result<std::string> {
    auto st = s.store_->stats();
    if (!st) return tl::unexpected(st.error());
    return printable(to_json(*st));
  });
  admin("plexus.dlq.list", [](QueueService& s, const nlohmann::json& a) -> Result<std::string> {
    std::size_t limit = 100;
    if (auto it = a.find("limit"); it != a.end() && it->is_number_unsigned())
      limit = it->get<std::size_t>();
    auto list = s.store_->dead_letters(string_field(a, "queue"), limit);
    if (!list) return tl::unexpected(list.error());
    nlohmann::json out = nlohmann::json::array();
    for (const auto& d : *list) out.push_back(to_json(d));
    return printable(out);
  });
  admin("plexus.dlq.show", [](QueueService& s, const nlohmann::json& a) -> Result<std::string> {
    auto d = s.store_->dead_letter(string_field(a, "id"));
    if (!d) return tl::unexpected(d.error());
    return printable(to_json(*d));
  });
  admin("plexus.dlq.replay", [](QueueService& s, const nlohmann::json& a) -> Result<std::string> {
    const auto id = string_field(a, "id");
    auto d = s.store_->dead_letter(id);
    if (!d) return tl::unexpected(d.error());
    if (auto ok = s.store_->replay(id); !ok) return tl::unexpected(ok.error());
    s.pump(d->message.queue);
    return std::string("{}");
  });
  admin("plexus.dlq.purge", [](QueueService& s, const nlohmann::json& a) -> Result<std::string> {
    if (a.contains("id")) {
      if (auto ok = s.store_->purge(string_field(a, "id")); !ok) return tl::unexpected(ok.error());
      return nlohmann::json{{"purged", 1}}.dump();
    }
    auto n = s.store_->purge_queue(string_field(a, "queue"));
    if (!n) return tl::unexpected(n.error());
    return nlohmann::json{{"purged", *n}}.dump();
  });
}

// ---- sends ---------------------------------------------------------------------------------

void QueueService::on_send(std::string_view payload, Responder responder) {
  auto env = wire::decode_envelope(payload);
  if (!env) {
    Error e = env.error();
    e.code = StatusCode::invalid_argument;
    return responder.reply(tl::unexpected(std::move(e)));
  }
  const auto& f = env->fields;
  if (f.queue.empty()) {
    return responder.reply(
        make_error(StatusCode::invalid_argument, "plexus.queue.send needs a queue (key 12)"));
  }
  NewMessage m;
  m.queue = std::string(f.queue);
  if (!f.message_type.empty()) m.type = std::string(f.message_type);
  m.group = std::string(f.message_group);
  m.priority = static_cast<std::int32_t>(f.priority.value_or(0));
  m.delay = std::chrono::milliseconds(static_cast<std::int64_t>(f.delay_ms.value_or(0)));
  m.payload = std::string(env->payload);
  m.id = std::string(f.message_id);
  if (f.max_retries) m.max_retries = *f.max_retries;
  if (f.retry_delay_ms) m.retry_delay = std::chrono::milliseconds(*f.retry_delay_ms);
  bool post = false;
  {
    std::lock_guard lock(send_mu_);
    pending_.push_back(PendingSend{std::move(m), std::move(responder)});
    post = !drain_posted_;
    drain_posted_ = true;
  }
  if (post) asio::post(io_, [self = shared_from_this()] { self->drain_sends(); });
}

void QueueService::drain_sends() {
  std::vector<PendingSend> batch;
  {
    std::lock_guard lock(send_mu_);
    batch.swap(pending_);
    drain_posted_ = false;
  }
  if (batch.empty()) return;
  std::vector<NewMessage> messages;
  messages.reserve(batch.size());
  for (auto& p : batch) messages.push_back(std::move(p.message));
  auto results = store_->append_each(messages);
  std::set<std::string> touched;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& r = results[i];
    if (!r) {
      batch[i].responder.reply(tl::unexpected(r.error()));
      continue;
    }
    if (!r->duplicate) touched.insert(messages[i].queue);
    batch[i].responder.reply(nlohmann::json{{"id", r->id}, {"duplicate", r->duplicate}}.dump());
  }
  for (const auto& q : touched) pump(q);
}

// ---- consumers and deliveries ----------------------------------------------------------------

void QueueService::on_consume(CallContext& ctx, std::string_view payload, Responder responder) {
  auto args = parse_object(payload, "plexus.queue.consume");
  if (!args) return responder.reply(tl::unexpected(args.error()));
  ConsumerEntry c;
  c.queue = string_field(*args, "queue");
  c.deliver_method = string_field(*args, "deliver");
  if (auto it = args->find("prefetch"); it != args->end() && it->is_number_unsigned())
    c.prefetch = it->get<std::uint32_t>();
  if (c.queue.empty() || c.deliver_method.empty() || c.prefetch == 0) {
    return responder.reply(
        make_error(StatusCode::invalid_argument,
                   "plexus.queue.consume takes {\"queue\", \"deliver\", \"prefetch\" >= 1}"));
  }
  c.peer = ctx.peer();
  const std::string label = string_field(*args, "consumer");
  asio::post(io_, [self = shared_from_this(), c = std::move(c), label,
                   r = std::move(responder)]() mutable {
    c.name = (label.empty() ? std::string("consumer") : label) + "#" +
             std::to_string(self->next_consumer_++);
    const std::string name = c.name;
    const std::string queue = c.queue;
    self->consumers_.emplace(name, std::move(c));
    observe::logger().info("plexus: consumer {} of queue {} registered", name, queue);
    r.reply(nlohmann::json{{"consumer", name}}.dump());
    self->pump(queue);
  });
}

void QueueService::pump(const std::string& queue) {
  std::vector<ConsumerEntry*> mine;
  for (auto& [name, c] : consumers_) {
    if (c.queue == queue) mine.push_back(&c);
  }
  if (mine.empty()) return;
  std::size_t& start = rotation_[queue];
  // One message per consumer with room per round, so that competing consumers share a queue.
  for (bool gave = true; gave;) {
    gave = false;
    for (std::size_t k = 0; k < mine.size(); ++k) {
      ConsumerEntry& c = *mine[(start + k) % mine.size()];
      if (c.in_flight >= c.prefetch) continue;
      auto lease = store_->lease(queue, c.name);
      if (!lease) {
        observe::logger().warn("plexus: leasing from queue {} failed: {}", queue,
                               lease.error().to_string());
        return;
      }
      if (!*lease) return;  // nothing ready
      deliver(c, std::move(**lease));
      gave = true;
    }
    start = (start + 1) % mine.size();
  }
}

void QueueService::deliver(ConsumerEntry& c, Lease lease) {
  const DurableMessage& m = lease.message;
  wire::Metadata f;
  f.message_id = m.id;
  f.message_type = m.type;
  f.message_group = m.group;
  f.attempt = m.attempts;
  f.queue = m.queue;
  f.priority = static_cast<std::uint32_t>(m.priority);
  std::string envelope;
  if (auto ok = wire::encode_envelope(f, m.payload, envelope); !ok) {
    (void)store_->nack(m.id, ok.error().code, ok.error().message);
    return;
  }
  ++c.in_flight;
  CallOptions options;
  options.timeout = queue_options(c.queue).ack_timeout;
  c.peer.call_async(
      c.deliver_method, std::move(envelope), std::move(options),
      [weak = weak_from_this(), name = c.name, id = m.id](Result<std::string> r) {
        auto self = weak.lock();
        if (!self) return;
        asio::post(self->io_, [self, name, id, r = std::move(r)] { self->delivered(name, id, r); });
      });
}

void QueueService::delivered(const std::string& consumer, const std::string& id,
                             const Result<std::string>& answer) {
  auto it = consumers_.find(consumer);
  std::string queue;
  if (it != consumers_.end()) {
    queue = it->second.queue;
    if (it->second.in_flight > 0) --it->second.in_flight;
  }
  if (answer) {
    // The acknowledgements that arrive while one commit runs share the next: one fsync for many.
    acks_.push_back(id);
    if (!acks_posted_) {
      acks_posted_ = true;
      asio::post(io_, [self = shared_from_this()] { self->flush_acks(); });
    }
  } else {
    const Error& e = answer.error();
    // The consumer's connection ended, or the consumer said it stopped (PROTOCOL.md §22.3):
    // every lease it holds goes back. The same codes from a handler are a handler's failure.
    const bool gone = (e.code == StatusCode::unavailable || e.code == StatusCode::cancelled) &&
                      (it == consumers_.end() || !it->second.peer.connected() ||
                       e.details.find(kConsumerStopped) != std::string::npos);
    if (gone) {
      if (it != consumers_.end()) drop_consumer(consumer, "gone");
    } else if (e.code == StatusCode::deadline_exceeded) {
      flush_acks();
      (void)store_->expire();
    } else if (auto ok = store_->nack(id, e.code, e.message); !ok) {
      observe::logger().warn("plexus: failing delivery {} failed: {}", id, ok.error().to_string());
    }
  }
  if (!queue.empty()) pump(queue);
}

void QueueService::flush_acks() {
  acks_posted_ = false;
  std::vector<std::string> ids;
  ids.swap(acks_);
  if (ids.empty()) return;
  auto results = store_->ack_many(ids);
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (!results[i]) {
      observe::logger().warn("plexus: acknowledging {} failed: {}", ids[i],
                             results[i].error().to_string());
    }
  }
}

void QueueService::drop_consumer(const std::string& name, const char* why) {
  auto it = consumers_.find(name);
  if (it == consumers_.end()) return;
  // Acknowledgements waiting for their commit first: a message its consumer handled must not
  // go back to the queue (or to the dead letters) with the consumer's other leases.
  flush_acks();
  const std::string queue = it->second.queue;
  consumers_.erase(it);
  auto released = store_->release_consumer(name);
  observe::logger().info("plexus: consumer {} of queue {} {}: {} message(s) back on the queue",
                         name, queue, why, released ? *released : 0);
  pump(queue);
}

void QueueService::arm_tick() {
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([this](std::error_code ec) {
    if (ec) return;
    tick();
    arm_tick();
  });
}

void QueueService::tick() {
  std::vector<std::string> gone;
  std::set<std::string> queues;
  for (auto& [name, c] : consumers_) {
    if (!c.peer.connected()) {
      gone.push_back(name);
    } else {
      queues.insert(c.queue);
    }
  }
  for (const auto& name : gone) drop_consumer(name, "disconnected");
  flush_acks();
  if (auto expired = store_->expire(); expired && *expired > 0) {
    for (auto& [name, c] : consumers_) queues.insert(c.queue);
  }
  // Delayed messages and retry backoffs whose time came.
  for (const auto& q : queues) pump(q);
}

}  // namespace plexus::detail

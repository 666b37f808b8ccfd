// Consumer: one durable queue received through a Client (docs/PROTOCOL.md §22). The server
// calls the consumer's deliver method (plexus.queue.deliver/QUEUE) with each leased message in
// an envelope; the handler's outcome is the answer: RESPONSE acknowledges, ERROR fails it.
// Deliveries wait in a queue for the Consumer's own thread, so a slow or blocking handler never
// holds up the client's I/O thread; ids are recorded as handled before the acknowledgement
// leaves, so a redelivery after a lost acknowledgement is dropped.
#include <condition_variable>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "api/client_hooks.hpp"
#include "durable/seen_ids.hpp"
#include "observe/log.hpp"
#include "plexus/client.hpp"
#include "plexus/queue.hpp"
#include "wire/envelope.hpp"
#include "wire/names.hpp"

namespace plexus {
namespace {

// The queues consumed per client: a client consumes a queue once (one deliver method each).
std::mutex g_consumed_mu;
std::set<std::pair<const Client*, std::string>> g_consumed;

// A delivery refused because the consumer stopped: the server gives the message back to the
// queue rather than counting a failed delivery (PROTOCOL.md §22.3).
Error consumer_stopped() {
  return Error{StatusCode::unavailable, "consumer stopped", R"({"consumer":"stopped"})"};
}

}  // namespace

struct Consumer::Impl : std::enable_shared_from_this<Consumer::Impl> {
  struct Pending {
    Delivery delivery;
    Responder responder;
  };

  Client& client;
  ConsumerOptions options;
  std::string deliver_method;
  std::unique_ptr<durable::SeenIds> seen;

  std::mutex mu;
  std::condition_variable wake;
  std::deque<Pending> queue;                        // guarded by mu
  bool stopping = false;                            // guarded by mu
  std::map<std::string, DeliveryHandler> handlers;  // set before start()
  DeliveryHandler any;
  std::string server_name;  // the server's name for this consumer (plexus.queue.cancel); mu
  std::uint64_t hook = 0;
  bool started = false;
  std::thread worker;

  std::atomic<std::uint64_t> handled{0};
  std::atomic<std::uint64_t> failed{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> no_handler{0};

  Impl(Client& c, ConsumerOptions o) : client(c), options(std::move(o)) {
    deliver_method = "plexus.queue.deliver/" + options.queue;
  }

  void on_delivery(std::string_view payload, Responder responder) {
    auto env = wire::decode_envelope(payload);
    if (!env || env->fields.message_id.empty()) {
      responder.reply(
          make_error(StatusCode::invalid_argument,
                     env ? std::string("delivery without a message id") : env.error().message));
      return;
    }
    const auto& f = env->fields;
    Delivery d;
    d.id = std::string(f.message_id);
    d.queue = f.queue.empty() ? options.queue : std::string(f.queue);
    d.type = f.message_type.empty() ? std::string("task") : std::string(f.message_type);
    d.group = std::string(f.message_group);
    d.priority = static_cast<std::int32_t>(f.priority.value_or(0));
    d.attempt = f.attempt.value_or(1);
    d.payload = std::string(env->payload);
    std::lock_guard lock(mu);
    if (stopping) {
      responder.reply(tl::unexpected(consumer_stopped()));
      return;
    }
    queue.push_back(Pending{std::move(d), std::move(responder)});
    wake.notify_one();
  }

  Result<void> handle(const Delivery& d) {
    auto known = seen->contains(d.id);
    if (!known) return tl::unexpected(known.error());
    if (*known) {
      duplicates.fetch_add(1, std::memory_order_relaxed);
      return {};  // handled before: acknowledged again, not handled again
    }
    const DeliveryHandler* h = nullptr;
    if (auto it = handlers.find(d.type); it != handlers.end()) {
      h = &it->second;
    } else if (any) {
      h = &any;
    }
    if (!h) {
      no_handler.fetch_add(1, std::memory_order_relaxed);
      failed.fetch_add(1, std::memory_order_relaxed);
      return make_error(StatusCode::not_found,
                        "no handler for messages of type \"" + d.type + "\" on queue " + d.queue);
    }
    Result<void> r;
    try {
      r = (*h)(d);
    } catch (const std::exception& e) {
      r = make_error(StatusCode::internal, std::string("handler threw: ") + e.what());
    } catch (...) {
      r = make_error(StatusCode::internal, "handler threw");
    }
    if (!r) {
      failed.fetch_add(1, std::memory_order_relaxed);
      return r;
    }
    if (auto ok = seen->remember(d.id); !ok) {
      observe::logger().warn("plexus: consumer of {} could not record {} as handled: {}", d.queue,
                             d.id, ok.error().to_string());
    }
    handled.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  void run() {
    for (;;) {
      Pending p;
      {
        std::unique_lock lock(mu);
        wake.wait(lock, [&] { return stopping || !queue.empty(); });
        if (stopping) return;
        p = std::move(queue.front());
        queue.pop_front();
      }
      auto r = handle(p.delivery);
      if (r) {
        p.responder.reply(std::string());
      } else {
        p.responder.reply(tl::unexpected(r.error()));
      }
    }
  }

  // Registers with the server through `peer`; `done` gets the outcome.
  void register_with(Peer peer, std::function<void(Result<void>)> done) {
    nlohmann::json args{
        {"queue", options.queue}, {"deliver", deliver_method}, {"prefetch", options.prefetch}};
    CallOptions co;
    co.timeout = detail::ClientHooks::connect_timeout(client);
    std::weak_ptr<Impl> weak = weak_from_this();
    peer.call_async("plexus.queue.consume", args.dump(), co,
                    [weak, done = std::move(done)](Result<std::string> r) {
                      auto self = weak.lock();
                      if (r && self) {
                        auto j = nlohmann::json::parse(*r, nullptr, false);
                        std::lock_guard lock(self->mu);
                        if (j.is_object()) self->server_name = j.value("consumer", "");
                      }
                      if (!r) {
                        observe::logger().warn("plexus: registering the consumer failed: {}",
                                               r.error().to_string());
                        if (done) done(tl::unexpected(r.error()));
                        return;
                      }
                      if (done) done({});
                    });
  }
};

Result<std::unique_ptr<Consumer>> Consumer::create(Client& client, ConsumerOptions options) {
  if (auto ok = wire::validate_name(options.queue, "queue name"); !ok) {
    return tl::unexpected(ok.error());
  }
  if (options.prefetch == 0) {
    return make_error(StatusCode::invalid_argument, "a consumer's prefetch must be at least 1");
  }
  auto seen = durable::SeenIds::open(options.state_dir, options.remembered_ids);
  if (!seen) return tl::unexpected(seen.error());
  {
    std::lock_guard lock(g_consumed_mu);
    if (!g_consumed.insert({&client, options.queue}).second) {
      return make_error(StatusCode::failed_precondition,
                        "this client consumes queue " + options.queue + " already");
    }
  }
  auto impl = std::make_shared<Impl>(client, std::move(options));
  impl->seen = std::move(*seen);
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Consumer::Consumer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Consumer::~Consumer() {
  stop();
  std::lock_guard lock(g_consumed_mu);
  g_consumed.erase({&impl_->client, impl_->options.queue});
}

void Consumer::on(std::string type, DeliveryHandler handler) {
  impl_->handlers[std::move(type)] = std::move(handler);
}

void Consumer::on_any(DeliveryHandler handler) {
  impl_->any = std::move(handler);
}

Result<void> Consumer::start() {
  auto& d = *impl_;
  if (d.started) return {};
  d.started = true;
  std::weak_ptr<Impl> weak = impl_;
  d.client.handle_async(d.deliver_method,
                        [weak](CallContext&, std::string_view payload, Responder r) {
                          auto self = weak.lock();
                          if (!self) {
                            r.reply(tl::unexpected(consumer_stopped()));
                            return;
                          }
                          self->on_delivery(payload, std::move(r));
                        });
  d.worker = std::thread([impl = impl_] { impl->run(); });
  // The first registration is waited for when the client is connected now; later ones (after
  // each reconnect) are the hook's alone.
  auto first = std::make_shared<std::promise<Result<void>>>();
  auto first_done = std::make_shared<std::atomic<bool>>(false);
  d.hook = detail::ClientHooks::add_ready_hook(d.client, [weak, first, first_done](Peer peer) {
    auto self = weak.lock();
    if (!self) return;
    self->register_with(std::move(peer), [first, first_done](Result<void> r) {
      if (!first_done->exchange(true)) first->set_value(std::move(r));
    });
  });
  if (d.client.state() != ConnectionState::connected) return {};
  auto f = first->get_future();
  if (f.wait_for(detail::ClientHooks::connect_timeout(d.client) + Millis{1000}) !=
      std::future_status::ready) {
    return make_error(StatusCode::deadline_exceeded, "the server did not register the consumer");
  }
  return f.get();
}

void Consumer::stop() {
  auto& d = *impl_;
  if (!d.started) return;
  std::deque<Impl::Pending> left;
  std::string name;
  {
    std::lock_guard lock(d.mu);
    if (d.stopping) return;
    d.stopping = true;
    left.swap(d.queue);
    name = d.server_name;
  }
  d.wake.notify_all();
  detail::ClientHooks::remove_ready_hook(d.client, d.hook);
  for (auto& p : left) p.responder.reply(tl::unexpected(consumer_stopped()));
  if (d.worker.joinable()) d.worker.join();
  if (!name.empty() && d.client.state() == ConnectionState::connected) {
    CallOptions co;
    co.timeout = Millis{2000};
    // The server gives back what this consumer still holds; it also does so when the
    // connection ends, so a failure here loses nothing.
    (void)d.client.call("plexus.queue.cancel", nlohmann::json{{"consumer", name}}.dump(), co);
  }
  // Only now: until the server knows, a delivery still finds the method and is given back.
  d.client.remove(d.deliver_method);
}

ConsumerStats Consumer::stats() const {
  ConsumerStats s;
  s.handled = impl_->handled.load();
  s.failed = impl_->failed.load();
  s.duplicates_dropped = impl_->duplicates.load();
  s.no_handler = impl_->no_handler.load();
  return s;
}

}  // namespace plexus

// NatsBridge (plexus/nats_bridge.hpp): a Server's methods and topics on a NATS subject space,
// through the NATS C client. docs/ARCHITECTURE.md §23 has its threads and lifetimes.
//
// Threads: NATS message callbacks run on the C client's subscription threads, connection
// callbacks on its asynchronous-callback thread; plexus completions (exported calls' answers,
// local publishes to export, imported calls' timers) run on the runtime's I/O threads and only
// hand a message to the C client, which copies it into its buffer. Nothing here waits on an
// I/O thread.
#include "plexus/nats_bridge.hpp"

#include <nats/nats.h>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "api/nats_subjects.hpp"
#include "api/runtime_internals.hpp"
#include "observe/log.hpp"
#include "plexus/client.hpp"
#include "plexus/trace.hpp"

namespace plexus {

namespace nd = detail::nats;

namespace nats_bridge {

// How long shutdown waits for the C client's threads to let go (they return within
// milliseconds; the bound keeps a wedged client from hanging the daemon's exit).
constexpr auto kCallbackDrain = std::chrono::seconds(5);

std::string header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  if (natsMsgHeader_Get(msg, key, &value) != NATS_OK || !value) return {};
  return value;
}

// The status's text, and the C client's last error of this thread when it says more (without
// its "(file.c:line): " prefix).
std::string status_text(natsStatus s) {
  std::string text = natsStatus_GetText(s);
  const char* last_error = nats_GetLastError(nullptr);
  std::string last = last_error ? last_error : "";
  if (last.starts_with("(")) {
    if (const auto end = last.find("): "); end != std::string::npos) last.erase(0, end + 3);
  }
  if (!last.empty() && last != text) text += " (" + last + ")";
  return text;
}

}  // namespace nats_bridge

struct NatsBridge::State : std::enable_shared_from_this<State> {
  // A local call waiting for its NATS reply (an imported method).
  struct Pending {
    Responder responder;
    std::shared_ptr<asio::steady_timer> timer;  // the deadline, on the call's executor
    std::string subject;                        // where the request went, for errors
  };

  NatsBridgeOptions options;
  std::string origin;  // this bridge's id in Plexus-Origin headers
  Server* server = nullptr;
  std::unique_ptr<Client> client;  // exported calls go through it; reset by ~NatsBridge

  // Senders take it shared; ~NatsBridge takes it alone to empty `nc` before closing it.
  mutable std::shared_mutex nc_mu;
  natsConnection* nc = nullptr;  // guarded by nc_mu; null once closing
  natsOptions* nats_options = nullptr;
  std::string inbox;  // replies to imported calls arrive on INBOX.<id>
  std::vector<natsSubscription*> subscriptions;
  std::vector<SubscriptionId> local_subscriptions;  // the exported topics
  std::vector<std::string> imported;                // method names registered on the server

  std::mutex done_mu;
  std::condition_variable done_cv;
  int subscriptions_open = 0;  // guarded by done_mu; the on-complete callbacks count down
  bool closed = false;         // guarded by done_mu; the closed callback ran

  std::mutex pending_mu;
  std::unordered_map<std::uint64_t, Pending> pending;  // guarded by pending_mu
  std::uint64_t next_id = 0;                           // guarded by pending_mu
  bool stopping = false;                               // guarded by pending_mu

  std::atomic<bool> closing{false};
  std::atomic<bool> connected{false};
  std::atomic<std::uint64_t> disconnects{0}, reconnects{0}, messages_in{0}, messages_out{0},
      calls_exported{0}, calls_imported{0}, errors{0};

  std::vector<std::uint64_t> collectors, sections;
  observe::Registry* registry = nullptr;

  // Hands `msg` to the C client and destroys it; NATS_OK or why it was refused.
  natsStatus send(natsMsg* msg) {
    natsStatus s = NATS_CONNECTION_CLOSED;
    {
      std::shared_lock lock(nc_mu);
      if (nc) s = natsConnection_PublishMsg(nc, msg);
    }
    natsMsg_Destroy(msg);
    if (s == NATS_OK) {
      messages_out.fetch_add(1, std::memory_order_relaxed);
    } else {
      errors.fetch_add(1, std::memory_order_relaxed);
    }
    return s;
  }

  // The waiting call `id`, taken out (its timer cancelled); nullopt when already answered.
  std::optional<Pending> take(std::uint64_t id) {
    std::optional<Pending> p;
    {
      std::lock_guard lock(pending_mu);
      auto it = pending.find(id);
      if (it == pending.end()) return std::nullopt;
      p = std::move(it->second);
      pending.erase(it);
    }
    asio::post(p->timer->get_executor(), [timer = p->timer] { timer->cancel(); });
    return p;
  }

  void finish(std::uint64_t id, Result<std::string> result) {
    if (auto p = take(id)) p->responder.reply(std::move(result));
  }

  // The answer of an exported call, to the requester's reply subject.
  void respond(const std::string& reply_to, const Result<std::string>& result) {
    if (reply_to.empty()) return;  // a request without a reply subject: a one-way message
    const std::string body = result ? *result : nd::error_body(result.error());
    natsMsg* msg = nullptr;
    if (natsMsg_Create(&msg, reply_to.c_str(), nullptr, body.data(),
                       static_cast<int>(body.size())) != NATS_OK) {
      errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    if (!result) {
      natsMsgHeader_Set(msg, nd::kStatusHeader,
                        std::to_string(static_cast<unsigned>(result.error().code)).c_str());
    }
    send(msg);
  }

  // --- the C client's callbacks; `closure` is the State, alive until they all returned ---

  // A request on PREFIX.call.M: the local server's answer goes back to its reply subject.
  static void on_request(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto& st = *static_cast<State*>(closure);
    st.messages_in.fetch_add(1, std::memory_order_relaxed);
    const auto found = nd::method_of(st.options.prefix, natsMsg_GetSubject(msg));
    const std::string method(found.value_or(""));
    const char* reply = natsMsg_GetReply(msg);
    std::string reply_to = reply ? reply : "";
    CallOptions options;
    options.timeout = st.options.default_timeout;
    if (const auto t = nats_bridge::header(msg, nd::kTimeoutHeader); !t.empty()) {
      std::int64_t ms = 0;
      const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), ms);
      if (ec == std::errc{} && end == t.data() + t.size() && ms >= 0) options.timeout = Millis{ms};
    }
    if (auto trace = nats_bridge::header(msg, nd::kTraceHeader);
        !trace.empty() && trace.size() <= 64) {
      options.trace_id = std::move(trace);
    }
    std::string payload(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    if (!found) return;  // not a subject this bridge maps (cannot happen with its patterns)
    st.calls_exported.fetch_add(1, std::memory_order_relaxed);
    if (options.timeout && options.timeout->count() == 0) {
      st.respond(reply_to, make_error(StatusCode::deadline_exceeded,
                                      "the request arrived with no time left"));
      return;
    }
    st.client->call_async(method, std::move(payload), std::move(options),
                          [self = st.shared_from_this(), reply_to = std::move(reply_to)](
                              Result<std::string> result) { self->respond(reply_to, result); });
  }

  // A reply on INBOX.<id> to an imported call (or NATS's "no responders" status).
  static void on_reply(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto& st = *static_cast<State*>(closure);
    st.messages_in.fetch_add(1, std::memory_order_relaxed);
    const std::string_view subject = natsMsg_GetSubject(msg);
    std::uint64_t id = 0;
    const auto tail = subject.substr(subject.rfind('.') + 1);
    std::from_chars(tail.data(), tail.data() + tail.size(), id);
    auto p = st.take(id);
    if (!p) {  // answered already (timed out, cancelled)
      natsMsg_Destroy(msg);
      return;
    }
    Result<std::string> result;
    if (natsMsg_IsNoResponders(msg)) {
      result = make_error(StatusCode::unavailable,
                          "no bridge on NATS serves " + p->subject + " (no responders)",
                          nlohmann::json{{"subject", p->subject}}.dump());
    } else {
      const std::string_view body(natsMsg_GetData(msg),
                                  static_cast<std::size_t>(natsMsg_GetDataLength(msg)));
      if (auto error = nd::error_of(nats_bridge::header(msg, nd::kStatusHeader), body)) {
        result = tl::unexpected(std::move(*error));
      } else {
        result = std::string(body);
      }
    }
    natsMsg_Destroy(msg);
    p->responder.reply(std::move(result));
  }

  // A message on PREFIX.topic.T: published on the local server, unless this bridge sent it.
  static void on_publish(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto& st = *static_cast<State*>(closure);
    st.messages_in.fetch_add(1, std::memory_order_relaxed);
    const auto topic = nd::topic_of(st.options.prefix, natsMsg_GetSubject(msg));
    if (topic && nats_bridge::header(msg, nd::kOriginHeader) != st.origin) {
      auto trace = nats_bridge::header(msg, nd::kTraceHeader);
      // The mark that keeps the export side from sending it back to NATS
      // (nd::kImportedTracePrefix).
      const TraceScope scope(std::string(nd::kImportedTracePrefix) +
                             (trace.size() + nd::kImportedTracePrefix.size() <= 64 ? trace : ""));
      auto published = st.server->publish(
          *topic,
          std::string(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
      if (!published) {
        st.errors.fetch_add(1, std::memory_order_relaxed);
        observe::logger().debug("plexus: NATS bridge: {} not published here: {}", *topic,
                                published.error().to_string());
      }
    }
    natsMsg_Destroy(msg);
  }

  static void on_disconnected(natsConnection*, void* closure) {
    auto& st = *static_cast<State*>(closure);
    if (st.closing.load()) return;  // natsConnection_Close reports it too
    // Logged before the metrics change: whoever sees them changed finds the line written.
    observe::logger().warn("plexus: NATS bridge: disconnected from {}; reconnecting every {} ms",
                           st.options.url, st.options.reconnect_wait.count());
    st.connected.store(false);
    st.disconnects.fetch_add(1, std::memory_order_relaxed);
  }

  static void on_reconnected(natsConnection* nc, void* closure) {
    auto& st = *static_cast<State*>(closure);
    char url[256] = "";
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    observe::logger().info("plexus: NATS bridge: reconnected to {}", url);
    st.connected.store(true);
    st.reconnects.fetch_add(1, std::memory_order_relaxed);
  }

  static void on_closed(natsConnection*, void* closure) {
    auto& st = *static_cast<State*>(closure);
    st.connected.store(false);
    std::lock_guard lock(st.done_mu);
    st.closed = true;
    st.done_cv.notify_all();
  }

  static void on_error(natsConnection*, natsSubscription*, natsStatus s, void* closure) {
    auto& st = *static_cast<State*>(closure);
    st.errors.fetch_add(1, std::memory_order_relaxed);
    observe::logger().warn("plexus: NATS bridge: {}", natsStatus_GetText(s));
  }

  static void on_subscription_complete(void* closure) {
    auto& st = *static_cast<State*>(closure);
    std::lock_guard lock(st.done_mu);
    --st.subscriptions_open;
    st.done_cv.notify_all();
  }

  Result<void> subscribe(const std::string& subject, const char* queue, natsMsgHandler handler) {
    natsSubscription* sub = nullptr;
    const natsStatus s =
        queue ? natsConnection_QueueSubscribe(&sub, nc, subject.c_str(), queue, handler, this)
              : natsConnection_Subscribe(&sub, nc, subject.c_str(), handler, this);
    if (s != NATS_OK) {
      return make_error(
          StatusCode::invalid_argument,
          "NATS refused the subscription to " + subject + ": " + nats_bridge::status_text(s));
    }
    subscriptions.push_back(sub);
    {
      std::lock_guard lock(done_mu);
      ++subscriptions_open;
    }
    natsSubscription_SetOnCompleteCB(sub, &State::on_subscription_complete, this);
    return {};
  }

  // An imported method's handler: the call as a NATS request, answered by on_reply or by its
  // deadline. Runs on an I/O thread and waits for nothing.
  void call_remote(const std::string& subject, CallContext& ctx, std::string_view payload,
                   Responder responder) {
    if (!connected.load()) {
      responder.reply(
          make_error(StatusCode::unavailable,
                     "the NATS bridge is not connected (reconnecting to " + options.url + ")",
                     nlohmann::json{{"subject", subject}}.dump()));
      return;
    }
    Millis timeout = options.default_timeout;
    if (const auto deadline = ctx.deadline()) {
      const auto now = std::chrono::steady_clock::now();
      if (*deadline <= now) {
        responder.reply(make_error(StatusCode::deadline_exceeded, "no time left for NATS"));
        return;
      }
      timeout = std::chrono::ceil<Millis>(*deadline - now);
    }
    auto timer = std::make_shared<asio::steady_timer>(ctx.io_executor());
    std::uint64_t id = 0;
    {
      std::lock_guard lock(pending_mu);
      if (stopping) {
        responder.reply(make_error(StatusCode::unavailable, "the NATS bridge is stopping"));
        return;
      }
      id = ++next_id;
      pending.emplace(id, Pending{std::move(responder), timer, subject});
    }
    calls_imported.fetch_add(1, std::memory_order_relaxed);
    const std::weak_ptr<State> weak = weak_from_this();
    timer->expires_after(timeout);
    timer->async_wait([weak, id, timeout, subject](const std::error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->finish(
            id, make_error(StatusCode::deadline_exceeded,
                           "no answer on NATS within " + std::to_string(timeout.count()) + " ms",
                           nlohmann::json{{"subject", subject}}.dump()));
      }
    });
    ctx.on_cancel([weak, id] {
      if (auto self = weak.lock()) {
        self->finish(id, make_error(StatusCode::cancelled, "cancelled by the caller"));
      }
    });
    natsMsg* msg = nullptr;
    const std::string reply_to = inbox + "." + std::to_string(id);
    natsStatus s = natsMsg_Create(&msg, subject.c_str(), reply_to.c_str(), payload.data(),
                                  static_cast<int>(payload.size()));
    if (s == NATS_OK) {
      natsMsgHeader_Set(msg, nd::kTimeoutHeader, std::to_string(timeout.count()).c_str());
      const std::string trace(ctx.trace_id());
      if (!trace.empty()) natsMsgHeader_Set(msg, nd::kTraceHeader, trace.c_str());
      s = send(msg);
    }
    if (s != NATS_OK) {
      finish(id, make_error(StatusCode::unavailable,
                            "NATS refused the request: " + nats_bridge::status_text(s),
                            nlohmann::json{{"subject", subject}}.dump()));
    }
  }

  // A local publish on an exported pattern, to PREFIX.topic.T; one that came from NATS stays.
  void export_publish(std::string_view topic, std::string_view payload) {
    const auto trace = current_trace();
    if (trace.starts_with(nd::kImportedTracePrefix)) return;
    natsMsg* msg = nullptr;
    const auto subject = nd::topic_subject(options.prefix, topic);
    if (natsMsg_Create(&msg, subject.c_str(), nullptr, payload.data(),
                       static_cast<int>(payload.size())) != NATS_OK) {
      errors.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    natsMsgHeader_Set(msg, nd::kOriginHeader, origin.c_str());
    if (!trace.empty()) natsMsgHeader_Set(msg, nd::kTraceHeader, trace.c_str());
    send(msg);
  }

  void add_metrics() {
    using observe::MetricType;
    using observe::Sample;
    auto add = [&](const char* name, const char* help, MetricType type,
                   std::vector<std::string> labels, std::function<void(std::vector<Sample>&)> fn) {
      collectors.push_back(
          registry->add_collector(name, help, type, std::move(labels), std::move(fn)));
    };
    auto self = shared_from_this();
    auto value = [](const std::atomic<std::uint64_t>& a) {
      return static_cast<double>(a.load(std::memory_order_relaxed));
    };
    add("plexus_nats_connected", "1 while the NATS bridge is connected to a NATS server",
        MetricType::gauge, {}, [self](std::vector<Sample>& out) {
          out.push_back({{}, self->connected.load() ? 1.0 : 0.0, {}});
        });
    add("plexus_nats_disconnects_total", "Times the NATS bridge lost its NATS server",
        MetricType::counter, {}, [self, value](std::vector<Sample>& out) {
          out.push_back({{}, value(self->disconnects), {}});
        });
    add("plexus_nats_reconnects_total", "Times the NATS bridge connected again",
        MetricType::counter, {}, [self, value](std::vector<Sample>& out) {
          out.push_back({{}, value(self->reconnects), {}});
        });
    add("plexus_nats_messages_total", "NATS messages the bridge received (in) and sent (out)",
        MetricType::counter, {"direction"}, [self, value](std::vector<Sample>& out) {
          out.push_back({{"in"}, value(self->messages_in), {}});
          out.push_back({{"out"}, value(self->messages_out), {}});
        });
    add("plexus_nats_calls_total",
        "Calls across the NATS bridge: exported (NATS requests the local server answered), "
        "imported (local calls sent to NATS)",
        MetricType::counter, {"direction"}, [self, value](std::vector<Sample>& out) {
          out.push_back({{"exported"}, value(self->calls_exported), {}});
          out.push_back({{"imported"}, value(self->calls_imported), {}});
        });
    add("plexus_nats_errors_total",
        "Messages NATS refused, local publishes of NATS messages refused, asynchronous NATS errors",
        MetricType::counter, {}, [self, value](std::vector<Sample>& out) {
          out.push_back({{}, value(self->errors), {}});
        });
    sections.push_back(registry->add_section("nats", [self] {
      const auto s = self->snapshot();
      return nlohmann::json::array({{{"url", self->options.url},
                                     {"prefix", self->options.prefix},
                                     {"connected", s.connected},
                                     {"disconnects", s.disconnects},
                                     {"reconnects", s.reconnects},
                                     {"messages_in", s.messages_in},
                                     {"messages_out", s.messages_out},
                                     {"calls_exported", s.calls_exported},
                                     {"calls_imported", s.calls_imported},
                                     {"errors", s.errors}}});
    }));
  }

  NatsBridgeStats snapshot() const {
    NatsBridgeStats s;
    s.connected = connected.load();
    s.disconnects = disconnects.load();
    s.reconnects = reconnects.load();
    s.messages_in = messages_in.load();
    s.messages_out = messages_out.load();
    s.calls_exported = calls_exported.load();
    s.calls_imported = calls_imported.load();
    s.errors = errors.load();
    return s;
  }
};

Result<std::unique_ptr<NatsBridge>> NatsBridge::start(Runtime& runtime, Server& server,
                                                      NatsBridgeOptions options) {
  if (auto ok = nd::check_options(options); !ok) return tl::unexpected(ok.error());
  const auto addresses = server.addresses();
  std::string local = options.local_address;
  if (local.empty()) {
    if (addresses.empty()) {
      return make_error(StatusCode::failed_precondition,
                        "the NATS bridge needs a started server (it calls exported methods "
                        "through the server's address)");
    }
    local = addresses.front();
  }
  std::unique_ptr<NatsBridge> bridge(new NatsBridge());
  auto st = std::make_shared<State>();
  bridge->state_ = st;  // from here on, ~NatsBridge undoes whatever was done
  st->options = std::move(options);
  st->server = &server;
  st->registry = &detail::runtime_metrics(runtime);
  st->origin = trace_id_of(new_trace()).substr(0, 16);
  const auto& o = st->options;

  if (!o.export_methods.empty()) {
    ClientOptions client_options;
    client_options.address = local;
    client_options.name = "plexus-nats-bridge";
    auto client = Client::connect(runtime, client_options);
    if (!client) {
      return make_error(
          client.error().code,
          "the NATS bridge cannot reach its own server at " + local + ": " + client.error().message,
          client.error().details);
    }
    st->client = std::move(*client);
  }

  natsOptions* no = nullptr;
  if (natsOptions_Create(&no) != NATS_OK) {
    return make_error(StatusCode::internal, "the NATS client could not be initialized");
  }
  st->nats_options = no;
  const std::string name = o.name.empty() ? "plexus-bridge" : o.name;
  natsStatus s = natsOptions_SetURL(no, o.url.c_str());
  if (s == NATS_OK) s = natsOptions_SetName(no, name.c_str());
  if (s == NATS_OK) s = natsOptions_SetTimeout(no, o.connect_timeout.count());
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(no, true);
  if (s == NATS_OK) s = natsOptions_SetMaxReconnect(no, -1);  // for ever
  if (s == NATS_OK) s = natsOptions_SetReconnectWait(no, o.reconnect_wait.count());
  // A bridge never receives its own messages: its requests reach other bridges even where it
  // exports the same method, and its publishes do not come back.
  if (s == NATS_OK) s = natsOptions_SetNoEcho(no, true);
  if (s == NATS_OK) s = natsOptions_SetSendAsap(no, o.send_asap);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(no, &State::on_disconnected, st.get());
  if (s == NATS_OK) s = natsOptions_SetReconnectedCB(no, &State::on_reconnected, st.get());
  if (s == NATS_OK) s = natsOptions_SetClosedCB(no, &State::on_closed, st.get());
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(no, &State::on_error, st.get());
  if (s != NATS_OK) {
    return make_error(StatusCode::invalid_argument,
                      "NATS url " + o.url + ": " + nats_bridge::status_text(s),
                      nlohmann::json{{"url", o.url}}.dump());
  }
  natsConnection* nc = nullptr;
  s = natsConnection_Connect(&nc, no);
  if (s != NATS_OK) {
    return make_error(
        StatusCode::unavailable,
        "no NATS server answers at " + o.url + ": " + nats_bridge::status_text(s),
        nlohmann::json{{"url", o.url}, {"nats_status", natsStatus_GetText(s)}}.dump());
  }
  {
    std::unique_lock lock(st->nc_mu);
    st->nc = nc;
  }
  st->connected.store(true);

  natsInbox* inbox = nullptr;
  if (natsInbox_Create(&inbox) != NATS_OK) {
    return make_error(StatusCode::internal, "the NATS client could not make an inbox");
  }
  st->inbox = inbox;
  natsInbox_Destroy(inbox);
  if (!o.import_methods.empty()) {
    if (auto ok = st->subscribe(st->inbox + ".*", nullptr, &State::on_reply); !ok)
      return tl::unexpected(ok.error());
  }
  for (const auto& m : o.export_methods) {
    if (auto ok =
            st->subscribe(nd::call_subject(o.prefix, m), o.queue_group.c_str(), &State::on_request);
        !ok)
      return tl::unexpected(ok.error());
  }
  for (const auto& t : o.import_topics) {
    if (auto ok = st->subscribe(nd::topic_subject(o.prefix, t), nullptr, &State::on_publish); !ok)
      return tl::unexpected(ok.error());
  }
  // The subscriptions are in force at the NATS server once start() returns.
  if (s = natsConnection_FlushTimeout(nc, o.connect_timeout.count()); s != NATS_OK) {
    return make_error(StatusCode::unavailable,
                      "the NATS server at " + o.url +
                          " did not confirm the subscriptions: " + nats_bridge::status_text(s),
                      nlohmann::json{{"url", o.url}}.dump());
  }
  for (const auto& i : o.import_methods) {
    server.handle_async(
        i.local, [weak = std::weak_ptr<State>(st), subject = nd::call_subject(o.prefix, i.remote)](
                     CallContext& ctx, std::string_view payload, Responder r) {
          if (auto self = weak.lock()) {
            self->call_remote(subject, ctx, payload, std::move(r));
          } else {
            r.reply(make_error(StatusCode::unavailable, "the NATS bridge has stopped"));
          }
        });
    st->imported.push_back(i.local);
  }
  for (const auto& t : o.export_topics) {
    SubscribeOptions sub_options;
    sub_options.queue_limit = 65536;  // a burst waits here rather than being dropped
    auto id = server.subscribe(
        t,
        [weak = std::weak_ptr<State>(st)](std::string_view topic, std::string_view payload) {
          if (auto self = weak.lock()) self->export_publish(topic, payload);
        },
        sub_options);
    if (!id) return tl::unexpected(id.error());
    st->local_subscriptions.push_back(*id);
  }
  st->add_metrics();
  observe::logger().info(
      "plexus: NATS bridge connected to {} (subjects {}.call.*, {}.topic.*): {} exported "
      "methods, {} imported, {} exported topics, {} imported",
      o.url, o.prefix, o.prefix, o.export_methods.size(), o.import_methods.size(),
      o.export_topics.size(), o.import_topics.size());
  return bridge;
}

NatsBridge::~NatsBridge() {
  if (!state_) return;
  auto& st = *state_;
  st.closing.store(true);
  for (const auto id : st.local_subscriptions) st.server->unsubscribe(id);
  for (const auto& name : st.imported) st.server->remove(name);
  std::unordered_map<std::uint64_t, State::Pending> waiting;
  {
    std::lock_guard lock(st.pending_mu);
    st.stopping = true;
    waiting.swap(st.pending);
  }
  for (auto& [id, p] : waiting) {
    asio::post(p.timer->get_executor(), [timer = p.timer] { timer->cancel(); });
    p.responder.reply(make_error(StatusCode::unavailable, "the NATS bridge is stopping"));
  }
  // No message callback runs once every subscription has reported complete: then the local
  // client and the server are no longer reached from the C client's threads.
  for (auto* sub : st.subscriptions) natsSubscription_Unsubscribe(sub);
  {
    std::unique_lock lock(st.done_mu);
    if (!st.done_cv.wait_for(lock, nats_bridge::kCallbackDrain,
                             [&] { return st.subscriptions_open <= 0; })) {
      // A callback still runs (a publish waiting for a full `block` subscriber): what it uses
      // must stay, so the state and the connection are left to the process's exit.
      observe::logger().error(
          "plexus: NATS bridge: a NATS callback is still busy after {} s; leaving the NATS "
          "connection open",
          nats_bridge::kCallbackDrain.count());
      (void)new std::shared_ptr<State>(state_);  // deliberately never freed
      return;
    }
  }
  st.client.reset();  // answers of exported calls in flight go out before the connection closes
  natsConnection* nc = nullptr;
  {
    std::unique_lock lock(st.nc_mu);
    nc = st.nc;
    st.nc = nullptr;
  }
  if (nc) {
    natsConnection_Close(nc);
    std::unique_lock lock(st.done_mu);
    if (!st.done_cv.wait_for(lock, nats_bridge::kCallbackDrain, [&] { return st.closed; })) {
      observe::logger().error("plexus: NATS bridge: the NATS connection did not report closed");
      (void)new std::shared_ptr<State>(state_);  // its callbacks may still come: keep the state
      return;
    }
  }
  for (auto* sub : st.subscriptions) natsSubscription_Destroy(sub);
  if (nc) natsConnection_Destroy(nc);
  if (st.nats_options) natsOptions_Destroy(st.nats_options);
  for (const auto id : st.collectors) st.registry->remove_collector(id);
  for (const auto id : st.sections) st.registry->remove_section(id);
}

NatsBridgeStats NatsBridge::stats() const {
  return state_->snapshot();
}

}  // namespace plexus

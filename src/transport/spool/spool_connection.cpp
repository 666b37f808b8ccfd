#include "transport/spool/spool_connection.hpp"

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdio>
#include <mutex>
#include <utility>

#include <asio/post.hpp>
#include <asio/steady_timer.hpp>
#include <asio/strand.hpp>
#include <nlohmann/json.hpp>

#include "wire/handshake.hpp"

namespace plexus::transport::spool {
namespace {

using Clock = std::chrono::steady_clock;

std::mutex sink_mu;
SpoolWarningSink& warning_sink() {
  static SpoolWarningSink sink;
  return sink;
}

// One warning line, to the sink the api layer set (plexus's log) or else to stderr.
void warn(const std::string& line) {
  std::lock_guard lock(sink_mu);
  if (warning_sink()) {
    warning_sink()(line);
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
}

// How many acknowledged ids a sender remembers, so that a REQUEST resent after its answer was
// lost (its call had timed out) is answered at once instead of written, and handled, again.
constexpr std::size_t kRememberedAcks = 100000;
// A receiver connection the session ended is offered again this much later (not at once: a
// server that refuses it would otherwise be asked again in a loop).
constexpr std::chrono::seconds kOfferAgain{1};

Error bad_option(const Address& address, const std::string& why) {
  return Error{StatusCode::invalid_argument,
               "bad spool address \"" + address.to_string() + "\": " + why,
               {}};
}

template <typename T>
bool parse_number(const std::string& text, T& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && end == text.data() + text.size();
}

std::string encoded(const wire::Metadata& md) {
  std::string block;
  wire::encode_metadata(md, block);
  return block;
}

SpoolConnection::Inbound error_frame(std::uint64_t call_id, const Error& error) {
  wire::Metadata md;
  md.status = static_cast<std::uint16_t>(error.code);
  md.error_message = error.message;
  md.error_details = error.details;
  return {wire::FrameKind::error, call_id, encoded(md), {}};
}

void log_error_files(const Layout& layout, const std::vector<ErrorFile>& files) {
  for (const auto& f : files) {
    warn("plexus: spool file " + f.name + " of " + layout.root + " moved to errors/ (" + f.reason +
         ", " + std::string(to_string(f.error.code)) + "): " + f.error.message);
  }
}

// What a dead letter's call is answered with: the last failure, and details saying it is a dead
// letter (for a timeout, deadline_exceeded: nobody acknowledged it).
Error dead_letter_error(const DeadLetterNote& note, const std::string& root) {
  nlohmann::json details{{"dead_letter", true},
                         {"reason", note.reason},
                         {"attempts", note.attempts},
                         {"id", note.id},
                         {"directory", root}};
  if (note.reason == "timeout") {
    return Error{StatusCode::deadline_exceeded,
                 "no ack from the receiver of " + root + " after " + std::to_string(note.attempts) +
                     " deliveries: dead-lettered into errors/",
                 details.dump()};
  }
  return Error{note.error.code, note.error.message, details.dump()};
}

}  // namespace

Result<std::pair<SpoolAddressOptions, Layout>> open_address(const Address& address) {
  auto settings = spool_address_options(address);
  if (!settings) return tl::unexpected(settings.error());
  auto root = spool_root(address.path);
  if (!root) return tl::unexpected(root.error());
  auto layout = open_layout(*root, settings->create);
  if (!layout) return tl::unexpected(layout.error());
  return std::pair{*settings, std::move(*layout)};
}

void set_spool_warning_sink(SpoolWarningSink sink) {
  std::lock_guard lock(sink_mu);
  warning_sink() = std::move(sink);
}

Result<SpoolAddressOptions> spool_address_options(const Address& address) {
  SpoolAddressOptions s;
  for (const auto& [key, value] : address.options) {
    std::uint64_t n = 0;
    if (!parse_number(value, n)) {
      return tl::unexpected(
          bad_option(address, key + " wants a whole number, not \"" + value + "\""));
    }
    if (key == "ack_timeout_ms" && n > 0) {
      s.rules.ack_timeout = std::chrono::milliseconds(n);
    } else if (key == "max_retries" && n <= UINT32_MAX) {
      s.rules.max_retries = static_cast<std::uint32_t>(n);
    } else if (key == "retry_delay_ms") {
      s.rules.retry_delay = std::chrono::milliseconds(n);
    } else if (key == "max_message_size" && n > 0 && n <= (1u << 30)) {
      s.rules.max_message_size = static_cast<std::uint32_t>(n);
    } else if (key == "sync" && n <= 1) {
      s.rules.sync = n == 1;
    } else if (key == "create" && n <= 1) {
      s.create = n == 1;
    } else {
      return tl::unexpected(bad_option(
          address, "unknown option or value " + key + "=" + value +
                       " (ack_timeout_ms, max_retries, retry_delay_ms, max_message_size, "
                       "sync=0|1, create=0|1)"));
    }
  }
  return s;
}

// ---- SpoolConnection: executor side ---------------------------------------------------------

Result<std::shared_ptr<SpoolConnection>> SpoolConnection::open(asio::any_io_executor executor,
                                                               const Address& address,
                                                               const ConnectionOptions& /*options*/,
                                                               Role role) {
  auto opened = open_address(address);
  if (!opened) return tl::unexpected(opened.error());
  auto& [settings, layout] = *opened;
  auto watch = platform::DirectoryWatch::create();
  if (!watch) return tl::unexpected(watch.error());
  // The watch before any scan: a file renamed in between is seen twice, never missed.
  const auto& watched = role == Role::sender ? layout.acks : layout.messages;
  if (auto w = watch->watch(watched, false); !w) return tl::unexpected(w.error());
  std::shared_ptr<SpoolConnection> c(
      new SpoolConnection(std::move(executor), role, layout, settings, std::move(*watch)));
  if (role == Role::sender) {
    c->sender_.emplace(layout, settings.rules);
    c->sender_->remove_stale_temps(std::chrono::system_clock::now());
    if (auto started = c->sender_->start(Clock::now()); !started) {
      return tl::unexpected(started.error());
    }
  } else {
    c->receiver_.emplace(layout, settings.rules.max_message_size, settings.rules.sync);
    c->receiver_->remove_stale_temps(std::chrono::system_clock::now());
  }
  return c;
}

SpoolConnection::SpoolConnection(asio::any_io_executor executor, Role role, Layout layout,
                                 SpoolAddressOptions settings, platform::DirectoryWatch watch)
    : executor_(std::move(executor)),
      role_(role),
      layout_(std::move(layout)),
      settings_(settings),
      watch_(std::move(watch)) {}

SpoolConnection::~SpoolConnection() {
  stop_.store(true, std::memory_order_release);
  watch_.wake();
  if (thread_.joinable()) thread_.join();
}

std::string SpoolConnection::describe() const {
  return "dir://" + layout_.root + (role_ == Role::sender ? " (sender)" : " (receiver)");
}

void SpoolConnection::start(std::shared_ptr<ConnectionDelegate> delegate) {
  delegate_ = std::move(delegate);
  started_ = true;
  self_ = weak_from_this();
  thread_ = std::thread([this] { run(); });
  if (role_ == Role::receiver) {
    // The directory's side of the handshake: the session opens as if a peer had dialed.
    wire::PeerHello hello;
    hello.peer_name = "dir://" + layout_.root;
    hello.capabilities = wire::capability::kCancel | wire::capability::kDeadline;
    hello.max_message_size = settings_.rules.max_message_size;
    post_inbound({wire::FrameKind::hello, 0, encoded(wire::hello_metadata(hello)), {}});
  }
}

void SpoolConnection::post_inbound(Inbound frame) {
  asio::post(executor_, [weak = self_, frame = std::move(frame)]() mutable {
    if (auto self = weak.lock()) self->deliver(std::move(frame));
  });
}

void SpoolConnection::deliver(Inbound frame) {
  if (closed_ || !delegate_) return;
  if (paused_) {
    held_.push_back(std::move(frame));
    return;
  }
  wire::FrameView view;
  view.header.kind = frame.kind;
  view.header.id = frame.id;
  view.header.metadata_length = static_cast<std::uint16_t>(frame.metadata.size());
  view.header.body_length =
      static_cast<std::uint32_t>(frame.metadata.size() + frame.payload.size());
  view.metadata = frame.metadata;
  view.payload = frame.payload;
  view.owned_payload = &frame.payload;
  ++stats_.frames_in;
  stats_.bytes_in += wire::kHeaderSize + view.header.body_length;
  auto keep = delegate_;  // the delegate may close this connection from inside on_frame
  keep->on_frame(view);
}

void SpoolConnection::refuse(std::uint64_t call_id, Error error) {
  post_inbound(error_frame(call_id, error));
}

void SpoolConnection::push(Work work) {
  {
    std::lock_guard lock(mu_);
    work_.push_back(std::move(work));
  }
  watch_.wake();
}

Result<void> SpoolConnection::send(const OutFrame& frame) {
  if (closed_) return send_refusal(true, 0, 0);
  wire::Metadata md;
  if (frame.metadata) {
    md = *frame.metadata;
  } else if (!frame.encoded.empty()) {
    auto decoded = wire::decode_metadata(frame.encoded);
    if (!decoded) return tl::unexpected(decoded.error());
    md = *decoded;
  }
  ++stats_.frames_out;
  ++stats_.write_batches;
  stats_.bytes_out += wire::kHeaderSize + frame.payload.size() +
                      (frame.metadata ? wire::encoded_size(md) : frame.encoded.size());
  switch (frame.kind) {
    case wire::FrameKind::ping:
      post_inbound({wire::FrameKind::pong, frame.id, {}, std::string(frame.payload)});
      return {};
    case wire::FrameKind::goaway:
    case wire::FrameKind::pong:
    case wire::FrameKind::cancel:  // the message stays: it is a file, not a call
      return {};
    case wire::FrameKind::subscribe:
      refuse(frame.id, Error{StatusCode::failed_precondition,
                             "dir://" + layout_.root +
                                 " is a spool directory: it carries messages, not subscriptions",
                             {}});
      return {};
    default:
      break;
  }
  return role_ == Role::sender ? send_as_sender(frame, md) : send_as_receiver(frame, md);
}

Result<void> SpoolConnection::send_as_sender(const OutFrame& frame, const wire::Metadata& md) {
  switch (frame.kind) {
    case wire::FrameKind::hello: {
      wire::PeerHello welcome;
      welcome.peer_name = "dir://" + layout_.root;
      // No batches, streams, lanes or pub/sub: the session then sends plain NOTIFY and REQUEST.
      welcome.capabilities = wire::capability::kCancel | wire::capability::kDeadline;
      welcome.max_message_size = settings_.rules.max_message_size;
      post_inbound({wire::FrameKind::welcome, 0, encoded(wire::hello_metadata(welcome)), {}});
      return {};
    }
    case wire::FrameKind::notify:
    case wire::FrameKind::request: {
      const bool call = frame.kind == wire::FrameKind::request;
      if (md.method.starts_with("plexus.")) {
        if (call) {
          refuse(frame.id, Error{StatusCode::failed_precondition,
                                 "dir://" + layout_.root + " is a spool directory: " +
                                     std::string(md.method) + " needs a connection to a server",
                                 {}});
        }
        return {};
      }
      Work w;
      w.kind = Work::Kind::write;
      w.wants_ack = call;
      w.call_id = frame.id;
      w.record.id = call ? std::string(md.message_id) : std::string();
      w.record.type = std::string(md.method);
      w.record.group = md.message_group.empty() ? layout_.group : std::string(md.message_group);
      w.record.json = md.content_type == wire::ContentType::json;
      w.record.payload = frame.owned ? std::move(*frame.owned) : std::string(frame.payload);
      if (md.max_retries) w.record.max_retries = *md.max_retries;
      if (md.retry_delay_ms) w.record.retry_delay = std::chrono::milliseconds(*md.retry_delay_ms);
      push(std::move(w));
      return {};
    }
    default:
      return {};  // nothing else is sent to a peer without the capabilities WELCOME gave
  }
}

Result<void> SpoolConnection::send_as_receiver(const OutFrame& frame, const wire::Metadata& md) {
  switch (frame.kind) {
    case wire::FrameKind::welcome:
      if (!welcomed_) {
        welcomed_ = true;
        push(Work{Work::Kind::go, {}, false, 0, {}});
      }
      return {};
    case wire::FrameKind::response:
      push(Work{Work::Kind::outcome, {}, false, frame.id, {}});
      return {};
    case wire::FrameKind::error:
      push(Work{Work::Kind::outcome,
                {},
                false,
                frame.id,
                Result<void>(tl::unexpected(wire::carried_error(md)))});
      return {};
    case wire::FrameKind::request:
      refuse(frame.id,
             Error{StatusCode::failed_precondition,
                   "dir://" + layout_.root + " is a spool directory: its sender takes no calls",
                   {}});
      return {};
    default:
      return {};
  }
}

void SpoolConnection::pause_reading() {
  paused_ = true;
  reading_paused_.store(true, std::memory_order_release);
}

void SpoolConnection::resume_reading() {
  if (!paused_) return;
  const auto self = shared_from_this();  // a delivered frame may end the session
  paused_ = false;
  while (!paused_ && !closed_ && !held_.empty()) {
    auto frame = std::move(held_.front());
    held_.pop_front();
    deliver(std::move(frame));
  }
  if (!paused_) {
    reading_paused_.store(false, std::memory_order_release);
    watch_.wake();
  }
}

void SpoolConnection::close(const Error& reason, bool /*flush*/) {
  // Writes already taken are always finished (the thread drains its work before it ends), so
  // a flushing close and an abrupt one differ only in what the session sends before.
  finish_close(reason);
}

void SpoolConnection::finish_close(const Error& reason) {
  if (closed_) return;
  // The delegate may drop the last owner of this connection in on_closed.
  const auto self = shared_from_this();
  closed_ = true;
  held_.clear();
  stop_.store(true, std::memory_order_release);
  watch_.wake();
  // Never waits on this executor: the thread only posts to it. After the join no message is
  // half handled, so a new receiver on the directory may start at once.
  if (thread_.joinable()) thread_.join();
  if (auto d = std::move(delegate_)) d->on_closed(reason);
  if (auto hook = std::move(closed_hook_)) hook();
}

// ---- SpoolConnection: watcher thread --------------------------------------------------------

void SpoolConnection::fail_from_thread(Error error) {
  asio::post(executor_, [weak = self_, error = std::move(error)] {
    if (auto self = weak.lock()) self->finish_close(error);
  });
}

void SpoolConnection::run() {
  if (role_ == Role::sender) {
    run_sender();
  } else {
    run_receiver();
  }
}

void SpoolConnection::run_sender() {
  for (;;) {
    const bool stopping = stop_.load(std::memory_order_acquire);
    std::deque<Work> work;
    {
      std::lock_guard lock(mu_);
      work.swap(work_);
    }
    auto now = Clock::now();
    // Writes taken before a close are finished: a NOTIFY the session sent is never dropped.
    for (auto& w : work) sender_write(w);
    if (stopping) {
      sender_->flush();
      return;
    }
    auto batch = watch_.wait(work.empty() ? wait_ms(sender_->next_deadline(), now) : 0);
    if (!batch) {
      fail_from_thread(batch.error());
      return;
    }
    now = Clock::now();
    for (const auto& e : batch->events) {
      if (!e.deleted) sender_->on_ack_file(e.name, now);
    }
    if (batch->overflow) sender_->rescan_acks(now);
    sender_->flush();
    sender_->expire(now);
    sender_report();
    sender_->flush();
  }
}

void SpoolConnection::sender_write(Work& w) {
  if (w.wants_ack && !w.record.id.empty() && acked_.contains(w.record.id)) {
    post_inbound({wire::FrameKind::response, w.call_id, {}, {}});  // handled already
    return;
  }
  const std::string given = w.record.id;
  auto id = sender_->send(std::move(w.record), w.wants_ack, Clock::now());
  if (!id) {
    if (w.wants_ack && id.error().code == StatusCode::already_exists && !given.empty()) {
      calls_of_[given].push_back(w.call_id);  // a resend of a pending message waits for it
      return;
    }
    if (w.wants_ack) {
      post_inbound(error_frame(w.call_id, id.error()));
    } else {
      warn("plexus: a message to " + layout_.root + " was not written: " + id.error().to_string());
    }
    return;
  }
  if (w.wants_ack) calls_of_[*id].push_back(w.call_id);
}

void SpoolConnection::sender_report() {
  for (const auto& ack : sender_->take_acks()) {
    if (!ack.ok) continue;  // a retry or a dead letter follows
    if (acked_.insert(ack.id).second) {
      acked_order_.push_back(ack.id);
      if (acked_order_.size() > kRememberedAcks) {
        acked_.erase(acked_order_.front());
        acked_order_.pop_front();
      }
    }
    if (auto it = calls_of_.find(ack.id); it != calls_of_.end()) {
      for (auto call : it->second) post_inbound({wire::FrameKind::response, call, {}, {}});
      calls_of_.erase(it);
    }
  }
  for (const auto& note : sender_->take_dead_letters()) {
    warn("plexus: spool message " + note.id + " (" + note.type + ") of " + layout_.root +
         " dead-lettered after " + std::to_string(note.attempts) + " deliveries (" + note.reason +
         ", " + std::string(to_string(note.error.code)) + "): " + note.error.message);
    if (auto it = calls_of_.find(note.id); it != calls_of_.end()) {
      const Error error = dead_letter_error(note, layout_.root);
      for (auto call : it->second) post_inbound(error_frame(call, error));
      calls_of_.erase(it);
    }
  }
  log_error_files(layout_, sender_->take_error_files());
}

void SpoolConnection::run_receiver() {
  bool going = false;  // the session's WELCOME came: messages may be handed over
  auto enqueue = [this](const std::string& name) {
    if (name.starts_with('.')) return;
    if (queued_.insert(name).second) names_.push_back(name);
  };
  for (;;) {
    if (stop_.load(std::memory_order_acquire)) return;
    std::deque<Work> work;
    {
      std::lock_guard lock(mu_);
      work.swap(work_);
    }
    for (auto& w : work) {
      if (w.kind == Work::Kind::go && !going) {
        going = true;
        auto names = receiver_->scan();  // what arrived before, oldest id first
        if (!names) {
          fail_from_thread(names.error());
          return;
        }
        for (const auto& n : *names) enqueue(n);
      } else if (w.kind == Work::Kind::outcome && in_flight_ && in_flight_->call_id == w.call_id) {
        // limit: an ack that cannot be written (a full disk) leaves the message as it is; the
        // sender resends it after its ack timeout.
        (void)receiver_->finish(in_flight_->record, in_flight_->name, w.outcome);
        in_flight_.reset();
      }
    }
    while (going && !in_flight_ && !names_.empty() &&
           !reading_paused_.load(std::memory_order_acquire) &&
           !stop_.load(std::memory_order_acquire)) {
      receiver_next();
    }
    log_error_files(layout_, receiver_->take_error_files());
    auto batch = watch_.wait(-1);
    if (!batch) {
      fail_from_thread(batch.error());
      return;
    }
    for (const auto& e : batch->events) {
      if (!e.deleted) enqueue(e.name);
    }
    if (batch->overflow) {
      if (auto names = receiver_->scan()) {
        for (const auto& n : *names) enqueue(n);
      }
    }
  }
}

void SpoolConnection::receiver_next() {
  const std::string name = std::move(names_.front());
  names_.pop_front();
  queued_.erase(name);
  auto record = receiver_->take(name);
  if (!record) return;  // a repeat, a file gone meanwhile, or a corrupt one (now in errors/)
  wire::Metadata md;
  md.method = record->type;
  md.message_type = record->type;
  md.message_group = record->group;
  md.attempt = record->attempt;
  if (record->json) md.content_type = wire::ContentType::json;
  if (record->id.empty()) {
    // Asked for no ack: handed over as a NOTIFY and removed; nobody resends it.
    post_inbound({wire::FrameKind::notify, 0, encoded(md), std::move(record->payload)});
    (void)receiver_->finish(*record, name, {});
    return;
  }
  md.message_id = record->id;
  const std::uint64_t call = next_call_id_++;
  post_inbound({wire::FrameKind::request, call, encoded(md), record->payload});
  in_flight_ = InFlight{std::move(*record), name, call};
}

// ---- SpoolListener --------------------------------------------------------------------------

struct SpoolListener::State : std::enable_shared_from_this<SpoolListener::State> {
  State(asio::io_context& io_context, Address a, ListenOptions o)
      : io(io_context), address(std::move(a)), options(std::move(o)), timer(io_context) {}

  void offer() {
    if (!open || !on_connection) return;
    auto executor = options.connection_executor ? options.connection_executor()
                                                : asio::any_io_executor(asio::make_strand(io));
    auto c = SpoolConnection::open(executor, address, options.connection,
                                   SpoolConnection::Role::receiver);
    if (!c) {
      warn("plexus: spool directory " + address.to_string() +
           " cannot be opened: " + c.error().to_string());
      offer_later();
      return;
    }
    (*c)->on_finished([weak = weak_from_this()] {
      if (auto s = weak.lock()) {
        asio::post(s->io, [weak] {
          if (auto s = weak.lock()) s->offer_later();
        });
      }
    });
    on_connection(std::move(*c));
  }

  void offer_later() {
    if (!open) return;
    timer.expires_after(kOfferAgain);
    timer.async_wait([weak = weak_from_this()](std::error_code ec) {
      if (auto s = weak.lock(); s && !ec) s->offer();
    });
  }

  asio::io_context& io;
  Address address;
  ListenOptions options;
  asio::steady_timer timer;
  std::function<void(std::shared_ptr<Connection>)> on_connection;
  bool open = true;
};

Result<std::unique_ptr<SpoolListener>> SpoolListener::open(asio::io_context& io,
                                                           const Address& address,
                                                           const ListenOptions& options) {
  // Refuse a bad address or a directory that cannot be made now, not at the first accept.
  auto opened = open_address(address);
  if (!opened) return tl::unexpected(opened.error());
  return std::unique_ptr<SpoolListener>(
      new SpoolListener(std::make_shared<State>(io, address, options), opened->second.root));
}

SpoolListener::SpoolListener(std::shared_ptr<State> state, std::string root)
    : state_(std::move(state)), root_(std::move(root)) {}

SpoolListener::~SpoolListener() {
  close();
}

void SpoolListener::accept(std::function<void(std::shared_ptr<Connection>)> on_connection) {
  state_->on_connection = std::move(on_connection);
  asio::post(state_->io, [weak = std::weak_ptr<State>(state_)] {
    if (auto s = weak.lock()) s->offer();
  });
}

void SpoolListener::close() {
  state_->open = false;
  state_->timer.cancel();
}

}  // namespace plexus::transport::spool

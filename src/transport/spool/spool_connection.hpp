// A spool directory behind the Connection interface (docs/PROTOCOL.md §23.7), so that
// plexus::Client and plexus::Server use `dir:///path/group` like any other address: the dialer
// is the directory's sender, the listener its receiver, and each plays the other side's part of
// the session protocol itself (there is nobody to shake hands with).
//
// Sender (dial): HELLO is answered with a WELCOME made here; a NOTIFY becomes a message that asks
// for no ack; a REQUEST becomes a message that asks for one (its message_id, or a new id), and
// its answer is that message's fate: RESPONSE (empty) once handled, ERROR once dead-lettered
// (the handler's last error, or deadline_exceeded for no ack; details say which). The spool's
// own rules resend it meanwhile. A resent REQUEST with the id of a pending message waits for
// that message. CANCEL leaves the message where it is.
//
// Receiver (listen): a HELLO made here opens the session; each message is then handed over as a
// REQUEST carrying its message_id (or as a NOTIFY when it asks for no ack), one at a time, and
// the RESPONSE or ERROR the session answers becomes its ack file.
//
// Both answer PING with PONG and refuse what a directory cannot carry (plexus.* methods,
// subscriptions, calls from the receiver's side) with failed_precondition. Threading: a watcher
// thread per connection owns the spool core and does all file I/O (fsyncs included), so the
// executor never waits on the disk; what it reads reaches the delegate on the executor.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <asio/io_context.hpp>

#include "platform/posix/files.hpp"
#include "transport/address.hpp"
#include "transport/connection.hpp"
#include "transport/spool/spool_receiver_core.hpp"
#include "transport/spool/spool_sender_core.hpp"
#include "transport/transport.hpp"

namespace plexus::transport::spool {

// Receives the warnings of spool connections (dead letters, files moved to errors/), one line
// each, from any thread; the api layer points it at plexus's log (transport/ has no observe/).
// Unset: stderr.
using SpoolWarningSink = std::function<void(std::string_view line)>;
void set_spool_warning_sink(SpoolWarningSink sink);

// What the address's options set (dir:///path/group?ack_timeout_ms=…&max_retries=…&
// retry_delay_ms=…&sync=0|1&create=0|1); the defaults are SpoolOptions'.
struct SpoolAddressOptions {
  SenderRules rules;
  bool create = true;
};
Result<SpoolAddressOptions> spool_address_options(const Address& address);
// Those options and the directory's layout (made when missing unless create=0).
Result<std::pair<SpoolAddressOptions, Layout>> open_address(const Address& address);

class SpoolConnection final : public Connection,
                              public std::enable_shared_from_this<SpoolConnection> {
 public:
  enum class Role { sender, receiver };

  // Opens the directory (made when missing unless create=0), sets up its watch and, for a
  // sender, takes over what an earlier sender left pending. The watcher starts with start().
  // `options` are a socket's (receive limits, write queue): a directory has its own, the
  // address options.
  static Result<std::shared_ptr<SpoolConnection>> open(asio::any_io_executor executor,
                                                       const Address& address,
                                                       const ConnectionOptions& options, Role role);
  ~SpoolConnection() override;

  // Connection
  void start(std::shared_ptr<ConnectionDelegate> delegate) override;
  using Connection::send;
  Result<void> send(const OutFrame& frame) override;
  void close(const Error& reason, bool flush) override;
  void pause_reading() override;
  void resume_reading() override;
  void set_peer_max_message_size(std::uint32_t bytes) override { peer_max_ = bytes; }
  std::uint32_t peer_max_message_size() const override { return peer_max_; }
  bool is_open() const override { return !closed_; }
  const ConnectionStats& stats() const override { return stats_; }
  std::size_t pending_write_bytes() const override { return 0; }
  asio::any_io_executor executor() const override { return executor_; }
  std::string describe() const override;
  std::optional<platform::PeerCredentials> credentials() const override { return std::nullopt; }

  // Called once on the executor after the connection closed (the listener offers a new one).
  void on_finished(std::function<void()> hook) { closed_hook_ = std::move(hook); }

  // A frame made here for the delegate (its metadata encoded).
  struct Inbound {
    wire::FrameKind kind{};
    std::uint64_t id = 0;
    std::string metadata;
    std::string payload;
  };

 private:
  // Work the executor hands the watcher thread.
  struct Work {
    enum class Kind { write, outcome, go } kind = Kind::write;
    Record record;              // write: the message
    bool wants_ack = false;     // write: a REQUEST's (answered by its fate)
    std::uint64_t call_id = 0;  // write: the REQUEST's id; outcome: the delivered REQUEST's
    Result<void> outcome;       // outcome: the session's answer
  };

  SpoolConnection(asio::any_io_executor executor, Role role, Layout layout,
                  SpoolAddressOptions settings, platform::DirectoryWatch watch);

  // Executor side.
  void deliver(Inbound frame);  // to the delegate now, or queued while paused
  void post_inbound(Inbound frame);
  void refuse(std::uint64_t call_id, Error error);  // an ERROR made here
  void finish_close(const Error& reason);
  Result<void> send_as_sender(const OutFrame& frame, const wire::Metadata& md);
  Result<void> send_as_receiver(const OutFrame& frame, const wire::Metadata& md);
  void push(Work work);

  // Watcher thread side.
  void run();
  void run_sender();
  void run_receiver();
  void sender_write(Work& work);
  void sender_report();
  void receiver_next();
  void fail_from_thread(Error error);

  asio::any_io_executor executor_;
  Role role_;
  Layout layout_;
  SpoolAddressOptions settings_;
  ConnectionStats stats_;
  std::uint32_t peer_max_ = wire::kDefaultMaxMessageSize;

  // Executor only.
  std::shared_ptr<ConnectionDelegate> delegate_;
  std::deque<Inbound> held_;  // arrived while paused
  bool started_ = false;
  bool paused_ = false;
  bool closed_ = false;
  bool welcomed_ = false;  // receiver: the session's WELCOME came
  std::function<void()> closed_hook_;

  // Shared with the watcher thread.
  platform::DirectoryWatch watch_;
  std::mutex mu_;
  std::deque<Work> work_;  // guarded by mu_
  std::atomic<bool> stop_{false};
  std::atomic<bool> reading_paused_{false};
  std::weak_ptr<SpoolConnection> self_;  // the thread posts through it
  std::thread thread_;

  // Watcher thread only.
  std::optional<SenderCore> sender_;
  std::optional<ReceiverCore> receiver_;
  std::map<std::string, std::vector<std::uint64_t>> calls_of_;  // sender: id -> REQUEST ids
  std::set<std::string> acked_;                                 // sender: ids acknowledged
  std::deque<std::string> acked_order_;                         // acked_, oldest first
  std::deque<std::string> names_;                               // receiver: to look at
  std::set<std::string> queued_;                                // receiver: names_ as a set
  struct InFlight {
    Record record;
    std::string name;
    std::uint64_t call_id = 0;
  };
  std::optional<InFlight> in_flight_;  // receiver: handed over, not answered yet
  std::uint64_t next_call_id_ = 1;
};

// Listens on a spool directory: hands out one receiver connection, and a new one when it closes
// while the listener is open (a session the server ended, say).
class SpoolListener final : public Listener {
 public:
  static Result<std::unique_ptr<SpoolListener>> open(asio::io_context& io, const Address& address,
                                                     const ListenOptions& options);
  ~SpoolListener() override;
  void accept(std::function<void(std::shared_ptr<Connection>)> on_connection) override;
  void close() override;
  std::string address() const override { return "dir://" + root_; }

 private:
  struct State;
  SpoolListener(std::shared_ptr<State> state, std::string root);
  std::shared_ptr<State> state_;
  std::string root_;
};

}  // namespace plexus::transport::spool

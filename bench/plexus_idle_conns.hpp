// Many idle plexus sessions from one process, opened by hand: a Unix socket each, the HELLO
// written and the WELCOME read with the project's wire layer (src/wire/), then nothing but PONGs
// for the server's heartbeat PINGs. A full plexus::Client per connection would put a session,
// timers and queues of its own on this side; the server cannot tell the difference, and it is
// the server's cost per connection that the benchmark measures. One descriptor per connection.
#pragma once

#include "unix_io.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace plexus_bench {

class PlexusIdleConnections {
 public:
  // `peer_name` goes into every HELLO, so the server's peer list shows which sessions are ours.
  PlexusIdleConnections(std::string socket_path, std::string peer_name);
  ~PlexusIdleConnections();  // stop_keeping(), close_all()
  PlexusIdleConnections(const PlexusIdleConnections&) = delete;
  PlexusIdleConnections& operator=(const PlexusIdleConnections&) = delete;

  // Opens connections until `total` have completed the handshake, with at most `window`
  // handshakes under way at once (connect, HELLO, then the next while WELCOMEs come back).
  // Throws on a refusal (GOAWAY, e.g. the connection limit), a connection the server closed, or
  // when `timeout` passes. Not while keeping.
  void open_until(std::size_t total, std::size_t window, std::chrono::milliseconds timeout);

  // Answers the server's PINGs on a thread of its own until stop_keeping(): a plexus server drops
  // a peer that stays silent for its heartbeat timeout (15 s by default).
  void start_keeping();
  void stop_keeping();

  // Closes every connection (the server sees each one end).
  void close_all();

  std::size_t handshaked() const { return handshaked_; }
  // Connections the server closed or said GOAWAY on after their handshake.
  std::size_t lost() const { return lost_.load(); }
  std::uint64_t pongs_sent() const { return pongs_.load(); }

 private:
  struct Connection {
    UniqueFd fd;
    std::string pending;  // the start of a frame whose rest has not arrived yet
    bool welcomed = false;
  };

  // Waits up to timeout_ms for readable connections and reads them; returns false on a timeout.
  // Throws what handle_frame throws for a connection still in its handshake.
  bool poll_once(int timeout_ms);
  void read_connection(std::size_t index);
  void handle_frames(Connection& c, std::string_view bytes);
  void handle_frame(Connection& c, std::uint8_t kind, std::uint64_t id, std::string_view metadata);
  void drop(Connection& c);

  std::string socket_path_;
  std::string hello_;  // the HELLO frame, encoded once
  UniqueFd epoll_;
  std::vector<Connection> connections_;
  std::size_t handshaked_ = 0;
  std::atomic<std::size_t> lost_{0};
  std::atomic<std::uint64_t> pongs_{0};
  std::atomic<bool> keeping_{false};
  std::thread keeper_;
};

}  // namespace plexus_bench

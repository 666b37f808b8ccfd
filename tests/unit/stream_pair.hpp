// Test helpers for StreamConnection over a Unix socket pair: a delegate that records what it is
// given, a frame encoder, and the pair itself (tests/unit: hot_read_test, stream_connection_test).
#pragma once

#include <gtest/gtest.h>

#include <asio/io_context.hpp>
#include <asio/local/connect_pair.hpp>
#include <asio/post.hpp>
#include <asio/write.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "transport/hot_read.hpp"
#include "transport/stream/stream_connection.hpp"
#include "wire/metadata.hpp"

namespace plexus::transport::test_support {

using Local = asio::local::stream_protocol;
using namespace std::chrono_literals;

class Recorder final : public ConnectionDelegate {
 public:
  void on_frame(const wire::FrameView& frame) override {
    payloads.emplace_back(frame.payload);
    if (payloads.size() == pause_at && connection) connection->pause_reading();
    if (on_each_frame) on_each_frame();
  }
  void on_frame_too_large(const wire::FrameHeader&, const Error& e, bool) override {
    errors.push_back(e.to_string());
  }
  void on_malformed(const Error& e) override { errors.push_back(e.to_string()); }
  void on_closed(const Error& e) override { closed_reason = e.to_string(); }

  std::vector<std::string> payloads;
  std::vector<std::string> errors;
  std::string closed_reason;
  std::size_t pause_at = 0;  // pauses the connection inside the delivery of this frame (1-based)
  std::function<void()> on_each_frame;  // runs after each frame is recorded
  Connection* connection = nullptr;
};

inline std::string frame(std::string_view payload) {
  std::string out;
  wire::Metadata md;
  md.method = "m";
  EXPECT_TRUE(wire::encode_frame(wire::FrameKind::notify, 0, md, payload,
                                 wire::kDefaultMaxMessageSize, out));
  return out;
}

// A StreamConnection (with a hot-read slot, or not) on one end of a socket pair; the test writes
// into the other end and runs the io_context on its own thread, a handler or a look at a time.
struct StreamPair {
  explicit StreamPair(bool with_hot_read = true) {
    Local::socket ours(io);
    asio::local::connect_pair(ours, peer);
    ConnectionOptions options;
    if (with_hot_read) options.hot_read = &slot;
    connection = std::make_shared<StreamConnection<Local>>(std::move(ours), options, "hot");
    recorder->connection = connection.get();
    connection->start(recorder);
  }
  ~StreamPair() {
    if (connection) connection->close(Error{StatusCode::cancelled, "test over", {}}, false);
    io.poll();
  }
  void write(const std::string& bytes) {
    ASSERT_EQ(asio::write(peer, asio::buffer(bytes)), bytes.size());
  }
  // Runs what is ready, as the runtime's io_.poll() does; the reactor sees the socket.
  void poll() {
    io.restart();
    io.poll();
  }
  // A look, posted and run as the runtime does: true when it brought input.
  bool look(std::chrono::microseconds window = 200ms) {
    bool found = false;
    asio::post(io, [&] { found = slot.poll_for(window); });
    poll();
    return found;
  }
  // Waits until the reactor delivers `n` payloads (bounded: 5 s).
  void poll_until_payloads(std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (recorder->payloads.size() < n && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(10ms);
    }
  }

  asio::io_context io;
  Local::socket peer{io};
  HotReadSlot slot;
  std::shared_ptr<StreamConnection<Local>> connection;
  std::shared_ptr<Recorder> recorder = std::make_shared<Recorder>();
};

}  // namespace plexus::transport::test_support

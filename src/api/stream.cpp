#include "plexus/stream.hpp"

#include <asio/dispatch.hpp>
#include <asio/post.hpp>

#include "plexus/runtime.hpp"
#include "rpc/stream_core.hpp"

namespace plexus {
namespace {

Error invalid_stream() {
  return Error{StatusCode::failed_precondition, "not a stream (default-constructed handle)", {}};
}

Error blocking_on_io_thread() {
  return Error{StatusCode::failed_precondition,
               "blocking stream operation on an I/O thread would deadlock; use async_read / "
               "async_write",
               {}};
}

}  // namespace

void Stream::start_read(StreamReadCallback done) {
  if (!core_) return done(tl::unexpected(invalid_stream()));
  asio::dispatch(core_->executor(),
                 [core = core_, done = std::move(done)]() mutable { core->read(std::move(done)); });
}

void Stream::start_write(std::string item, StreamWriteCallback done) {
  if (!core_) return done(tl::unexpected(invalid_stream()));
  asio::dispatch(core_->executor(),
                 [core = core_, item = std::move(item), done = std::move(done)]() mutable {
                   core->write(std::move(item), std::move(done));
                 });
}

Result<std::optional<std::string>> Stream::read() {
  if (core_ && Runtime::running_in(core_->executor()))
    return tl::unexpected(blocking_on_io_thread());
  std::promise<Result<std::optional<std::string>>> promise;
  auto future = promise.get_future();
  start_read([&promise](Result<std::optional<std::string>> r) { promise.set_value(std::move(r)); });
  return future.get();
}

Result<void> Stream::write(std::string item) {
  if (core_ && Runtime::running_in(core_->executor()))
    return tl::unexpected(blocking_on_io_thread());
  std::promise<Result<void>> promise;
  auto future = promise.get_future();
  start_write(std::move(item), [&promise](Result<void> r) { promise.set_value(std::move(r)); });
  return future.get();
}

bool Stream::try_write(std::string_view item) {
  return core_ && Runtime::running_in(core_->executor()) && core_->try_write(item);
}

std::optional<std::string> Stream::try_read() {
  if (!core_ || !Runtime::running_in(core_->executor())) return std::nullopt;
  return core_->try_read();
}

void Stream::close_write() {
  if (!core_) return;
  asio::dispatch(core_->executor(), [core = core_] { core->close_write(); });
}

void Stream::cancel(std::string reason) {
  if (!core_) return;
  asio::dispatch(core_->executor(), [core = core_, reason = std::move(reason)] {
    core->cancel(Error{StatusCode::cancelled, reason, {}});
  });
}

void Stream::set_progress(std::uint64_t total, std::optional<std::uint64_t> done) {
  if (!core_) return;
  asio::dispatch(core_->executor(),
                 [core = core_, total, done] { core->set_progress(total, done); });
}

StreamProgress Stream::progress() const {
  return core_ ? core_->progress() : StreamProgress{};
}

StreamStats Stream::stats() const {
  return core_ ? core_->stats() : StreamStats{};
}

std::optional<Result<std::string>> Stream::outcome() const {
  return core_ ? core_->outcome() : std::nullopt;
}

}  // namespace plexus

#include "plexus/stream_items.hpp"

#include <utility>

namespace plexus {

asio::awaitable<Result<void>> write_item(Stream& out, std::string_view item) {
  if (out.try_write(item)) co_return Result<void>{};
  co_return co_await out.async_write(item, asio::use_awaitable);
}

asio::awaitable<Result<std::uint64_t>> write_all(Stream& out, Generator<std::string> items) {
  std::uint64_t written = 0;
  for (const std::string& item : items) {
    auto w = co_await write_item(out, item);
    if (!w) co_return tl::unexpected(w.error());
    ++written;
  }
  co_return written;
}

namespace {

// A coroutine of its own, not a capturing coroutine lambda: its parameters (`produce` among
// them) are copied into its frame, so it does not depend on the handler object staying alive.
asio::awaitable<Result<std::string>> serve_generated(GeneratorHandler produce, CallContext& ctx,
                                                     std::string payload, Stream out) {
  auto written = co_await write_all(out, produce(ctx, std::move(payload)));
  if (!written) co_return tl::unexpected(written.error());
  co_return nlohmann::json{{"items", *written}}.dump();
}

}  // namespace

StreamHandler generator_handler(GeneratorHandler produce) {
  return [produce = std::move(produce)](CallContext& ctx, std::string payload, Stream out) {
    return serve_generated(produce, ctx, std::move(payload), std::move(out));
  };
}

}  // namespace plexus

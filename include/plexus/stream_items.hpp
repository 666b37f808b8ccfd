/// \file
/// Writing many items to a Stream with flow control, from a stream handler (or any coroutine on
/// the stream's I/O thread): one item, everything a Generator yields, or a range in chunks.
///
/// A stream method whose items a generator yields (the opener's argument says how many), and,
/// in a stream handler, a vector written as items of 100 elements, each a JSON array:
///
/// ```
/// auto count = [](plexus::CallContext&, std::string payload) -> plexus::Generator<std::string> {
///   const int n = std::stoi(payload);
///   for (int i = 0; i < n; ++i) co_yield std::to_string(i);
/// };
/// server.handle_stream("numbers", plexus::generator_handler(count));
///
/// std::vector<int> values(250);
/// std::iota(values.begin(), values.end(), 1);
/// auto written = co_await plexus::write_chunks(out, values, 100);  // items of 100: JSON arrays
/// ```
///
/// Each write goes out at once while the reader's credit allows (Stream::try_write) and waits
/// for credit otherwise (Stream::async_write), so the producer never runs ahead of the window.
/// Errors: the first failed write ends the writing and is returned (the reader cancelled:
/// cancelled; the session was lost: unavailable; …).
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iterator>
#include <string>
#include <string_view>

#include <asio/awaitable.hpp>
#include <asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "plexus/call.hpp"
#include "plexus/export.hpp"
#include "plexus/generator.hpp"
#include "plexus/status.hpp"
#include "plexus/stream.hpp"

namespace plexus {

/// Writes one item: sent at once if there is credit, else after waiting for it.
PLEXUS_EXPORT asio::awaitable<Result<void>> write_item(Stream& out, std::string_view item);

/// Writes every item `items` yields, in order. The generator runs to its next co_yield only once
/// the previous item has been taken, so it is held back by the reader's window like any writer.
/// Returns how many items were written; an exception from the generator's body leaves from here.
PLEXUS_EXPORT asio::awaitable<Result<std::uint64_t>> write_all(Stream& out,
                                                               Generator<std::string> items);

/// Writes `range` (anything with begin/end whose elements nlohmann::json can hold) as items of
/// `chunk` elements, the last one shorter if the size is not a multiple; each item is the JSON
/// array of its elements, such as [1,2,3]. invalid_argument for a chunk of 0. Returns the items
/// written.
template <typename Range>
asio::awaitable<Result<std::uint64_t>> write_chunks(Stream& out, const Range& range,
                                                    std::size_t chunk) {
  if (chunk == 0) {
    co_return make_error(StatusCode::invalid_argument, "write_chunks: a chunk of 0 elements");
  }
  std::uint64_t written = 0;
  auto it = std::begin(range);
  const auto end = std::end(range);
  while (it != end) {
    nlohmann::json items = nlohmann::json::array();
    for (std::size_t n = 0; n < chunk && it != end; ++n, ++it) items.push_back(*it);
    auto w = co_await write_item(out, items.dump());
    if (!w) co_return tl::unexpected(w.error());
    ++written;
  }
  co_return written;
}

/// Makes the Generator of one stream's items from the opener's CallContext and argument
/// (generator_handler).
using GeneratorHandler = std::function<Generator<std::string>(CallContext&, std::string payload)>;

/// A stream handler whose items come from `produce`: they are written with write_all(); the
/// stream then ends cleanly with {"items":N} as its final payload (Stream::outcome on the
/// opener), or with the failed write's error. A body that throws ends the stream with internal,
/// like any stream handler that throws.
PLEXUS_EXPORT StreamHandler generator_handler(GeneratorHandler produce);

}  // namespace plexus

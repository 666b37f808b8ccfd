#include "payloads.hpp"

#include <charconv>
#include <cmath>

namespace plexus::soak {
namespace {
// Twice the largest payload, so a slice of any size has room to start at many places.
constexpr std::size_t kPoolBytes = 2 * kMaxPayload;
}  // namespace

PayloadPool::PayloadPool(std::uint64_t seed) : bytes_(kPoolBytes, '\0') {
  std::mt19937_64 rng(seed);
  for (auto& b : bytes_) b = static_cast<char>(rng() & 0xff);
}

std::string PayloadPool::make(std::mt19937_64& rng, std::size_t size, std::string_view tag) const {
  std::string out(tag);
  if (size > out.size()) {
    const std::size_t rest = std::min(size - out.size(), kMaxPayload);
    const std::size_t offset = rng() % (bytes_.size() - rest + 1);
    out.append(bytes_, offset, rest);
  }
  return out;
}

std::string_view PayloadPool::slice(std::uint64_t key, std::size_t size) const {
  size = std::min(size, kMaxPayload);
  const std::size_t offset = (key * 7919u) % (bytes_.size() - size + 1);
  return std::string_view(bytes_).substr(offset, size);
}

std::size_t draw_size(std::mt19937_64& rng, std::size_t max) {
  std::uniform_real_distribution<double> exponent(0.0, std::log2(static_cast<double>(max)));
  return std::min<std::size_t>(max, static_cast<std::size_t>(std::exp2(exponent(rng))));
}

std::string published_message(const PayloadPool& pool, std::uint64_t seq) {
  // Mostly up to 2 KiB; every 16th message 32 KiB or more, larger than a socket read brings.
  const std::size_t size = seq % 16 == 0 ? 32 * 1024 + seq % 1024 : seq % 2048;
  std::string out = std::to_string(seq) + "|";
  out.append(pool.slice(seq, size));
  return out;
}

std::optional<std::uint64_t> published_seq(std::string_view message) {
  std::uint64_t seq = 0;
  const auto [end, ec] = std::from_chars(message.data(), message.data() + message.size(), seq);
  if (ec != std::errc() || end == message.data() + message.size() || *end != '|') {
    return std::nullopt;
  }
  return seq;
}

}  // namespace plexus::soak

// Opening and accepting direct channels (plexus/direct.hpp): the exchange of docs/PROTOCOL.md
// §20, an ordinary call to the channel's name whose request names the opener's memfd.
#include "plexus/direct.hpp"

#include <algorithm>
#include <random>

#include <nlohmann/json.hpp>

#include "platform/posix/futex.hpp"
#include "platform/posix/shm.hpp"
#include "plexus/call.hpp"
#include "plexus/client.hpp"
#include "plexus/handlers.hpp"
#include "transport/shm/direct_endpoint.hpp"

namespace plexus {
namespace {

using transport::shm::DirectEndpoint;

constexpr int kDirectVersion = 2;  // 2: sealed records (PROTOCOL.md §20.2)
// The opener writes ring 0 and reads ring 1; the acceptor the other way round.
constexpr int kOpenerWrites = 0;
constexpr int kAcceptorWrites = 1;

std::uint64_t random_nonce() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) ^ device();
}

transport::shm::DirectWait wait_of(const DirectOptions& o) {
  transport::shm::DirectWait w;
  w.wait = o.wait;
  w.min_spin = o.min_spin;
  w.max_spin = o.max_spin;
  // Within [1 ms, 1 day]: 0 would make a sleeping side poll without pause, and a "never" value
  // would overflow the clock arithmetic.
  w.liveness_interval = std::clamp<std::chrono::milliseconds>(
      o.liveness_interval, std::chrono::milliseconds{1}, std::chrono::hours{24});
  return w;
}

Error no_pid() {
  return Error{StatusCode::failed_precondition,
               "a direct channel needs a Unix-socket connection (the peer's pid)",
               {}};
}

Result<DirectChannel> open_with(Caller& caller, const PeerIdentity& peer, std::string_view name,
                                const DirectOptions& options) {
  if (!peer.pid) return tl::unexpected(no_pid());
  auto layout = transport::shm::segment_layout(options.ring_bytes, options.ring_bytes);
  if (!layout) return tl::unexpected(layout.error());
  auto memfd = platform::create_memfd("plexus-direct", layout->total);
  if (!memfd) return tl::unexpected(memfd.error());
  auto segment = transport::shm::map_segment(memfd->get(), *layout);
  if (!segment) return tl::unexpected(segment.error());
  const std::uint64_t nonce = random_nonce();
  transport::shm::init_direct_segment(segment->base, *layout, nonce);
  auto pidfd = platform::open_pidfd(*peer.pid);
  if (!pidfd) return tl::unexpected(pidfd.error());
  auto end = std::make_shared<DirectEndpoint>(std::move(*segment), *layout, kOpenerWrites,
                                              std::move(*pidfd), wait_of(options));
  const nlohmann::json request{{"plexus_direct", kDirectVersion},
                               {"fd", memfd->get()},
                               {"ring_bytes", options.ring_bytes},
                               {"nonce", nonce}};
  CallOptions call_options;
  call_options.timeout = options.open_timeout;
  auto reply = caller.call(name, request.dump(), call_options);
  // The acceptor has its own descriptor now (or never will): ours can go.
  memfd->reset();
  if (!reply) {
    end->close();  // an acceptor that mapped it anyway sees the channel closed
    return tl::unexpected(reply.error());
  }
  // A method that is not a direct channel (an echo, say) may answer anything but this.
  const auto answer = nlohmann::json::parse(*reply, nullptr, /*allow_exceptions=*/false);
  const auto version = answer.is_object() ? answer.find("plexus_direct") : answer.end();
  const auto accepted = answer.is_object() ? answer.find("accepted") : answer.end();
  if (version == answer.end() || *version != kDirectVersion || accepted == answer.end() ||
      *accepted != true) {
    end->close();
    return make_error(StatusCode::failed_precondition,
                      "'" + std::string(name) + "' did not accept a direct channel: not one?");
  }
  return DirectChannel(std::move(end));
}

Result<std::shared_ptr<DirectEndpoint>> accept(const PeerIdentity& peer, std::string_view request,
                                               const DirectOptions& options) {
  const auto bad = [](const std::string& why) {
    return make_error(StatusCode::invalid_argument,
                      "not a direct-channel open request (docs/PROTOCOL.md §20): " + why);
  };
  const auto json = nlohmann::json::parse(request, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) return bad("not a JSON object");
  const auto version = json.find("plexus_direct");
  if (version == json.end() || !version->is_number_integer() || *version != kDirectVersion) {
    return bad("plexus_direct must be " + std::to_string(kDirectVersion));
  }
  const auto fd = json.find("fd");
  const auto ring = json.find("ring_bytes");
  const auto nonce = json.find("nonce");
  if (fd == json.end() || !fd->is_number_unsigned() || *fd > 0x7fffffff) return bad("fd");
  if (ring == json.end() || !ring->is_number_unsigned()) return bad("ring_bytes");
  if (nonce == json.end() || !nonce->is_number_unsigned()) return bad("nonce");
  if (!peer.pid) return tl::unexpected(no_pid());
  // The descriptor is looked up in the process the kernel says is at the other end of the
  // socket (SO_PEERCRED), never in one the request names.
  auto layout = transport::shm::segment_layout(*ring, *ring);
  if (!layout) return tl::unexpected(layout.error());
  // The pidfd first: if the process is still alive after the descriptor was opened, the
  // descriptor was that process's (its pid was not reused by another meanwhile).
  auto pidfd = platform::open_pidfd(*peer.pid);
  if (!pidfd) return tl::unexpected(pidfd.error());
  auto file = platform::open_process_fd(*peer.pid, fd->get<int>());
  if (!file) return tl::unexpected(file.error());
  if (platform::process_exited(pidfd->get())) {
    return make_error(StatusCode::unavailable, "the opener exited while the channel opened");
  }
  auto size = platform::file_size(file->get());
  if (!size) return tl::unexpected(size.error());
  if (*size != layout->total || !platform::is_shrink_sealed(file->get())) {
    return bad("the descriptor is not a sealed segment of " + std::to_string(layout->total) +
               " bytes");
  }
  auto segment = transport::shm::map_segment(file->get(), *layout);
  if (!segment) return tl::unexpected(segment.error());
  if (!transport::shm::check_direct_segment(segment->base, *layout, nonce->get<std::uint64_t>())) {
    return bad("the descriptor is not the segment this request names (magic, sizes or nonce)");
  }
  return std::make_shared<DirectEndpoint>(std::move(*segment), *layout, kAcceptorWrites,
                                          std::move(*pidfd), wait_of(options));
}

Result<void> no_channel() {
  return make_error(StatusCode::failed_precondition, "empty direct channel handle");
}

}  // namespace

Result<void> DirectChannel::send(std::string_view payload, std::chrono::nanoseconds timeout) {
  if (!end_) return no_channel();
  return end_->send(payload, timeout);
}

Result<std::string_view> DirectChannel::receive(std::chrono::nanoseconds timeout) {
  if (!end_) return tl::unexpected(no_channel().error());
  return end_->receive(timeout);
}

Result<void> DirectChannel::stage(std::string_view payload, std::chrono::nanoseconds timeout) {
  if (!end_) return no_channel();
  return end_->send(payload, timeout, /*publish_now=*/false);
}

void DirectChannel::flush() {
  if (end_) end_->flush();
}

Result<std::span<char>> DirectChannel::loan(std::size_t size, std::chrono::nanoseconds timeout) {
  if (!end_) return tl::unexpected(no_channel().error());
  return end_->loan(size, timeout);
}

Result<void> DirectChannel::commit(std::size_t used) {
  if (!end_) return no_channel();
  return end_->commit(used);
}

void DirectChannel::close() {
  if (end_) end_->close();
}

std::uint64_t DirectChannel::max_message_size() const {
  return end_ ? end_->max_message_size() : 0;
}

std::size_t DirectChannel::mapped_bytes() const {
  return end_ ? end_->mapped_bytes() : 0;
}

Result<DirectChannel> open_direct(Client& client, std::string_view name, DirectOptions options) {
  return open_with(client, client.peer().identity(), name, options);
}

Result<DirectChannel> open_direct(Peer& peer, std::string_view name, DirectOptions options) {
  return open_with(peer, peer.identity(), name, options);
}

void handle_direct(HandlerRegistry& registry, std::string name, DirectHandler on_open,
                   DirectOptions options) {
  registry.handle(
      std::move(name),
      [on_open = std::move(on_open), options](CallContext& ctx,
                                              std::string_view request) -> Result<std::string> {
        auto end = accept(ctx.peer_identity(), request, options);
        if (!end) return tl::unexpected(end.error());
        DirectChannel channel(*end);
        try {
          on_open(ctx, channel);
        } catch (...) {
          channel.close();
          throw;  // the session answers internal
        }
        return nlohmann::json{{"plexus_direct", kDirectVersion}, {"accepted", true}}.dump();
      });
}

}  // namespace plexus

#include "wire/shm_upgrade.hpp"

#include <bit>

#include "wire/bytes.hpp"
#include "wire/frame.hpp"

namespace plexus::wire {
namespace {

constexpr std::uint32_t kRequestBody = kShmUpgradeRequestSize - kHeaderSize;
constexpr std::uint32_t kReplyBody = kShmUpgradeReplySize - kHeaderSize;

void append_header(std::string& out, std::uint32_t body) {
  append_le<std::uint32_t>(out, body);
  out.push_back(static_cast<char>(kShmUpgradeKind));
  out.push_back(0);                  // flags
  append_le<std::uint16_t>(out, 0);  // metadata length
  append_le<std::uint64_t>(out, 0);  // id
}

Result<void> check_header(std::string_view bytes, std::size_t size, const char* what) {
  if (bytes.size() != size || load_le<std::uint32_t>(bytes.data()) != size - kHeaderSize ||
      static_cast<std::uint8_t>(bytes[4]) != kShmUpgradeKind || bytes[5] != 0 ||
      load_le<std::uint16_t>(bytes.data() + 6) != 0 ||
      load_le<std::uint64_t>(bytes.data() + 8) != 0) {
    return make_error(StatusCode::protocol_error,
                      std::string("not a shared-memory upgrade ") + what);
  }
  if (load_le<std::uint32_t>(bytes.data() + kHeaderSize) != kShmUpgradeVersion) {
    return make_error(StatusCode::protocol_error,
                      std::string("unsupported shared-memory upgrade version in the ") + what);
  }
  return {};
}

}  // namespace

bool valid_ring_bytes(std::uint64_t bytes) {
  return bytes >= kMinRingBytes && bytes <= kMaxRingBytes && std::has_single_bit(bytes);
}

bool is_shm_upgrade_request(std::string_view prefix) {
  return prefix.size() >= kShmUpgradeSniffSize &&
         load_le<std::uint32_t>(prefix.data()) == kRequestBody &&
         static_cast<std::uint8_t>(prefix[4]) == kShmUpgradeKind;
}

std::string encode_shm_upgrade_request(const ShmUpgradeRequest& r) {
  std::string out;
  append_header(out, kRequestBody);
  append_le<std::uint32_t>(out, r.version);
  append_le<std::uint32_t>(out, 0);  // reserved
  append_le<std::uint64_t>(out, r.dialer_to_acceptor_bytes);
  append_le<std::uint64_t>(out, r.acceptor_to_dialer_bytes);
  return out;
}

Result<ShmUpgradeRequest> decode_shm_upgrade_request(std::string_view bytes) {
  if (auto ok = check_header(bytes, kShmUpgradeRequestSize, "request"); !ok) {
    return tl::unexpected(ok.error());
  }
  const char* p = bytes.data() + kHeaderSize;
  ShmUpgradeRequest r;
  r.version = load_le<std::uint32_t>(p);
  if (load_le<std::uint32_t>(p + 4) != 0) {
    return make_error(StatusCode::protocol_error, "reserved field of the upgrade request is not 0");
  }
  r.dialer_to_acceptor_bytes = load_le<std::uint64_t>(p + 8);
  r.acceptor_to_dialer_bytes = load_le<std::uint64_t>(p + 16);
  for (const auto b : {r.dialer_to_acceptor_bytes, r.acceptor_to_dialer_bytes}) {
    if (b != 0 && !valid_ring_bytes(b)) {
      return make_error(StatusCode::protocol_error,
                        "requested ring size is not a power of two in [4 KiB, 256 MiB]");
    }
  }
  return r;
}

std::string encode_shm_upgrade_reply(const ShmUpgradeReply& r) {
  std::string out;
  append_header(out, kReplyBody);
  append_le<std::uint32_t>(out, r.version);
  append_le<std::uint16_t>(out, r.status);
  append_le<std::uint16_t>(out, 0);  // reserved
  append_le<std::uint64_t>(out, r.dialer_to_acceptor_bytes);
  append_le<std::uint64_t>(out, r.acceptor_to_dialer_bytes);
  append_le<std::uint64_t>(out, r.segment_bytes);
  return out;
}

Result<ShmUpgradeReply> decode_shm_upgrade_reply(std::string_view bytes) {
  if (auto ok = check_header(bytes, kShmUpgradeReplySize, "reply"); !ok) {
    return tl::unexpected(ok.error());
  }
  const char* p = bytes.data() + kHeaderSize;
  ShmUpgradeReply r;
  r.version = load_le<std::uint32_t>(p);
  r.status = load_le<std::uint16_t>(p + 4);
  r.dialer_to_acceptor_bytes = load_le<std::uint64_t>(p + 8);
  r.acceptor_to_dialer_bytes = load_le<std::uint64_t>(p + 16);
  r.segment_bytes = load_le<std::uint64_t>(p + 24);
  if (r.status == 0 && (!valid_ring_bytes(r.dialer_to_acceptor_bytes) ||
                        !valid_ring_bytes(r.acceptor_to_dialer_bytes))) {
    return make_error(StatusCode::protocol_error, "upgrade reply names an invalid ring size");
  }
  return r;
}

}  // namespace plexus::wire

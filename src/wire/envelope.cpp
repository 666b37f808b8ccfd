#include "wire/envelope.hpp"

#include "wire/bytes.hpp"

namespace plexus::wire {

Result<void> encode_envelope(const Metadata& fields, std::string_view payload, std::string& out) {
  const std::size_t md_size = encoded_size(fields);
  if (md_size > kMaxMetadataSize) {
    return make_error(StatusCode::invalid_argument, "envelope metadata of " +
                                                        std::to_string(md_size) +
                                                        " bytes does not fit its 16-bit length");
  }
  out.reserve(out.size() + 2 + md_size + payload.size());
  append_le<std::uint16_t>(out, static_cast<std::uint16_t>(md_size));
  encode_metadata(fields, out);
  out.append(payload);
  return {};
}

Result<EnvelopeView> decode_envelope(std::string_view bytes) {
  if (bytes.size() < 2) {
    return make_error(StatusCode::protocol_error, "envelope shorter than its 2-byte length");
  }
  const auto md_size = load_le<std::uint16_t>(bytes.data());
  if (bytes.size() - 2 < md_size) {
    return make_error(
        StatusCode::protocol_error,
        "envelope metadata of " + std::to_string(md_size) + " bytes runs past the payload");
  }
  auto md = decode_metadata(bytes.substr(2, md_size));
  if (!md) {
    Error e = std::move(md.error());
    e.message = "envelope: " + e.message;
    return tl::unexpected(std::move(e));
  }
  return EnvelopeView{*md, bytes.substr(2 + md_size)};
}

}  // namespace plexus::wire

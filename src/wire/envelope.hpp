// The envelope of a durable-queue message inside a call's payload (docs/PROTOCOL.md §22): a u16
// little-endian length, that many bytes of TLV metadata (the message's id, type, group, queue,
// priority, delay, retry rules, attempt), then the message's own bytes. Pure: no I/O.
#pragma once

#include <string>
#include <string_view>

#include "plexus/status.hpp"
#include "wire/metadata.hpp"

namespace plexus::wire {

struct EnvelopeView {
  Metadata fields;           // views into the decoded bytes
  std::string_view payload;  // the message's bytes
};

// Appends the envelope of `payload` with `fields` to `out`. invalid_argument when the fields do
// not fit the 16-bit length (they cannot with the name limits of §4.2).
Result<void> encode_envelope(const Metadata& fields, std::string_view payload, std::string& out);

// Decodes an envelope; protocol_error ("envelope …") when it is cut short or its metadata is
// malformed (the rules of §4.3). The views point into `bytes`.
Result<EnvelopeView> decode_envelope(std::string_view bytes);

}  // namespace plexus::wire

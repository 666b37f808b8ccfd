// dir:///path/group: the spool-directory transport (docs/PROTOCOL.md, "Spool directories").
// Its peers exchange messages as files: through plexus::SpoolSender and plexus::SpoolReceiver
// (plexus/spool.hpp) or `plexus spool`, or through a Client that dials the directory (its
// sender) and a Server that listens on it (its receiver), spool_connection.hpp.
#pragma once

#include "transport/registry.hpp"

namespace plexus::transport::spool {

Transport spool_transport();

// dir:///path/group[?options]: kind `other`, scheme "dir", the directory in `path`;
// invalid_argument for a relative path, `.` or `..` components or a bad group name.
Result<Address> parse_spool_address(std::string_view text);

}  // namespace plexus::transport::spool

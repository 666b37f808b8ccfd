// dir:///path/group: the spool-directory transport (docs/PROTOCOL.md, "Spool directories").
// Its addresses parse like any other; its peers exchange messages as files, through
// plexus::SpoolSender and plexus::SpoolReceiver (plexus/spool.hpp) or `plexus spool`, not
// through connections: listen() and dial() fail with failed_precondition saying so.
#pragma once

#include "transport/registry.hpp"

namespace plexus::transport::spool {

Transport spool_transport();

// dir:///path/group[?options]: kind `other`, scheme "dir", the directory in `path`;
// invalid_argument for a relative path, `.` or `..` components or a bad group name.
Result<Address> parse_spool_address(std::string_view text);

}  // namespace plexus::transport::spool

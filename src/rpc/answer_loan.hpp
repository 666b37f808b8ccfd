// The answer region a synchronous handler may borrow (CallContext::loan_answer): in the
// connection's outbound buffer when it lends one (shared memory), else a string of its own.
// Lives on the session's stack for one handler run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "transport/connection.hpp"

namespace plexus::rpc {

struct AnswerLoan {
  transport::Connection* connection = nullptr;
  std::uint32_t limit = 0;  // the caller's largest payload
  char* region = nullptr;   // null until loaned
  bool in_connection = false;
  std::size_t size = 0;
  std::optional<std::size_t> used;  // set by commit_answer
  std::string scratch;              // the region when the connection lends none
};

}  // namespace plexus::rpc

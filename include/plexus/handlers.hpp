// HandlerRegistry: where a Server or a Client registers the methods its peers may call.
// Threading: register from any thread, before or while serving; a session picks up changes
// at its next call. Errors: re-registering a name replaces the handler.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "plexus/call.hpp"
#include "plexus/stream.hpp"

namespace plexus {

namespace rpc {
class HandlerTable;
}

class HandlerRegistry {
 public:
  HandlerRegistry();
  virtual ~HandlerRegistry();

  void handle(std::string name, SyncHandler handler);
  void handle_async(std::string name, AsyncHandler handler);
  void handle_coro(std::string name, CoroHandler handler);
  // A stream method: peers open it with Caller::open_stream; plain calls to it fail with
  // failed_precondition.
  void handle_stream(std::string name, StreamHandler handler);
  // Removes a method; calls to it then fail with not_found.
  void remove(std::string_view name);

  const std::shared_ptr<rpc::HandlerTable>& handler_table() const { return table_; }

 private:
  std::shared_ptr<rpc::HandlerTable> table_;
};

}  // namespace plexus

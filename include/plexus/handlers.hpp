/// \file
/// HandlerRegistry: where a Server or a Client registers the methods its peers may call.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/call.hpp"
#include "plexus/export.hpp"
#include "plexus/policy.hpp"
#include "plexus/stream.hpp"

namespace plexus {

namespace rpc {
class HandlerTable;
struct HandlerEntry;
}  // namespace rpc
namespace policy {
class Chain;
}  // namespace policy

/// Where a Server or a Client registers the methods its peers may call.
/// Threading: register from any thread, before or while serving; a session picks up changes
/// at its next call. Errors: re-registering a name replaces the handler (and its policies).
class PLEXUS_EXPORT HandlerRegistry {
 public:
  /// Every registry serves the built-in `plexus.describe` (docs/PROTOCOL.md §18): each method
  /// with its JSON Schema and policies.
  HandlerRegistry();
  virtual ~HandlerRegistry();  ///< virtual: Server and Client derive from it

  /// Registers a synchronous handler for `name` (it runs on the I/O thread), without policies.
  void handle(std::string name, SyncHandler handler);
  /// Registers an asynchronous handler for `name`: it answers through its Responder.
  void handle_async(std::string name, AsyncHandler handler);
  /// Registers a coroutine handler for `name` (it runs on the I/O thread).
  void handle_coro(std::string name, CoroHandler handler);
  /// A stream method: peers open it with Caller::open_stream; plain calls to it fail with
  /// failed_precondition.
  void handle_stream(std::string name, StreamHandler handler);
  /// A stream method whose handler runs as `options` say (StreamHandlerOptions::offload).
  void handle_stream(std::string name, StreamHandler handler, StreamHandlerOptions options);
  /// The same with policies (plexus/policy.hpp), built into a chain once, here. Fails with
  /// invalid_argument (nothing registered) when options.schema is not a usable JSON Schema.
  Result<void> handle(std::string name, SyncHandler handler, HandlerOptions options);
  /// handle_async with policies; fails as handle(name, handler, options) does.
  Result<void> handle_async(std::string name, AsyncHandler handler, HandlerOptions options);
  /// handle_coro with policies; fails as handle(name, handler, options) does.
  Result<void> handle_coro(std::string name, CoroHandler handler, HandlerOptions options);
  /// Removes a method; calls to it then fail with not_found.
  void remove(std::string_view name);

  /// Decision counts of a method's policies; nullopt when it has none.
  std::optional<PolicyStats> policy_stats(std::string_view method) const;
  /// Drops cached answers of `method`: all, or those whose key starts with `key_prefix` (keys
  /// are the canonical payload text, CacheKey). Returns how many. Any thread.
  std::size_t invalidate_cache(std::string_view method, std::string_view key_prefix = {});
  /// Ties `methods` to `event` (adding to those tied before), for fire().
  /// Invalidation by event: fire(event) drops every cached answer of the methods tied to it
  /// (for example invalidate_on("users.changed", {"users.search"}) and a write handler calling
  /// fire("users.changed")). Returns how many entries were dropped. Any thread, also from a
  /// handler; a published pub/sub topic can call fire() the same way.
  void invalidate_on(std::string event, std::vector<std::string> methods);
  /// Drops every cached answer of the methods tied to `event` (invalidate_on); returns how many.
  /// Any thread, also from a handler.
  std::size_t fire(std::string_view event);
  /// Runs every CacheOptions::warm_up hook (Server::start does); returns entries stored.
  std::size_t warm_up();

  /// The table the sessions serve (an internal type: for the library's own use).
  const std::shared_ptr<rpc::HandlerTable>& handler_table() const { return table_; }

 protected:
  /// The chains of every method registered with policies, by method name (for the metrics
  /// collectors, which read their counters, breaker state and cache size). Any thread.
  std::vector<std::shared_ptr<policy::Chain>> policy_chains() const;

 private:
  struct Policies;
  template <typename Fn>
  Result<void> handle_with(std::string name, Fn handler, HandlerOptions options);
  void set_bare(std::string name, rpc::HandlerEntry entry);

  std::shared_ptr<rpc::HandlerTable> table_;
  std::shared_ptr<Policies> policies_;
};

}  // namespace plexus

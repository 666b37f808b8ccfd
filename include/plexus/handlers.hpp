// HandlerRegistry: where a Server or a Client registers the methods its peers may call.
// Threading: register from any thread, before or while serving; a session picks up changes
// at its next call. Errors: re-registering a name replaces the handler (and its policies).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plexus/call.hpp"
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

class HandlerRegistry {
 public:
  // Every registry serves the built-in `plexus.describe` (docs/PROTOCOL.md §16): each method
  // with its JSON Schema and policies.
  HandlerRegistry();
  virtual ~HandlerRegistry();

  void handle(std::string name, SyncHandler handler);
  void handle_async(std::string name, AsyncHandler handler);
  void handle_coro(std::string name, CoroHandler handler);
  // A stream method: peers open it with Caller::open_stream; plain calls to it fail with
  // failed_precondition.
  void handle_stream(std::string name, StreamHandler handler);
  // The same with policies (plexus/policy.hpp), built into a chain once, here. Fails with
  // invalid_argument (nothing registered) when options.schema is not a usable JSON Schema.
  Result<void> handle(std::string name, SyncHandler handler, HandlerOptions options);
  Result<void> handle_async(std::string name, AsyncHandler handler, HandlerOptions options);
  Result<void> handle_coro(std::string name, CoroHandler handler, HandlerOptions options);
  // Removes a method; calls to it then fail with not_found.
  void remove(std::string_view name);

  // Decision counts of a method's policies; nullopt when it has none.
  std::optional<PolicyStats> policy_stats(std::string_view method) const;
  // Drops cached answers of `method`: all, or those whose key starts with `key_prefix` (keys
  // are the canonical payload text, CacheKey). Returns how many. Any thread.
  std::size_t invalidate_cache(std::string_view method, std::string_view key_prefix = {});
  // Invalidation by event: fire(event) drops every cached answer of the methods tied to it
  // (e.g. invalidate_on("users.changed", {"users.search"}) and a write handler calling
  // fire("users.changed")). Returns how many entries were dropped. Any thread, also from a
  // handler; a published pub/sub topic can call fire() the same way.
  void invalidate_on(std::string event, std::vector<std::string> methods);
  std::size_t fire(std::string_view event);
  // Runs every CacheOptions::warm_up hook (Server::start does); returns entries stored.
  std::size_t warm_up();

  const std::shared_ptr<rpc::HandlerTable>& handler_table() const { return table_; }

 protected:
  // The chains of every method registered with policies, by method name (for the metrics
  // collectors, which read their counters, breaker state and cache size). Any thread.
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

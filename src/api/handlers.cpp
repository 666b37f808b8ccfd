#include "plexus/handlers.hpp"

#include "rpc/handler_table.hpp"

namespace plexus {

HandlerRegistry::HandlerRegistry() : table_(std::make_shared<rpc::HandlerTable>()) {}
HandlerRegistry::~HandlerRegistry() = default;

void HandlerRegistry::handle(std::string name, SyncHandler handler) {
  table_->set(std::move(name), rpc::HandlerEntry{std::move(handler), nullptr});
}
void HandlerRegistry::handle_async(std::string name, AsyncHandler handler) {
  table_->set(std::move(name), rpc::HandlerEntry{std::move(handler), nullptr});
}
void HandlerRegistry::handle_coro(std::string name, CoroHandler handler) {
  table_->set(std::move(name), rpc::HandlerEntry{std::move(handler), nullptr});
}
void HandlerRegistry::remove(std::string_view name) {
  table_->remove(name);
}

}  // namespace plexus

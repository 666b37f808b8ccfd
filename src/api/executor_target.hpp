// The concrete executor inside an any_io_executor, or null when it holds another type.
// Asio 1.22's any_executor::target<T>() const does not check the type (it is a bare
// static_cast; later Asio versions check), so asking an io_context executor for a strand
// "succeeds" and reads garbage. Every such query in plexus goes through here.
#pragma once

#include <typeinfo>

#include <asio/any_io_executor.hpp>

namespace plexus::detail {

template <typename Executor>
const Executor* executor_target(const asio::any_io_executor& ex) {
  if (!ex || ex.target_type() != typeid(Executor)) return nullptr;
  return ex.target<Executor>();
}

}  // namespace plexus::detail

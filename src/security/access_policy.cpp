// Placeholder: being written.
#include "plexus/security.hpp"

namespace plexus {
struct AccessPolicy::Impl {
  std::string origin;
};
std::string_view to_string(AccessAction) { return "call"; }
AccessPolicy::Decision AccessPolicy::check(const PeerIdentity&, AccessAction,
                                           std::string_view) const {
  return {};
}
std::size_t AccessPolicy::rule_count() const { return 0; }
const std::string& AccessPolicy::origin() const { return impl_->origin; }
}  // namespace plexus

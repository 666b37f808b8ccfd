// Placeholder: being written.
#include "plexus/security.hpp"

namespace plexus {
struct TokenVerifier::Impl {};
TokenVerifier::TokenVerifier() = default;
TokenVerifier::~TokenVerifier() = default;
Result<TokenClaims> TokenVerifier::verify(std::string_view, std::int64_t) const {
  return make_error(StatusCode::unauthenticated, "not built");
}
}  // namespace plexus

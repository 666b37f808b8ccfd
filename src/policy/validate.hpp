// Validation policy: a request payload against the handler's JSON Schema (valijson over
// nlohmann-json). Every violation is reported: invalid_argument with details
// {"errors":[{"path":"/items/0","rule":"<what failed>"}…]}; a payload that is not JSON gives the
// same shape with rule "json". Immutable after create(): thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include <nlohmann/json.hpp>

#include "plexus/status.hpp"

namespace plexus::policy {

class SchemaValidator {
 public:
  // Fails with invalid_argument when `schema` is not a schema valijson can use.
  static Result<std::shared_ptr<const SchemaValidator>> create(nlohmann::json schema);
  ~SchemaValidator();

  Result<void> validate(const nlohmann::json& document) const;
  const nlohmann::json& schema() const { return schema_json_; }

  // The error for a payload that does not parse as JSON (same shape as a schema violation).
  static Error not_json(std::string_view what);

 private:
  struct Compiled;
  SchemaValidator() = default;
  nlohmann::json schema_json_;
  std::unique_ptr<Compiled> compiled_;
};

}  // namespace plexus::policy

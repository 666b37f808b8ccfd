// valijson reports unusable schemas by exception only when asked to (otherwise it aborts).
#define VALIJSON_USE_EXCEPTIONS 1

#include "policy/validate.hpp"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validator.hpp>

namespace plexus::policy {

struct SchemaValidator::Compiled {
  valijson::Schema schema;
};

SchemaValidator::~SchemaValidator() = default;

Result<std::shared_ptr<const SchemaValidator>> SchemaValidator::create(nlohmann::json schema) {
  std::shared_ptr<SchemaValidator> v(new SchemaValidator());
  v->schema_json_ = std::move(schema);
  v->compiled_ = std::make_unique<Compiled>();
  try {
    valijson::SchemaParser parser;
    valijson::adapters::NlohmannJsonAdapter adapter(v->schema_json_);
    parser.populateSchema(adapter, v->compiled_->schema);
  } catch (const std::exception& e) {
    return make_error(StatusCode::invalid_argument,
                      std::string("unusable JSON Schema: ") + e.what());
  }
  return std::shared_ptr<const SchemaValidator>(std::move(v));
}

namespace {

// valijson's context is {"<root>", "[name]", "[0]", …}; a JSON Pointer reads better and is
// what other tools print ("" is the whole document).
std::string json_pointer(const std::vector<std::string>& context) {
  std::string out;
  for (const auto& part : context) {
    if (part == "<root>") continue;
    std::string_view p(part);
    if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
    if (p.size() >= 2 && (p.front() == '"' || p.front() == '\'') && p.back() == p.front()) {
      p = p.substr(1, p.size() - 2);
    }
    out += '/';
    for (char c : p) {
      if (c == '~') {
        out += "~0";
      } else if (c == '/') {
        out += "~1";
      } else {
        out += c;
      }
    }
  }
  return out;
}

// valijson also reports each enclosing object or array as "Failed to validate against
// schema associated with …"; those repeat the leaf errors, so only leaves are listed.
bool is_summary(const std::string& description) {
  return description.starts_with("Failed to validate against schema associated with") ||
         description.starts_with("Failed to validate item #") ||
         description.starts_with("Failed to validate against child schema");
}

}  // namespace

Result<void> SchemaValidator::validate(const nlohmann::json& document) const {
  valijson::Validator validator;
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter target(document);
  try {
    if (validator.validate(compiled_->schema, target, &results)) return {};
  } catch (const std::exception& e) {
    return make_error(StatusCode::invalid_argument,
                      std::string("request not validated: ") + e.what());
  }
  nlohmann::json errors = nlohmann::json::array();
  nlohmann::json summaries = nlohmann::json::array();
  for (const auto& e : results) {
    nlohmann::json item{{"path", json_pointer(e.context)}, {"rule", e.description}};
    (is_summary(e.description) ? summaries : errors).push_back(std::move(item));
  }
  if (errors.empty()) errors = std::move(summaries);
  std::string message = "request does not match the schema: ";
  message += errors.size() == 1 ? "1 error" : std::to_string(errors.size()) + " errors";
  message += " (first: " + errors.front()["path"].get<std::string>() + " " +
             errors.front()["rule"].get<std::string>() + ")";
  return make_error(StatusCode::invalid_argument, std::move(message),
                    nlohmann::json{{"errors", std::move(errors)}}.dump(
                        -1, ' ', false, nlohmann::json::error_handler_t::replace));
}

Error SchemaValidator::not_json(std::string_view what) {
  return Error{StatusCode::invalid_argument, "request is not JSON: " + std::string(what),
               nlohmann::json{{"errors", nlohmann::json::array({nlohmann::json{
                                             {"path", ""}, {"rule", "json"}, {"message", what}}})}}
                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)};
}

}  // namespace plexus::policy

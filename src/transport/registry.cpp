#include "transport/registry.hpp"

#include <cassert>
#include <utility>

#include <asio/post.hpp>

namespace plexus::transport {
namespace {

bool valid_scheme(std::string_view s) {
  if (s.empty() || s.front() < 'a' || s.front() > 'z') return false;
  for (const char c : s) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

Result<void> TransportRegistry::add(Transport t) {
  if (!valid_scheme(t.scheme)) {
    return make_error(StatusCode::invalid_argument,
                      "transport scheme \"" + t.scheme + "\" is not [a-z][a-z0-9+.-]*");
  }
  if (!t.listen || !t.dial) {
    return make_error(StatusCode::invalid_argument,
                      "transport \"" + t.scheme + "\" needs both a listen and a dial factory");
  }
  if (!t.parse) {
    if (!t.forms.empty()) {
      return make_error(StatusCode::invalid_argument,
                        "transport \"" + t.scheme +
                            "\" has address forms of its own: it needs "
                            "a parser for them");
    }
    const std::string scheme = t.scheme;
    t.parse = [scheme](std::string_view text) { return parse_generic_address(text, scheme); };
  }
  if (t.forms.empty()) t.forms.push_back(t.scheme + "://");
  for (const auto& form : t.forms) {
    // Forms of different schemes then never overlap: "a:…" is no prefix of "ab:…".
    if (!form.starts_with(t.scheme + ":")) {
      return make_error(StatusCode::invalid_argument,
                        "address form \"" + form + "\" of transport \"" + t.scheme +
                            "\" does not start with \"" + t.scheme + ":\"");
    }
  }
  std::lock_guard lock(mu_);
  for (const auto& existing : transports_) {
    if (existing->scheme == t.scheme) {
      return make_error(StatusCode::failed_precondition,
                        "transport scheme \"" + t.scheme + "\" is already registered");
    }
  }
  transports_.push_back(std::make_shared<const Transport>(std::move(t)));
  return {};
}

std::shared_ptr<const Transport> TransportRegistry::find(std::string_view scheme) const {
  std::lock_guard lock(mu_);
  for (const auto& t : transports_) {
    if (t->scheme == scheme) return t;
  }
  return nullptr;
}

std::string TransportRegistry::forms_text() const {
  std::vector<std::string> forms;
  {
    std::lock_guard lock(mu_);
    for (const auto& t : transports_) forms.insert(forms.end(), t->forms.begin(), t->forms.end());
  }
  if (forms.empty()) return "no transport is registered";
  std::string text = "expected ";
  for (std::size_t i = 0; i < forms.size(); ++i) {
    if (i > 0) text += i + 1 == forms.size() ? " or " : ", ";
    text += forms[i];
  }
  return text;
}

Error TransportRegistry::unknown_scheme(std::string_view text, std::string_view scheme) const {
  std::string why = "unknown scheme";
  if (!scheme.empty()) why += " \"" + std::string(scheme) + "\"";
  return bad_address(text, why + " (" + forms_text() + ")").value();
}

Result<Address> TransportRegistry::parse(std::string_view text) const {
  std::shared_ptr<const Transport> transport;
  {
    std::lock_guard lock(mu_);
    for (const auto& t : transports_) {
      for (const auto& form : t->forms) {
        if (text.starts_with(form)) transport = t;
      }
      if (transport) break;
    }
  }
  if (!transport) return tl::unexpected(unknown_scheme(text, {}));
  auto address = transport->parse(text);
  if (address) address->scheme = transport->scheme;  // whatever the parser wrote
  return address;
}

Result<std::unique_ptr<Listener>> TransportRegistry::listen(asio::io_context& io,
                                                            const Address& address,
                                                            const ListenOptions& options) const {
  const auto transport = find(address.scheme);
  if (!transport) return tl::unexpected(unknown_scheme(address.to_string(), address.scheme));
  return transport->listen(io, address, options);
}

void TransportRegistry::dial(asio::any_io_executor strand, const Address& address,
                             const ConnectionOptions& options, std::chrono::milliseconds timeout,
                             DialCallback done) const {
  const auto transport = find(address.scheme);
  if (!transport) {
    asio::post(strand,
               [done = std::move(done), e = unknown_scheme(address.to_string(), address.scheme)] {
                 done(tl::unexpected(e));
               });
    return;
  }
  transport->dial(std::move(strand), address, options, timeout, std::move(done));
}

TransportRegistry& transports() {
  // Leaked on purpose: a runtime's thread may still dial while static destructors run.
  static TransportRegistry* const registry = [] {
    auto* r = new TransportRegistry;
    [[maybe_unused]] const auto added = register_builtin_transports(*r);
    assert(added && "the built-in transports have distinct, valid schemes");
    return r;
  }();
  return *registry;
}

Result<std::unique_ptr<Listener>> listen(asio::io_context& io, const Address& address,
                                         const ListenOptions& options) {
  return transports().listen(io, address, options);
}

void dial(asio::any_io_executor strand, const Address& address, const ConnectionOptions& options,
          std::chrono::milliseconds timeout, DialCallback done) {
  transports().dial(std::move(strand), address, options, timeout, std::move(done));
}

}  // namespace plexus::transport

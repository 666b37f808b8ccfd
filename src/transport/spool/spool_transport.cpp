#include "transport/spool/spool_transport.hpp"

#include <asio/post.hpp>

#include "transport/spool/spool_connection.hpp"
#include "transport/spool/spool_layout.hpp"

namespace plexus::transport::spool {

Result<Address> parse_spool_address(std::string_view text) {
  auto generic = parse_generic_address(text, kScheme);
  if (!generic) return generic;
  auto root = spool_root(text);
  if (!root) return bad_address(text, root.error().message);
  generic->path = *root;
  if (auto options = spool_address_options(*generic); !options) {
    return tl::unexpected(options.error());
  }
  return generic;
}

Transport spool_transport() {
  Transport t;
  t.scheme = std::string(kScheme);
  t.parse = parse_spool_address;
  t.forms = {"dir://"};
  t.listen = [](asio::io_context& io, const Address& address,
                const ListenOptions& options) -> Result<std::unique_ptr<Listener>> {
    auto listener = SpoolListener::open(io, address, options);
    if (!listener) return tl::unexpected(listener.error());
    return std::unique_ptr<Listener>(std::move(*listener));
  };
  t.dial = [](asio::any_io_executor strand, const Address& address,
              const ConnectionOptions& options, std::chrono::milliseconds, DialCallback done) {
    auto connection =
        SpoolConnection::open(strand, address, options, SpoolConnection::Role::sender);
    // Never before dial() returns (transport.hpp).
    asio::post(strand, [done = std::move(done), connection = std::move(connection)]() mutable {
      if (!connection) {
        done(tl::unexpected(std::move(connection.error())));
      } else {
        done(std::shared_ptr<Connection>(std::move(*connection)));
      }
    });
  };
  return t;
}

}  // namespace plexus::transport::spool

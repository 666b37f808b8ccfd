#include "transport/spool/spool_transport.hpp"

#include <asio/post.hpp>

#include "transport/spool/spool_layout.hpp"

namespace plexus::transport::spool {
namespace {

Error not_a_connection(const Address& address) {
  return Error{StatusCode::failed_precondition,
               address.to_string() +
                   " is a spool directory: it carries messages as files, not connections; use "
                   "plexus::SpoolSender / plexus::SpoolReceiver (plexus/spool.hpp) or `plexus "
                   "spool send|recv|ack`",
               {}};
}

}  // namespace

Result<Address> parse_spool_address(std::string_view text) {
  auto generic = parse_generic_address(text, kScheme);
  if (!generic) return generic;
  auto root = spool_root(text);
  if (!root) return bad_address(text, root.error().message);
  generic->path = *root;
  return generic;
}

Transport spool_transport() {
  Transport t;
  t.scheme = std::string(kScheme);
  t.parse = parse_spool_address;
  t.forms = {"dir://"};
  t.listen = [](asio::io_context&, const Address& address,
                const ListenOptions&) -> Result<std::unique_ptr<Listener>> {
    return tl::unexpected(not_a_connection(address));
  };
  t.dial = [](asio::any_io_executor strand, const Address& address, const ConnectionOptions&,
              std::chrono::milliseconds, DialCallback done) {
    // Never before dial() returns (transport.hpp).
    asio::post(strand, [done = std::move(done), error = not_a_connection(address)]() mutable {
      done(tl::unexpected(std::move(error)));
    });
  };
  return t;
}

}  // namespace plexus::transport::spool

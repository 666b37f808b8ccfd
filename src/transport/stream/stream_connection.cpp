#include "transport/stream/stream_connection_impl.hpp"

namespace plexus::transport {

template class StreamConnection<asio::local::stream_protocol>;
template class StreamConnection<asio::ip::tcp>;

}  // namespace plexus::transport

#include "transport/tls/tls_connection.hpp"

#include "transport/stream/stream_connection_impl.hpp"

namespace plexus::transport {

template class StreamConnection<TlsOverTcp>;

}  // namespace plexus::transport

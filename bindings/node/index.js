'use strict';
// plexus for Node.js: calls, notifications, pub/sub and streams between processes, on the same
// wire as the C++ library and `plexus serve` (Unix sockets, shared memory, TCP, TLS).
const { Client, Subscription } = require('./lib/client');
const { Server, CallContext } = require('./lib/server');
const { ItemStream } = require('./lib/stream');
const { PlexusError, Status } = require('./lib/errors');
const native = require('./lib/native');

/** How much plexus logs to stderr: 'trace' … 'off' ('warn' unless PLEXUS_LOG is set). */
function setLogLevel(level) {
  native.setLogLevel(level);
}

/**
 * Connects to a plexus server. `address`: 'unix:///path', 'unix:///path?shm=1' (shared memory),
 * 'tcp://127.0.0.1:7000', 'tls://host:7443'; omitted: the default socket.
 */
function connect(address, options) {
  return Client.connect(address, options);
}

/** Starts a server listening on options.listen (an address or a list); resolves once bound. */
async function serve(options) {
  return new Server(options === undefined ? {} : options);
}

module.exports = { connect, serve, setLogLevel, Client, Server, Subscription, ItemStream, CallContext, PlexusError, Status };

'use strict';
// PlexusError: every failure plexus reports, with the protocol's stable status code.
const native = require('./native');

// The status codes of docs/PROTOCOL.md §6.8: names to the numbers that travel on the wire.
const Status = Object.freeze({
  ok: 0,
  cancelled: 1,
  unknown: 2,
  invalid_argument: 3,
  deadline_exceeded: 4,
  not_found: 5,
  already_exists: 6,
  permission_denied: 7,
  resource_exhausted: 8,
  failed_precondition: 9,
  internal: 13,
  unavailable: 14,
  unauthenticated: 16,
  message_too_large: 100,
  protocol_error: 101,
});

class PlexusError extends Error {
  /**
   * @param {string} code a status name (Status), e.g. 'not_found'
   * @param {string} message for people
   * @param {object} [details] for programs: sent as a JSON object
   */
  constructor(code, message, details) {
    super(message);
    this.name = 'PlexusError';
    this.code = Object.prototype.hasOwnProperty.call(Status, code) ? code : 'unknown';
    this.status = Status[this.code];
    if (details !== undefined) this.details = details;
  }
}

native.setErrorFactory((code, status, message, details) => new PlexusError(code, message, details));

module.exports = { PlexusError, Status };

'use strict';
// Client: one reconnecting session to a plexus server (or any plexus peer).
const { EventEmitter } = require('node:events');
const native = require('./native');
const { encode, decode, checkDecode, checkName, checkOptions } = require('./values');
const { PlexusError } = require('./errors');
const { ItemStream } = require('./stream');

class Subscription extends EventEmitter {
  constructor(client, pattern, key, { queueLimit = 1024, decode: mode } = {}) {
    super();
    this.pattern = pattern;
    this.dropped = 0;
    this._client = client;
    this._key = key;
    this._id = undefined;
    this._decode = mode;
    this._limit = queueLimit;
    this._queue = [];
    this._waiting = null;
    this._iterating = false;
    this._closed = false;
  }

  _deliver(topic, bytes) {
    const value = decode(bytes, this._decode);
    // Kept for the iterator unless only 'message' listeners read this subscription: an
    // iterator started after the first messages arrived still sees them.
    if (this._iterating || this.listenerCount('message') === 0) {
      if (this._waiting) {
        const resolve = this._waiting;
        this._waiting = null;
        resolve({ value: { topic, value }, done: false });
      } else {
        // The iterator's own bound, as the subscription's queue at the server: drop the oldest.
        if (this._queue.length >= this._limit) {
          this._queue.shift();
          this.dropped++;
        }
        this._queue.push({ topic, value });
      }
    }
    this.emit('message', value, topic);
  }

  [Symbol.asyncIterator]() {
    this._iterating = true;
    return {
      next: () => {
        if (this._queue.length > 0) return Promise.resolve({ value: this._queue.shift(), done: false });
        if (this._closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => { this._waiting = resolve; });
      },
      return: () => {
        this.unsubscribe();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  /** Ends the subscription (also at the server). Idempotent. */
  unsubscribe() {
    if (this._closed) return;
    this._closed = true;
    this._client._subscriptions.delete(this._key);
    if (!this._client._closed) this._client._native.unsubscribe(this._id);
    if (this._waiting) {
      const resolve = this._waiting;
      this._waiting = null;
      resolve({ value: undefined, done: true });
    }
  }
}

class Client extends EventEmitter {
  /** @internal use plexus.connect() */
  constructor() {
    super();
    this._native = null;
    this._state = 'connecting';
    this._closed = false;
    this._subscriptions = new Map();
    this._nextKey = 0;
  }

  static async connect(address, options) {
    if (typeof address === 'object' && address !== null && options === undefined) {
      options = address;
      address = options.address;
    }
    options = { ...checkOptions(options) };
    if (address !== undefined && address !== null) options.address = checkName(address, 'address');
    const client = new Client();
    client._native = await native.NativeClient.connect(options, (kind, a, b, c) => client._event(kind, a, b, c));
    client._state = client._native.state();
    return client;
  }

  _event(kind, a, b, c) {
    try {
      if (kind === 'message') {
        const sub = this._subscriptions.get(a);
        if (sub) sub._deliver(b, c);
      } else if (kind === 'state') {
        this._state = a;
        this.emit('state', a);
      }
    } catch (e) {
      // A listener's exception: uncaught, as with any EventEmitter, not swallowed here.
      process.nextTick(() => { throw e; });
    }
  }

  /** 'connecting' | 'connected' | 'reconnecting' | 'closed' */
  get state() { return this._closed ? 'closed' : this._state; }

  _open() {
    if (this._closed) throw new PlexusError('unavailable', 'the client is closed');
    return this._native;
  }

  /**
   * Calls `method` with `value` and resolves with its answer.
   * options: timeoutMs (a deadline the callee sees too), signal (an AbortSignal: the call fails
   * with 'cancelled' and the callee is told to stop), traceId, decode ('json' | 'buffer' | 'text').
   */
  call(method, value, options) {
    let n;
    let promise;
    let signal;
    let mode;
    try {
      const nat = this._open();
      checkName(method, 'method');
      options = checkOptions(options);
      signal = options.signal;
      mode = checkDecode(options.decode);
      if (options.timeoutMs !== undefined && (typeof options.timeoutMs !== 'number' || !(options.timeoutMs >= 0))) {
        throw new TypeError('timeoutMs must be a number >= 0');
      }
      if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
      if (signal && signal.aborted) throw new PlexusError('cancelled', 'the call was aborted before it started');
      [n, promise] = nat.call(method, encode(value, 'value'), options.timeoutMs, options.traceId);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!signal) return promise.then((bytes) => decode(bytes, mode));
    const onAbort = () => this._native && this._native.cancel(n);
    signal.addEventListener('abort', onAbort, { once: true });
    return promise.then(
      (bytes) => { signal.removeEventListener('abort', onAbort); return decode(bytes, mode); },
      (e) => { signal.removeEventListener('abort', onAbort); throw e; });
  }

  /** One-way message to `method`: no answer. Throws PlexusError (unavailable,
   * message_too_large, resource_exhausted when the send queue is full). */
  notify(method, value) {
    this._open().notify(checkName(method, 'method'), encode(value, 'value'));
  }

  /** Publishes `value` on `topic` through the server. Throws as notify(). */
  publish(topic, value) {
    this._open().publish(checkName(topic, 'topic'), encode(value, 'value'));
  }

  /**
   * Subscribes to `pattern` ('a.*.c', 'a.>'). Resolves once the server agreed. The
   * Subscription is an async iterator of { topic, value } and emits 'message' (value, topic).
   * options: queueLimit (1..1e6, 1024), policy ('drop_oldest' | 'drop_newest' | 'block' |
   * 'disconnect'), decode.
   */
  async subscribe(pattern, options) {
    const nat = this._open();
    checkName(pattern, 'pattern');
    options = checkOptions(options);
    checkDecode(options.decode);
    const key = ++this._nextKey;
    const sub = new Subscription(this, pattern, key, options);
    this._subscriptions.set(key, sub);
    try {
      sub._id = await nat.subscribe(pattern, options.queueLimit, options.policy, key);
    } catch (e) {
      this._subscriptions.delete(key);
      if (!this._closed) nat.unsubscribe(undefined);
      throw e;
    }
    return sub;
  }

  /**
   * Opens the stream method `method` with `value` as its argument. Returns at once; a stream
   * that cannot open fails its first read. options: window { items, bytes } (how far the
   * producer may run ahead of this reader), signal, decode.
   */
  openStream(method, value, options) {
    const nat = this._open();
    checkName(method, 'method');
    options = checkOptions(options);
    checkDecode(options.decode);
    const window = options.window || {};
    const stream = nat.openStream(method, encode(value, 'value'), window.items, window.bytes);
    return new ItemStream(stream, options);
  }

  /** A protocol round trip to the server, in microseconds. */
  ping(timeoutMs = 5000) { return this._open().ping(timeoutMs); }

  /** Counters of the current connection. */
  stats() { return this._open().stats(); }

  /** Lets the process exit while this client is open and idle (as net.Socket#unref); calls,
   * streams and subscriptions in flight still keep it alive. */
  unref() { if (!this._closed) this._native.unref(); return this; }
  /** Undoes unref(): an open client keeps the process alive (the default). */
  ref() { if (!this._closed) this._native.ref(); return this; }

  /** Closes the connection: calls in flight fail with 'unavailable'. Idempotent. */
  close() {
    if (this._closed) return;
    this._closed = true;
    for (const sub of this._subscriptions.values()) {
      sub._closed = true;
      if (sub._waiting) sub._waiting({ value: undefined, done: true });
    }
    this._subscriptions.clear();
    this._native.close();
    this.emit('state', 'closed');
  }
}

module.exports = { Client, Subscription };

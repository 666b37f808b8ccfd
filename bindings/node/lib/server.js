'use strict';
// Server: plexus's server, with JavaScript handlers. Calls run on the JavaScript thread; the
// I/O stays on plexus's own thread.
const { EventEmitter } = require('node:events');
const native = require('./native');
const { encode, decode, checkDecode, checkName, checkOptions } = require('./values');
const { PlexusError, Status } = require('./errors');
const { ItemStream } = require('./stream');

// What a handler sees of its call (`ctx`).
class CallContext {
  constructor(server, n, method, payload, meta) {
    this.method = method;
    this.peer = meta.peer;
    this.traceId = meta.traceId;
    this.messageId = meta.messageId;
    this.timeoutMs = meta.timeoutMs;  // what was left of the caller's deadline on arrival
    this.payload = payload;           // the request's bytes
    this._server = server;
    this._n = n;
    this._controller = undefined;
    this._cancelled = false;
  }

  /** Aborted when the caller cancels, its deadline passes or its connection is lost. */
  get signal() {
    if (!this._controller) {
      this._controller = new AbortController();
      if (this._cancelled) this._controller.abort(new PlexusError('cancelled', 'the call was cancelled'));
    }
    return this._controller.signal;
  }

  get cancelled() { return this._cancelled; }

  _cancel() {
    this._cancelled = true;
    if (this._controller) this._controller.abort(new PlexusError('cancelled', 'the call was cancelled'));
  }
}

function failureOf(e) {
  if (e instanceof PlexusError) {
    return [e.status, e.message, e.details === undefined ? undefined : JSON.stringify(e.details)];
  }
  const message = e instanceof Error ? e.message : String(e);
  return [Status.internal, `handler threw: ${message}`, undefined];
}

class Server extends EventEmitter {
  /** @internal use plexus.serve() */
  constructor(options) {
    super();
    this._handlers = new Map();
    this._calls = new Map();
    this._closed = false;
    this._native = native.NativeServer.create(options, (kind, a, b, c, d) => this._event(kind, a, b, c, d));
  }

  _event(kind, a, b, c, d) {
    try {
      if (kind === 'call') this._onCall(a, b, c, d);
      else if (kind === 'cancel') {
        const ctx = this._calls.get(a);
        this._calls.delete(a);  // its answer, if it ever comes, is no longer awaited
        if (ctx) ctx._cancel();
      }
      else if (kind === 'stream') this._onStream(a, b, c, d);
    } catch (e) {
      process.nextTick(() => { throw e; });
    }
  }

  _onCall(n, method, payload, meta) {
    const entry = this._handlers.get(method);
    if (!entry) {
      this._native.fail(n, Status.not_found, `no handler for ${method}`);
      return;
    }
    const ctx = new CallContext(this, n, method, payload, meta);
    this._calls.set(n, ctx);
    let result;
    try {
      result = entry.fn(decode(payload, entry.decode), ctx);
    } catch (e) {
      this._fail(n, e);
      return;
    }
    if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      result.then((v) => this._reply(n, v), (e) => this._fail(n, e));
    } else {
      this._reply(n, result);
    }
  }

  _reply(n, value) {
    this._calls.delete(n);
    if (this._closed && !this._native) return;
    let bytes;
    try {
      bytes = encode(value, "the handler's answer");
    } catch (e) {
      this._fail(n, new PlexusError('internal', e.message));
      return;
    }
    this._native.reply(n, bytes);
  }

  _fail(n, e) {
    this._calls.delete(n);
    if (this._closed && !this._native) return;
    const [status, message, details] = failureOf(e);
    this._native.fail(n, status, message, details);
  }

  async _onStream(method, payload, nativeStream, meta) {
    const entry = this._handlers.get(method);
    const ctx = new CallContext(this, 0, method, payload, meta);
    ctx.progress = (total, done) => nativeStream.setProgress(total, done);
    ctx.stream = new ItemStream(nativeStream, { decode: entry && entry.decode });
    let gen;
    try {
      gen = entry.fn(decode(payload, entry.decode), ctx);
      let step = await gen.next();
      while (!step.done) {
        await nativeStream.write(encode(step.value, 'a stream item'));
        step = await gen.next();
      }
      nativeStream.finish(step.value === undefined ? undefined : encode(step.value, 'the stream result'));
    } catch (e) {
      // A write that failed: the reader went away or cancelled; end the generator too.
      ctx._cancel();
      if (gen && typeof gen.return === 'function') {
        try { await gen.return(undefined); } catch { /* its own error is not the stream's */ }
      }
      const [status, message, details] = failureOf(e);
      nativeStream.finish(undefined, status, message, details);
    }
  }

  /**
   * Serves `method` with `handler(value, ctx)`, which returns the answer or a promise of it;
   * a thrown PlexusError is sent with its code and details, anything else as 'internal'.
   * options: the C++ handler policies (schema, timeoutMs, rateLimit, rateLimitPerClient,
   * concurrency, breaker, cache) and decode.
   */
  handle(method, handler, options) {
    checkName(method, 'method');
    if (typeof handler !== 'function') throw new TypeError('handler must be a function');
    options = checkOptions(options);
    checkDecode(options.decode);
    const policies = { ...options };
    delete policies.decode;
    if (policies.schema !== undefined) policies.schema = JSON.stringify(policies.schema);
    this._handlers.set(method, { fn: handler, decode: options.decode });
    this._open().handle(method, Object.keys(policies).length ? policies : undefined);
    return this;
  }

  /**
   * Serves the stream method `method` with an async generator `handler(value, ctx)`: each
   * yielded value is an item (the generator is suspended while the reader's window is full), its
   * return value the stream's result. ctx.progress(total, done) reports progress; ctx.stream
   * reads what the opener writes.
   */
  handleStream(method, handler, options) {
    checkName(method, 'method');
    if (typeof handler !== 'function') throw new TypeError('handler must be an async generator function');
    options = checkOptions(options);
    this._handlers.set(method, { fn: handler, decode: checkDecode(options.decode) });
    this._open().handleStream(method);
    return this;
  }

  /** Stops serving `method` (calls then fail with not_found). */
  remove(method) {
    this._handlers.delete(method);
    this._open().remove(checkName(method, 'method'));
  }

  /** Publishes to every matching subscription (local and remote). */
  publish(topic, value) { this._open().publish(checkName(topic, 'topic'), encode(value, 'value')); }

  /** A one-way message to every connected client; returns how many it was queued for. */
  broadcast(method, value) { return this._open().broadcast(checkName(method, 'method'), encode(value, 'value')); }

  /** The bound addresses (a tcp port 0 shows the chosen port). */
  get addresses() { return this._native.addresses(); }
  /** "http://HOST:PORT" of the metrics/health endpoint, or '' without one. */
  get httpAddress() { return this._native.httpAddress(); }
  get connectionCount() { return this._native.connectionCount(); }
  /** The metrics as a JSON document (what plexus.stats answers). */
  metrics() { return JSON.parse(this._open().metricsJson()); }
  /** The metrics in the Prometheus text format (what /metrics serves). */
  metricsText() { return this._open().metricsText(); }

  _open() {
    if (this._closed) throw new PlexusError('unavailable', 'the server is closed');
    return this._native;
  }

  /** Lets the process exit while this server listens (as net.Server#unref). */
  unref() { if (!this._closed) this._native.unref(); return this; }
  /** Undoes unref(). */
  ref() { if (!this._closed) this._native.ref(); return this; }

  /** Graceful shutdown: stop accepting, let calls in flight finish up to drainMs, close. */
  async close(drainMs = 5000) {
    if (this._closed) return;
    this._closed = true;
    await this._native.close(drainMs);
    this.emit('close');
  }
}

module.exports = { Server, CallContext };

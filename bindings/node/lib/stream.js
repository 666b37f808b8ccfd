'use strict';
// ItemStream: a stream opened with client.openStream(), read as an async iterator. Items are
// pulled from the native side in batches, and only when the iterator asks: a consumer slower
// than its producer holds the producer back through the stream's window (credit), never by
// buffering here.
const { EventEmitter } = require('node:events');
const { encode, decode } = require('./values');
const { PlexusError } = require('./errors');

class ItemStream extends EventEmitter {
  constructor(native, { decode: mode, signal } = {}) {
    super();
    this._native = native;
    this._decode = mode;
    this._batch = [];
    this._at = 0;
    this._ended = false;
    this._error = undefined;
    this._lastDone = -1;
    if (signal) {
      const onAbort = () => this.cancel('aborted');
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    }
  }

  /** The next item, or undefined at the end; rejects with the stream's PlexusError. */
  async read() {
    if (this._at < this._batch.length) return this._take();
    if (this._ended) {
      if (this._error) throw this._error;
      return undefined;
    }
    let items;
    try {
      items = await this._native.pull();
    } catch (e) {
      this._ended = true;
      this._error = e;
      throw e;
    }
    if (items === null) {
      this._ended = true;
      return undefined;
    }
    this._batch = items;
    this._at = 0;
    this._reportProgress();
    return this._take();
  }

  _take() {
    const bytes = this._batch[this._at];
    this._batch[this._at++] = undefined;
    return decode(bytes, this._decode);
  }

  _reportProgress() {
    if (this.listenerCount('progress') === 0) return;
    const p = this._native.progress();
    if (p.done === this._lastDone) return;
    this._lastDone = p.done;
    this.emit('progress', p);
  }

  async *[Symbol.asyncIterator]() {
    let finished = false;
    try {
      for (;;) {
        const item = await this.read();
        if (item === undefined && this._ended && this._at >= this._batch.length) {
          finished = true;
          return;
        }
        yield item;
      }
    } finally {
      // A consumer that breaks out early ends the stream: the producer is told to stop.
      if (!finished && !this._ended) this.cancel('the reader stopped');
    }
  }

  /** The producer's progress so far: { done, total?, rate, etaMs? }. */
  progress() { return this._native.progress(); }

  /** The handler's final answer once the stream ended (undefined while it is open). */
  result() {
    const outcome = this._native.outcome();
    if (outcome === undefined) return undefined;
    if (outcome instanceof PlexusError) throw outcome;
    return decode(outcome, this._decode);
  }

  /** Sends one item to the handler (streams that read); settles once it went out within credit. */
  write(value) { return this._native.write(encode(value, 'item')); }

  /** Ends this side's direction; the handler's reads then end. */
  end() { this._native.closeWrite(); }

  /** Aborts the stream both ways. */
  cancel(reason = 'cancelled') {
    this._native.cancel(String(reason));
  }

  /** Flow-control counters (items sent/received, peak buffered, credit waits). */
  stats() { return this._native.stats(); }
}

module.exports = { ItemStream };

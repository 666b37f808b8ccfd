'use strict';
// Bad input from JavaScript: a TypeError or a PlexusError each, never a crash.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { tempDir, plexus } = require('./helpers');
const { PlexusError } = plexus;

test('bad arguments and values', async (t) => {
  const dir = tempDir('input');
  const address = `unix://${path.join(dir, 's.sock')}`;
  const server = await plexus.serve({ listen: address, maxMessageSize: 4096 });
  t.after(async () => { await server.close(0); fs.rmSync(dir, { recursive: true, force: true }); });
  server.handle('echo', (v) => v);
  server.handle('bigint', () => 10n);
  const client = await plexus.connect(address);
  t.after(() => client.close());

  // Wrong argument types.
  await assert.rejects(client.call(42, {}), TypeError);
  await assert.rejects(client.call('', {}), TypeError);
  await assert.rejects(client.call('echo', {}, 'options'), TypeError);
  await assert.rejects(client.call('echo', {}, { timeoutMs: -1 }), TypeError);
  await assert.rejects(client.call('echo', {}, { timeoutMs: 'soon' }), TypeError);
  await assert.rejects(client.call('echo', {}, { signal: {} }), TypeError);
  await assert.rejects(client.call('echo', {}, { decode: 'xml' }), TypeError);
  assert.throws(() => client.notify(null, 1), TypeError);
  assert.throws(() => client.openStream({}, 1), TypeError);
  await assert.rejects(client.subscribe(7), TypeError);
  await assert.rejects(client.subscribe('a.b', { queueLimit: 0 }), RangeError);
  await assert.rejects(client.subscribe('a.b', { policy: 'sometimes' }), TypeError);
  assert.throws(() => server.handle('x', 'not a function'), TypeError);
  await assert.rejects(plexus.connect('unix:///x', { connectTimeoutMs: 'long' }), TypeError);
  await assert.rejects(plexus.serve({ listen: 12 }), TypeError);

  // Values with no JSON form.
  await assert.rejects(client.call('echo', 10n), (e) => e instanceof TypeError && /JSON/.test(e.message));
  const cycle = {};
  cycle.self = cycle;
  await assert.rejects(client.call('echo', cycle), (e) => e instanceof TypeError && /JSON/.test(e.message));
  await assert.rejects(client.call('echo', () => 1), TypeError);
  assert.throws(() => client.publish('a.b', Symbol('s')), TypeError);
  // A handler whose answer has no JSON form fails that one call with internal.
  await assert.rejects(client.call('bigint'), (e) => e.code === 'internal' && /JSON/.test(e.message));

  // Over the server's limit (4096 bytes): message_too_large, and the client stays usable.
  await assert.rejects(client.call('echo', Buffer.alloc(5000)), (e) => e instanceof PlexusError && e.code === 'message_too_large');
  assert.throws(() => client.notify('echo', Buffer.alloc(5000)), (e) => e.code === 'message_too_large');
  assert.deepEqual(await client.call('echo', { still: 'fine' }), { still: 'fine' });

  // A closed client.
  const closed = await plexus.connect(address);
  closed.close();
  closed.close();  // idempotent
  await assert.rejects(closed.call('echo', 1), (e) => e instanceof PlexusError && e.code === 'unavailable');
  assert.throws(() => closed.publish('a.b', 1), (e) => e.code === 'unavailable');
  await assert.rejects(closed.subscribe('a.b'), (e) => e.code === 'unavailable');
  assert.equal(closed.state, 'closed');

  // The native classes cannot be made directly.
  const native = require('../lib/native');
  assert.throws(() => new native.NativeClient(), TypeError);
  assert.throws(() => new native.NativeServer(), TypeError);
});

'use strict';
// The Node client against the C++ server (`plexus serve --demo`), over a Unix socket and over
// shared memory.
const test = require('node:test');
const assert = require('node:assert/strict');
const { startDemoServer, plexus } = require('./helpers');
const { PlexusError } = plexus;

for (const transport of ['unix', 'shm']) {
  test(`client against the C++ demo server over ${transport}`, async (t) => {
    const server = await startDemoServer(t);
    const address = transport === 'shm' ? `${server.address}?shm=1` : server.address;
    const client = await plexus.connect(address);
    t.after(() => client.close());
    assert.equal(client.state, 'connected');

    await t.test('JSON values and binary payloads round-trip', async () => {
      assert.deepEqual(await client.call('echo', { a: [1, 'two', null] }), { a: [1, 'two', null] });
      assert.equal(await client.call('echo', 'text'), 'text');
      const bytes = Buffer.from([0, 255, 1, 254]);
      assert.deepEqual(await client.call('echo', bytes), bytes);
      const big = Buffer.alloc(1 << 20, 7);
      assert.ok((await client.call('echo', big, { decode: 'buffer' })).equals(big));
      assert.equal(await client.call('echo', undefined), undefined);
    });

    await t.test('10,000 concurrent calls, answered out of order, each get their own answer', async () => {
      const n = 10000;
      // sleep answers after its own delay: later calls overtake earlier ones.
      const calls = Array.from({ length: n }, (_, i) =>
        i % 10 === 0 ? client.call('sleep', { ms: (i * 7) % 30 }).then((r) => ['sleep', i, r])
                     : client.call('echo', { i }).then((r) => ['echo', i, r]));
      const order = [];
      const tagged = calls.map((p, i) => p.then((r) => { order.push(i); return r; }));
      const results = await Promise.all(tagged);
      for (const [kind, i, r] of results) {
        if (kind === 'echo') assert.deepEqual(r, { i });
        else assert.deepEqual(r, { slept_ms: (i * 7) % 30 });
      }
      assert.notDeepEqual(order, [...order].sort((a, b) => a - b), 'answers overtook each other');
    });

    await t.test('a deadline fails the call with deadline_exceeded', async () => {
      const started = Date.now();
      await assert.rejects(client.call('sleep', { ms: 5000 }, { timeoutMs: 50 }),
        (e) => e instanceof PlexusError && e.code === 'deadline_exceeded' && e.status === 4);
      assert.ok(Date.now() - started < 4000);
    });

    await t.test('an AbortSignal cancels the call, and the server stops its handler', async () => {
      const sleepStats = async () => (await client.call('plexus.stats')).methods.find((m) => m.method === 'sleep');
      const before = await sleepStats();
      const controller = new AbortController();
      const call = client.call('sleep', { ms: 10000 }, { signal: controller.signal });
      setTimeout(() => controller.abort(), 20);
      await assert.rejects(call, (e) => e.code === 'cancelled');
      // The server's handler ended with `cancelled` (the CANCEL reached it), long before its
      // 10 s sleep would have.
      const after = await sleepStats();
      assert.equal((after.errors.cancelled || 0) - ((before.errors || {}).cancelled || 0), 1, JSON.stringify(after));
      assert.ok(after.p99_seconds < 5, JSON.stringify(after));
      // An already aborted signal never sends the call.
      await assert.rejects(client.call('echo', 1, { signal: AbortSignal.abort() }), (e) => e.code === 'cancelled');
    });

    await t.test('errors carry code, status, message and details', async () => {
      await assert.rejects(client.call('fail', { code: 'permission_denied', message: 'no way' }), (e) => {
        assert.ok(e instanceof PlexusError);
        assert.equal(e.code, 'permission_denied');
        assert.equal(e.status, 7);
        assert.equal(e.message, 'no way');
        assert.deepEqual(e.details, { requested: { code: 'permission_denied', message: 'no way' } });
        return true;
      });
      await assert.rejects(client.call('no.such.method'), (e) => e.code === 'not_found');
      await assert.rejects(client.call('fib', { n: 'x' }), (e) => e.code === 'invalid_argument' && Array.isArray(e.details.errors));
    });

    await t.test('a stream with progress, and its result', async () => {
      const stream = client.openStream('count_stream', { n: 50, delay_ms: 0 });
      const progress = [];
      stream.on('progress', (p) => progress.push(p));
      const items = [];
      for await (const item of stream) items.push(item.i);
      assert.deepEqual(items, Array.from({ length: 50 }, (_, i) => i));
      assert.deepEqual(stream.result(), { sent: 50 });
      assert.ok(progress.length > 0 && progress.at(-1).total === 50, JSON.stringify(progress));
    });

    await t.test('a stream that cannot open fails its first read', async () => {
      const stream = client.openStream('count_stream', { n: -1 });
      await assert.rejects((async () => { for await (const _ of stream) { /* none */ } })(),
        (e) => e.code === 'invalid_argument');
      await assert.rejects(client.openStream('nope', {}).read(), (e) => e.code === 'not_found');
    });

    await t.test('an AbortSignal cancels a stream', async () => {
      const controller = new AbortController();
      const stream = client.openStream('count_stream', { n: 1000000, delay_ms: 1 }, { signal: controller.signal });
      let seen = 0;
      await assert.rejects((async () => {
        for await (const _ of stream) if (++seen === 5) controller.abort();
      })(), (e) => e.code === 'cancelled');
      assert.ok(seen >= 5 && seen < 1000, String(seen));
    });

    await t.test('breaking out of a stream cancels it at the producer', async () => {
      const stream = client.openStream('count_stream', { n: 1000000, delay_ms: 0 });
      let seen = 0;
      for await (const _ of stream) if (++seen === 10) break;
      assert.equal(seen, 10);
      assert.ok(await client.call('echo', 'still fine'));
    });
  });
}

test('a stream of 1,000,000 items to a slower consumer stays within its window', async (t) => {
  const server = await startDemoServer(t);
  const client = await plexus.connect(server.address);
  t.after(() => client.close());
  const window = { items: 256, bytes: 1 << 20 };
  const stream = client.openStream('count_stream', { n: 1000000, delay_ms: 0 }, { window });
  let expected = 0;
  for await (const item of stream) {
    assert.equal(item.i, expected++);
    // The consumer is the slower side: it yields to the event loop every 1,000 items.
    if (expected % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  assert.equal(expected, 1000000);
  const stats = stream.stats();
  assert.equal(stats.itemsReceived, 1000000);
  // The session never buffered more than the window (plus the one item that crosses it).
  assert.ok(stats.peakBufferedItems <= window.items + 1, JSON.stringify(stats));
  assert.ok(stats.peakBufferedBytes <= window.bytes + 64, JSON.stringify(stats));
});

test('pub/sub with wildcards, as an async iterator and with on("message")', async (t) => {
  const server = await startDemoServer(t);
  const publisher = await plexus.connect(server.address);
  const subscriber = await plexus.connect(server.address);
  t.after(() => { publisher.close(); subscriber.close(); });

  const one = await subscriber.subscribe('orders.*.created');
  const all = await subscriber.subscribe('orders.>');
  const events = await subscriber.subscribe('orders.>');
  const viaEvents = [];
  // Its own subscription, so its messages may come in other batches than the iterators': wait
  // for all four.
  const fourEvents = new Promise((resolve) => events.on('message', (value, topic) => {
    if (viaEvents.push([topic, value]) === 4) resolve();
  }));

  publisher.publish('orders.eu.created', { id: 1 });
  publisher.publish('orders.eu.shipped', { id: 2 });
  publisher.publish('orders.us.created', { id: 3 });
  publisher.publish('invoices.eu.created', { id: 4 });
  publisher.publish('orders.end', { id: 5 });

  const got = [];
  for await (const { topic, value } of one) {
    got.push([topic, value.id]);
    if (got.length === 2) break;  // return() unsubscribes
  }
  assert.deepEqual(got, [['orders.eu.created', 1], ['orders.us.created', 3]]);
  // The '>' subscription sees the four orders.* messages, in order.
  const seen = [];
  for await (const { topic } of all) {
    seen.push(topic);
    if (seen.length === 4) break;
  }
  assert.deepEqual(seen, ['orders.eu.created', 'orders.eu.shipped', 'orders.us.created', 'orders.end']);
  await fourEvents;
  assert.deepEqual(viaEvents.map(([topic]) => topic), seen);
  events.unsubscribe();
  await assert.rejects(subscriber.subscribe('bad..pattern'), (e) => e.code === 'invalid_argument');
});

test('connection state events, and calls after the server is gone', async (t) => {
  const server = await startDemoServer(t);
  const client = await plexus.connect(server.address, { reconnect: false });
  const states = [];
  const closed = new Promise((resolve) => client.on('state', (s) => { states.push(s); if (s === 'closed') resolve(); }));
  const pending = assert.rejects(client.call('sleep', { ms: 10000 }), (e) => e.code === 'unavailable');
  const gone = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGKILL');  // mid-call, with no goodbye
  await gone;
  await pending;
  await closed;
  assert.ok(states.includes('closed'), states.join());
  await assert.rejects(client.call('echo', 1), (e) => e.code === 'unavailable');
  client.close();
  assert.throws(() => client.notify('echo', 1), (e) => e.code === 'unavailable');
});

test('connect fails clearly', async () => {
  await assert.rejects(plexus.connect('unix:///nonexistent/dir/x.sock'), (e) => e instanceof PlexusError && e.code === 'unavailable');
  await assert.rejects(plexus.connect('bogus://x'), (e) => e.code === 'invalid_argument');
  await assert.rejects(plexus.connect(42), TypeError);
});

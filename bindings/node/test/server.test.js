'use strict';
// Node servers: called by the C++ CLI and by Node clients; handlers, stream generators, policies,
// errors both ways, closing under load.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');
const { tempDir, cli, plexus } = require('./helpers');
const { PlexusError } = plexus;

async function nodeServer(t, options = {}) {
  const dir = tempDir('node-srv');
  const address = `unix://${path.join(dir, 's.sock')}`;
  const server = await plexus.serve({ listen: address, ...options });
  t.after(async () => { await server.close(0); fs.rmSync(dir, { recursive: true, force: true }); });
  return { server, address };
}

test('a Node server answers the C++ CLI', async (t) => {
  const { server, address } = await nodeServer(t);
  server.handle('add', ({ a, b }) => ({ sum: a + b }));
  server.handle('who', (_value, ctx) => ({ method: ctx.method, name: ctx.peer.name, pid: ctx.peer.pid }));
  server.handle('deny', () => { throw new PlexusError('permission_denied', 'not for you', { need: 'admin' }); });
  server.handle('crash', async () => { throw new Error('boom'); });

  const added = await cli(['call', address, 'add', '{"a":2,"b":40}']);
  assert.equal(added.code, 0, added.stderr);
  assert.deepEqual(JSON.parse(added.stdout), { sum: 42 });

  const who = await cli(['call', address, 'who']);
  assert.equal(who.code, 0, who.stderr);
  const w = JSON.parse(who.stdout);
  assert.equal(w.method, 'who');
  assert.ok(w.pid > 0 && w.pid !== process.pid);

  const denied = await cli(['call', address, 'deny', '{}']);
  assert.equal(denied.code, 7);  // the CLI exits with the status number
  assert.match(denied.stdout + denied.stderr, /permission_denied/);
  assert.match(denied.stdout + denied.stderr, /not for you/);
  assert.match(denied.stdout + denied.stderr, /"need":"admin"/);

  const crashed = await cli(['call', address, 'crash', '{}']);
  assert.equal(crashed.code, 13);
  assert.match(crashed.stdout + crashed.stderr, /handler threw: boom/);

  const missing = await cli(['call', address, 'nope', '{}']);
  assert.equal(missing.code, 5);
});

test('a Node stream handler (async generator) streams to the CLI and to a Node client', async (t) => {
  const { server, address } = await nodeServer(t);
  server.handleStream('numbers', async function* ({ n }, ctx) {
    ctx.progress(n);
    for (let i = 0; i < n; i++) yield { i };
    return { sent: n };
  });
  const viaCli = await cli(['stream', address, 'numbers', '{"n":5}', '--progress', 'lines']);
  assert.equal(viaCli.code, 0, viaCli.stderr);
  const lines = viaCli.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 5).map((l) => JSON.parse(l)), [0, 1, 2, 3, 4].map((i) => ({ i })));
  assert.match(lines.at(-1), /"sent":5/);

  const client = await plexus.connect(address);
  t.after(() => client.close());
  const stream = client.openStream('numbers', { n: 10000 });
  let count = 0;
  let lastProgress;
  stream.on('progress', (p) => { lastProgress = p; });
  for await (const item of stream) assert.equal(item.i, count++);
  assert.equal(count, 10000);
  assert.deepEqual(stream.result(), { sent: 10000 });
  assert.equal(lastProgress.total, 10000);
});

test('a reader that stops early ends the Node generator', async (t) => {
  const { server, address } = await nodeServer(t);
  let finallyRan;
  const ended = new Promise((resolve) => { finallyRan = resolve; });
  server.handleStream('forever', async function* () {
    try {
      for (let i = 0; ; i++) yield i;
    } finally {
      finallyRan();
    }
  });
  const client = await plexus.connect(address);
  t.after(() => client.close());
  let seen = 0;
  for await (const _ of client.openStream('forever')) if (++seen === 100) break;
  await ended;  // the generator's finally ran: it was returned, not left suspended
});

test('AbortSignal and deadlines reach a Node handler as ctx.signal', async (t) => {
  const { server, address } = await nodeServer(t);
  let aborted;
  const handlerSawAbort = new Promise((resolve) => { aborted = resolve; });
  server.handle('wait', (_v, ctx) => new Promise((resolve, reject) => {
    ctx.signal.addEventListener('abort', () => { aborted(ctx.signal.reason.code); reject(ctx.signal.reason); });
  }));
  server.handle('deadline', (_v, ctx) => ({ timeoutMs: ctx.timeoutMs }));
  const client = await plexus.connect(address);
  t.after(() => client.close());

  const controller = new AbortController();
  const call = client.call('wait', {}, { signal: controller.signal });
  setTimeout(() => controller.abort(), 10);
  await assert.rejects(call, (e) => e.code === 'cancelled');
  assert.equal(await handlerSawAbort, 'cancelled');

  const { timeoutMs } = await client.call('deadline', {}, { timeoutMs: 5000 });
  assert.ok(timeoutMs > 4000 && timeoutMs <= 5000, String(timeoutMs));
  await assert.rejects(client.call('wait', {}, { timeoutMs: 30 }), (e) => e.code === 'deadline_exceeded');
});

test('handler policies: schema, rate limit, concurrency', async (t) => {
  const { server, address } = await nodeServer(t);
  server.handle('typed', ({ n }) => n * 2, {
    schema: { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'], additionalProperties: false },
  });
  server.handle('limited', () => 'ok', { rateLimit: { perSecond: 0, burst: 2 } });
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  server.handle('single', () => gate, { concurrency: { maxInFlight: 1, maxQueue: 0 } });
  const client = await plexus.connect(address);
  t.after(() => client.close());
  assert.equal(await client.call('typed', { n: 21 }), 42);
  await assert.rejects(client.call('typed', { n: 'x' }), (e) => {
    assert.equal(e.code, 'invalid_argument');
    assert.ok(Array.isArray(e.details.errors) && e.details.errors.length > 0, JSON.stringify(e.details));
    return true;
  });
  assert.equal(await client.call('limited'), 'ok');
  assert.equal(await client.call('limited'), 'ok');
  await assert.rejects(client.call('limited'), (e) => e.code === 'resource_exhausted' && e.details.limit === 'handler');
  const first = client.call('single', 1);
  await assert.rejects(client.call('single', 2), (e) => e.code === 'resource_exhausted');
  release('done');
  assert.equal(await first, 'done');
  assert.throws(() => server.handle('bad', () => 1, { schema: { type: 12 } }), PlexusError);
  assert.match(server.metricsText(), /plexus_rpc_server_errors_total\{method="typed",code="invalid_argument"\} 1/);
});

test('handler policies: cache, timeout, circuit breaker', async (t) => {
  const { server, address } = await nodeServer(t);
  let runs = 0;
  server.handle('cached', ({ k }) => { runs++; return { k, runs }; }, { cache: { ttlMs: 60000 } });
  server.handle('slow', () => new Promise(() => {}), { timeoutMs: 30 });  // never answers itself
  server.handle('flaky', () => { throw new PlexusError('unavailable', 'backend down'); },
    { breaker: { failuresToOpen: 2, openForMs: 60000 } });
  const client = await plexus.connect(address);
  t.after(() => client.close());

  assert.deepEqual(await client.call('cached', { k: 1 }), { k: 1, runs: 1 });
  assert.deepEqual(await client.call('cached', { k: 1 }), { k: 1, runs: 1 });  // from the cache
  assert.deepEqual(await client.call('cached', { k: 2 }), { k: 2, runs: 2 });
  assert.equal(runs, 2);

  await assert.rejects(client.call('slow'), (e) => e.code === 'deadline_exceeded');

  await assert.rejects(client.call('flaky'), (e) => e.code === 'unavailable' && e.message === 'backend down');
  await assert.rejects(client.call('flaky'), (e) => e.code === 'unavailable' && e.message === 'backend down');
  // Open now: refused without running the handler.
  await assert.rejects(client.call('flaky'), (e) => e.code === 'unavailable' && e.details.breaker === 'open');
});

test('pub/sub and broadcast from a Node server', async (t) => {
  const { server, address } = await nodeServer(t);
  const client = await plexus.connect(address);
  t.after(() => client.close());
  const sub = await client.subscribe('news.>');
  server.publish('news.local', { headline: 'hi' });
  const it = sub[Symbol.asyncIterator]();
  const { value } = await it.next();
  assert.deepEqual(value, { topic: 'news.local', value: { headline: 'hi' } });
  sub.unsubscribe();
  assert.equal(server.broadcast('hello', { x: 1 }), 1);
});

test('closing under load: every call settles', async (t) => {
  const { server, address } = await nodeServer(t);
  // 'held' answers only once released: the client closes with all 2,000 of them in the handler.
  let arrived = 0;
  let allArrived;
  const all = new Promise((resolve) => { allArrived = resolve; });
  let release;
  const gate = new Promise((resolve) => { release = resolve; });
  server.handle('held', (v) => { if (++arrived === 2000) allArrived(); return gate.then(() => v); });
  server.handle('slow', (v) => new Promise((resolve) => setTimeout(() => resolve(v), 5)));
  const client = await plexus.connect(address);
  const calls = Array.from({ length: 2000 }, (_, i) => client.call('held', i).then(() => 'ok', (e) => e.code));
  await all;
  client.close();
  const outcomes = await Promise.all(calls);
  assert.equal(outcomes.length, 2000);
  assert.deepEqual([...new Set(outcomes)], ['unavailable']);
  release();

  // And the server closing with calls in its handlers: they finish within the drain.
  const other = await plexus.connect(address);
  const inFlight = Array.from({ length: 200 }, (_, i) => other.call('slow', i).then((v) => v === i ? 'ok' : 'wrong', (e) => e.code));
  await new Promise((resolve) => setTimeout(resolve, 5));
  await server.close(2000);
  const settled = await Promise.all(inFlight);
  assert.equal(settled.length, 200);
  assert.ok(settled.every((o) => o === 'ok' || o === 'unavailable'), [...new Set(settled)].join());
  other.close();
  assert.throws(() => server.handle('late', () => 1), (e) => e.code === 'unavailable');
});

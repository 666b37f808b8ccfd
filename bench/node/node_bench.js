#!/usr/bin/env node
'use strict';
// plexus's Node.js benchmark: call round trips (one call at a time, p50/p99) and pipelined
// calls/s (a window of calls in flight) from Node.js, in one run:
//
//   node-plexus-unix, node-plexus-shm   the binding's client → C++ `plexus serve --demo` (echo)
//   cpp-plexus-unix, cpp-plexus-shm     the C++ client (plexus_bench_call) → the same server
//   node-plexus-unix-adaptive, -shm-…   the same with PLEXUS_NODE_IDLE_WAIT=adaptive (the binding's
//                                       I/O thread polls a while before it sleeps)
//   node-plexus-node-unix, -shm         the binding's client → a Node.js plexus server
//   zeromq                              zeromq.js 6: REQ/REP round trips, DEALER/ROUTER pipelined
//   node-ipc                            node-ipc over a Unix socket (its JSON messages)
//   grpc-js-unix                        @grpc/grpc-js unary calls over a Unix socket
//   net-ndjson                          Node's own `net`, newline-delimited JSON: the floor
//
// Every server is a child process of this one, started once and kept for the run; every
// measurement is a client child process of its own (a fresh process per case and repetition,
// the repetitions taking turns over the cases so the machine's noise falls on all of them).
// Payloads are bytes where the library carries bytes (plexus, zeromq, gRPC) and a string of
// that length where it carries JSON (node-ipc, net-ndjson); every answer's length is checked.
//
// usage: node node_bench.js [--json FILE] [--quick] [--reps N] [--payloads 64,65536]
//                           [--window W] [--filter SUBSTR[,SUBSTR]] [--list]
// The plexus CLI, the C++ client and the addon come from the tree's build (build/), or from
// PLEXUS_CLI, PLEXUS_BENCH_CALL and PLEXUS_NODE_ADDON.
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const BUILD = path.join(ROOT, 'build');
if (process.env.PLEXUS_NODE_ADDON) process.env.PLEXUS_NODE_ADDON = path.resolve(process.env.PLEXUS_NODE_ADDON);
const CLI = path.resolve(process.env.PLEXUS_CLI || path.join(BUILD, 'tools', 'plexus', 'plexus'));
const CPP_CLIENT = path.resolve(process.env.PLEXUS_BENCH_CALL || path.join(BUILD, 'bench', 'plexus_bench_call'));
const PLEXUS = path.join(ROOT, 'bindings', 'node');

// ---- measurement (client side) ------------------------------------------------------------

function nowUs() { return Number(process.hrtime.bigint()) / 1000; }

// Each timed phase stops early past this many seconds (--max-seconds), so that a slow peer
// keeps the run bounded; the figures then come from the calls made.
let phaseSeconds = Infinity;

// Sequential round trips: `call()` resolves with the answer's length.
async function roundTrips(call, payload, warmup, count) {
  const samples = new Float64Array(count);
  let timed = 0;
  let start = 0;
  for (let i = 0; i < warmup + count; i++) {
    if (i === warmup) start = nowUs();
    const t0 = nowUs();
    const n = await call();
    const t1 = nowUs();
    if (n !== payload) throw new Error(`answer of ${n} bytes, expected ${payload}`);
    if (i >= warmup) {
      samples[timed++] = t1 - t0;
      if (timed >= 100 && (t1 - start) / 1e6 > phaseSeconds) break;
    }
  }
  return samples.subarray(0, timed);
}

// `count` calls with at most `window` in flight, each answer starting the next call (for
// libraries whose calls are promises). Resolves with { calls, seconds }.
function windowed(call, payload, count, window) {
  return new Promise((resolve, reject) => {
    let sent = 0;
    let received = 0;
    let failed = false;
    let stopped = false;  // past phaseSeconds: no new calls
    const t0 = nowUs();
    const issue = () => {
      sent++;
      call().then((n) => {
        if (failed) return;
        if (n !== payload) { failed = true; reject(new Error(`answer of ${n} bytes, expected ${payload}`)); return; }
        received++;
        const t = nowUs();
        if (!stopped && (t - t0) / 1e6 > phaseSeconds) stopped = true;
        if (received === sent && (sent === count || stopped)) resolve({ calls: received, seconds: (t - t0) / 1e6 });
        else if (sent < count && !stopped) issue();
      }, (e) => { if (!failed) { failed = true; reject(e); } });
    };
    for (let i = 0; i < Math.min(window, count); i++) issue();
  });
}

function summary(samples, pipelinedCalls, seconds, payload, mode) {
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const at = (p) => sorted[Math.floor((p / 100) * (sorted.length - 1))];
  const mean = sorted.reduce((s, v) => s + v, 0) / sorted.length;
  return {
    payload_bytes: payload, rt_count: sorted.length,
    rt_us: { p50: at(50), p99: at(99), min: sorted[0], mean },
    pipelined_calls: pipelinedCalls, pipeline_mode: mode,
    calls_per_s: seconds > 0 ? pipelinedCalls / seconds : 0,
  };
}

// One client per case: connect(address, payload) resolves
// { call() -> Promise<length>, pipelined(count, window) -> Promise<seconds>, close() }.
const CLIENTS = {
  async plexus(address, payload) {
    const plexus = require(PLEXUS);
    const client = await plexus.connect(address, { waitForServerMs: 10000, reconnect: false });
    const body = Buffer.alloc(payload, 'x');
    const opts = { decode: 'buffer' };
    const call = () => client.call('echo', body, opts).then((b) => b.length);
    return { call, pipelined: (count, window) => windowed(call, payload, count, window), close: () => client.close() };
  },

  async zeromq(address, payload) {
    const zmq = require('zeromq');
    const [repAddress, routerAddress] = address.split(' ');
    const req = new zmq.Request();
    req.connect(repAddress);
    const dealer = new zmq.Dealer();
    dealer.connect(routerAddress);
    const body = Buffer.alloc(payload, 'x');
    const call = async () => {
      await req.send(body);
      const [answer] = await req.receive();
      return answer.length;
    };
    // A DEALER has one send and one receive outstanding at a time: a sender loop that waits
    // while the window is full and a receiver loop that reopens it.
    const pipelined = async (count, window) => {
      let sent = 0;
      let received = 0;
      let wake = null;
      let stopped = false;  // past phaseSeconds: no new calls
      const t0 = nowUs();
      const sender = async () => {
        while (sent < count && !stopped) {
          if (sent - received >= window) { await new Promise((r) => { wake = r; }); continue; }
          await dealer.send(body);
          sent++;
        }
      };
      const receiver = async () => {
        while (received < count && !(stopped && received === sent)) {
          const [answer] = await dealer.receive();
          if (answer.length !== payload) throw new Error(`answer of ${answer.length} bytes`);
          received++;
          if ((nowUs() - t0) / 1e6 > phaseSeconds) stopped = true;
          if (wake) { const w = wake; wake = null; w(); }
        }
      };
      await Promise.all([sender(), receiver()]);
      return { calls: received, seconds: (nowUs() - t0) / 1e6 };
    };
    return { call, pipelined, close: () => { req.close(); dealer.close(); } };
  },

  async 'node-ipc'(address, payload) {
    const ipc = require('node-ipc');
    ipc.config.silent = true;
    ipc.config.maxRetries = 0;
    ipc.config.id = 'bench-client';
    await new Promise((resolve, reject) => {
      ipc.connectTo('bench', address, () => {
        ipc.of.bench.on('connect', resolve);
        ipc.of.bench.on('error', reject);
      });
    });
    const peer = ipc.of.bench;
    const body = 'x'.repeat(payload);
    // Answers come back in order on the one socket: a queue of the callers waiting for them.
    const waiting = [];
    peer.on('echo', (data) => waiting.shift()(data.length));
    const call = () => new Promise((resolve) => { waiting.push(resolve); peer.emit('echo', body); });
    return {
      call,
      pipelined: (count, window) => windowed(call, payload, count, window),
      close: () => ipc.disconnect('bench'),
    };
  },

  async 'grpc-js'(address, payload) {
    const grpc = require('@grpc/grpc-js');
    const Echo = grpc.makeGenericClientConstructor(grpcService(), 'Echo');
    const client = new Echo(address, grpc.credentials.createInsecure());
    await new Promise((resolve, reject) => client.waitForReady(Date.now() + 10000, (e) => (e ? reject(e) : resolve())));
    const body = Buffer.alloc(payload, 'x');
    const call = () => new Promise((resolve, reject) => {
      client.echo(body, (e, answer) => (e ? reject(e) : resolve(answer.length)));
    });
    return { call, pipelined: (count, window) => windowed(call, payload, count, window), close: () => client.close() };
  },

  async 'net-ndjson'(address, payload) {
    const net = require('node:net');
    const socket = net.createConnection(address);
    await new Promise((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    socket.setNoDelay(true);
    const data = 'x'.repeat(payload);
    const waiting = new Map();
    let next = 0;
    lines(socket, (line) => {
      const msg = JSON.parse(line);
      const resolve = waiting.get(msg.id);
      waiting.delete(msg.id);
      resolve(msg.data.length);
    });
    const call = () => new Promise((resolve) => {
      const id = ++next;
      waiting.set(id, resolve);
      socket.write(JSON.stringify({ id, method: 'echo', data }) + '\n');
    });
    return { call, pipelined: (count, window) => windowed(call, payload, count, window), close: () => socket.destroy() };
  },
};

async function runClient(kind, args) {
  phaseSeconds = args.maxSeconds ?? Infinity;
  const client = await CLIENTS[kind](args.address, args.payload);
  const samples = await roundTrips(client.call, args.payload, args.warmup, args.count);
  const { calls, seconds } = args.pipelined > 0 ? await client.pipelined(args.pipelined, args.window) : { calls: 0, seconds: 0 };
  client.close();
  const mode = kind === 'zeromq' ? 'windowed (DEALER/ROUTER)' : 'windowed';
  process.stdout.write(JSON.stringify(summary(samples, calls, seconds, args.payload, mode)) + '\n');
}

// ---- servers (child processes) ------------------------------------------------------------

// Calls `onLine` with each newline-terminated line that arrives on `socket`.
function lines(socket, onLine) {
  let rest = '';  // the start of a line whose end has not arrived
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    let start = 0;
    let nl;
    while ((nl = chunk.indexOf('\n', start)) !== -1) {
      onLine(rest + chunk.slice(start, nl));
      rest = '';
      start = nl + 1;
    }
    rest += chunk.slice(start);
  });
}

// A unary `Echo` whose messages are the bytes themselves: no protobuf code generated.
function grpcService() {
  const same = (b) => b;
  return {
    echo: {
      path: '/bench.Echo/Echo', requestStream: false, responseStream: false,
      requestSerialize: same, requestDeserialize: same, responseSerialize: same, responseDeserialize: same,
    },
  };
}

const SERVERS = {
  async 'plexus-node'(address) {
    const plexus = require(PLEXUS);
    const server = await plexus.serve({ listen: address });
    server.handle('echo', (value) => value, { decode: 'buffer' });
    return () => server.close(0);
  },

  async zeromq(address) {
    const zmq = require('zeromq');
    const [repAddress, routerAddress] = address.split(' ');
    const rep = new zmq.Reply();
    await rep.bind(repAddress);
    const router = new zmq.Router();
    await router.bind(routerAddress);
    (async () => { for await (const [msg] of rep) await rep.send(msg); })().catch(() => {});
    (async () => { for await (const [id, msg] of router) await router.send([id, msg]); })().catch(() => {});
    return () => { rep.close(); router.close(); };
  },

  async 'node-ipc'(address) {
    const ipc = require('node-ipc');
    ipc.config.silent = true;
    ipc.config.id = 'bench';
    await new Promise((resolve) => {
      ipc.serve(address, () => {
        ipc.server.on('echo', (data, socket) => ipc.server.emit(socket, 'echo', data));
        resolve();
      });
      ipc.server.start();
    });
    return () => ipc.server.stop();
  },

  async 'grpc-js'(address) {
    const grpc = require('@grpc/grpc-js');
    const server = new grpc.Server();
    server.addService(grpcService(), { echo: (call, done) => done(null, call.request) });
    await new Promise((resolve, reject) => {
      server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve()));
    });
    return () => server.forceShutdown();
  },

  async 'net-ndjson'(address) {
    const net = require('node:net');
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      lines(socket, (line) => {
        const msg = JSON.parse(line);
        socket.write(JSON.stringify({ id: msg.id, data: msg.data }) + '\n');
      });
      socket.on('error', () => {});
    });
    await new Promise((resolve, reject) => { server.once('error', reject); server.listen(address, resolve); });
    return () => server.close();
  },
};

// A server child: listens, says "ready" on stdout, and goes when its parent does (stdin ends).
async function runServer(kind, address) {
  const stop = await SERVERS[kind](address);
  process.stdout.write('ready\n');
  process.stdin.on('end', () => { Promise.resolve(stop()).finally(() => process.exit(0)); });
  process.stdin.resume();
}

// ---- the run (parent) ---------------------------------------------------------------------

function parseArgs(argv) {
  const args = {
    json: null, quick: false, reps: 3, payloads: [64, 65536], window: 128, filter: [], list: false,
    address: null, payload: 64, warmup: 500, count: 5000, pipelined: 20000, serve: null, client: null,
    maxSeconds: null,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--json') args.json = value();
    else if (a === '--quick') args.quick = true;
    else if (a === '--list') args.list = true;
    else if (a === '--reps') args.reps = Number(value());
    else if (a === '--payloads') { args.payloads = value().split(',').map(Number); args.payloadsGiven = true; }
    else if (a === '--window') args.window = Number(value());
    else if (a === '--max-seconds') args.maxSeconds = Number(value());
    else if (a === '--filter') args.filter = value().split(',').filter(Boolean);
    // Internal: a server or client child.
    else if (a === '--serve') args.serve = value();
    else if (a === '--client') args.client = value();
    else if (a === '--address') args.address = value();
    else if (a === '--payload') { args.payload = Number(value()); args.payloadGiven = true; }
    else if (a === '--warmup') args.warmup = Number(value());
    else if (a === '--count') args.count = Number(value());
    else if (a === '--pipelined') args.pipelined = Number(value());
    else if (a === '--help' || a === '-h') { usage(process.stdout); process.exit(0); }
    else throw new Error(`unknown option ${a}`);
  }
  if (!(args.reps >= 1 && args.reps <= 100)) throw new Error('--reps must be 1..100');
  if (!(args.window >= 1)) throw new Error('--window must be >= 1');
  if (args.maxSeconds !== null && !(args.maxSeconds > 0)) throw new Error('--max-seconds must be > 0');
  if (args.payloads.some((p) => !(p >= 1 && p <= 1 << 24))) throw new Error('--payloads: sizes in bytes');
  return args;
}

function usage(out) {
  out.write('usage: node node_bench.js [--json FILE] [--quick] [--reps N] [--payloads 64,65536]\n' +
            '                          [--window W] [--filter SUBSTR[,SUBSTR]] [--list]\n' +
            '  --json FILE      JSON results (the table goes to stdout)\n' +
            '  --quick          few calls, one repetition: the table\'s shape, not figures\n' +
            '  --reps N         repetitions of each case, taking turns (default 3)\n' +
            '  --payloads LIST  payload sizes in bytes (default 64,65536); --payload N: one size\n' +
            '  --window W       calls in flight when pipelined (default 128)\n' +
            '  --max-seconds S  a timed phase (round trips, pipelined) of a case stops after S s\n' +
            '                   (default 1.5; --quick 0.3): slow peers make fewer calls\n' +
            '  --filter LIST    only cases whose name contains one of these\n' +
            '  --list           the cases, and exit\n');
}

// The rows: who calls whom. `server` names a child started once for the run.
const CASES = [
  { name: 'cpp-plexus-unix', client: 'c++ plexus', server: 'cpp', transport: 'unix', lib: 'plexus' },
  { name: 'cpp-plexus-shm', client: 'c++ plexus', server: 'cpp', transport: 'shm', lib: 'plexus' },
  { name: 'node-plexus-unix', client: 'node plexus', server: 'cpp', transport: 'unix', lib: 'plexus' },
  { name: 'node-plexus-shm', client: 'node plexus', server: 'cpp', transport: 'shm', lib: 'plexus' },
  // The binding with its I/O thread polling before it sleeps (PLEXUS_NODE_IDLE_WAIT=adaptive).
  { name: 'node-plexus-unix-adaptive', client: 'node plexus', server: 'cpp', transport: 'unix', lib: 'plexus', env: { PLEXUS_NODE_IDLE_WAIT: 'adaptive' } },
  { name: 'node-plexus-shm-adaptive', client: 'node plexus', server: 'cpp', transport: 'shm', lib: 'plexus', env: { PLEXUS_NODE_IDLE_WAIT: 'adaptive' } },
  { name: 'node-plexus-node-unix', client: 'node plexus', server: 'plexus-node', transport: 'unix', lib: 'plexus' },
  { name: 'node-plexus-node-shm', client: 'node plexus', server: 'plexus-node', transport: 'shm', lib: 'plexus' },
  { name: 'zeromq', client: 'zeromq', server: 'zeromq', transport: 'ipc', lib: 'zeromq' },
  { name: 'node-ipc', client: 'node-ipc', server: 'node-ipc', transport: 'unix', lib: 'node-ipc' },
  { name: 'grpc-js-unix', client: 'grpc-js', server: 'grpc-js', transport: 'unix', lib: '@grpc/grpc-js' },
  { name: 'net-ndjson', client: 'net-ndjson', server: 'net-ndjson', transport: 'unix', lib: 'node:net' },
];
// The npm packages a Node.js developer would otherwise pick: the targets are against these.
const PEERS = ['zeromq', 'node-ipc', 'grpc-js-unix'];
// Node's own `net` with newline-delimited JSON: the floor, reported beside the targets.
const FLOOR = 'net-ndjson';

// Calls per run: 64 B ones are cheap, 64 KiB ones are not (and the slow peers set the pace).
function counts(payload, quick) {
  if (quick) return payload > 4096 ? { warmup: 20, count: 200, pipelined: 500 } : { warmup: 50, count: 500, pipelined: 2000 };
  return payload > 4096 ? { warmup: 100, count: 1000, pipelined: 3000 } : { warmup: 500, count: 5000, pipelined: 20000 };
}

function serverAddress(kind, dir) {
  const sock = (name) => path.join(dir, name);
  switch (kind) {
    case 'cpp': return `unix://${sock('cpp.sock')}`;
    case 'plexus-node': return `unix://${sock('node.sock')}?shm=1`;
    case 'zeromq': return `ipc://${sock('zmq-rep.sock')} ipc://${sock('zmq-router.sock')}`;
    case 'grpc-js': return `unix://${sock('grpc.sock')}`;
    default: return sock(`${kind}.sock`);
  }
}

function clientAddress(c, servers) {
  const base = servers.get(c.server).address;
  if (c.lib !== 'plexus') return base;
  const plain = base.replace(/\?.*$/, '');
  return c.transport === 'shm' ? `${plain}?shm=1` : plain;
}

// Starts a server child and resolves once it listens: { address, child } or { error }.
function startServer(kind, dir) {
  const address = serverAddress(kind, dir);
  return new Promise((resolve) => {
    let child;
    if (kind === 'cpp') {
      child = spawn(CLI, ['serve', '--demo', '--no-http', '--shm', '--log-level', 'warn',
        '--listen', address], { stdio: ['pipe', 'ignore', 'inherit'] });
    } else {
      child = spawn(process.execPath, [__filename, '--serve', kind, '--address', address],
        { stdio: ['pipe', 'pipe', 'pipe'] });
    }
    let settled = false;
    let stderr = '';
    const done = (v) => { if (!settled) { settled = true; resolve(v); } };
    child.on('error', (e) => done({ error: `${kind} server: ${e.message}` }));
    child.on('exit', (code) => done({ error: `${kind} server exited (${code}): ${stderr.trim().split('\n').slice(-3).join(' | ')}` }));
    if (child.stderr) child.stderr.on('data', (d) => { stderr += d; });
    if (kind === 'cpp') {
      // Ready once a plexus client gets in.
      const plexus = require(PLEXUS);
      plexus.connect(address, { waitForServerMs: 10000 }).then(
        (probe) => { probe.close(); done({ address, child }); },
        (e) => done({ error: `plexus serve: ${e.message}` }));
    } else {
      child.stdout.on('data', (d) => { if (String(d).includes('ready')) done({ address, child }); });
    }
    setTimeout(() => done({ error: `${kind} server: not ready after 15 s` }), 15000).unref();
  });
}

// One measurement in a child process of its own; resolves its JSON, or { error }.
function measure(c, address, payload, n, window, maxSeconds) {
  const common = ['--address', address, '--payload', String(payload), '--warmup', String(n.warmup),
    '--count', String(n.count), '--pipelined', String(n.pipelined), '--window', String(window)];
  const [cmd, argv] = c.client === 'c++ plexus' ?
    [CPP_CLIENT, common] :
    [process.execPath, [__filename, '--client', c.lib === 'plexus' ? 'plexus' : c.client, ...common,
      '--max-seconds', String(maxSeconds)]];
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...(c.env || {}) } });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 90000);
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    child.on('error', (e) => { clearTimeout(timer); resolve({ error: e.message }); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = out.trim().split('\n').pop();
      if (code === 0 && last) {
        try { resolve(JSON.parse(last)); return; } catch { /* below */ }
      }
      const why = err.trim().split('\n').filter(Boolean).slice(-2).join(' | ') || `exit ${code ?? signal}`;
      resolve({ error: why });
    });
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, digits = 3) => (Number.isFinite(x) ? Number(x.toPrecision(digits + 3)) : null);

function row(c, payload, reps, error) {
  const r = {
    case: c.name, client: c.client, server: c.server === 'cpp' ? 'c++ plexus serve' : c.server === 'plexus-node' ? 'node plexus' : c.server,
    transport: c.transport, payload_bytes: payload, error: error || null,
  };
  if (!reps.length) return r;
  const first = reps[0];
  r.rt_count = median(reps.map((x) => x.rt_count));  // fewer than asked where a phase ran out of time
  r.pipelined_calls = median(reps.map((x) => x.pipelined_calls));
  r.pipeline_mode = first.pipeline_mode || 'windowed';
  const p50s = reps.map((x) => x.rt_us.p50);
  const cps = reps.map((x) => x.calls_per_s);
  r.rt_us = {
    p50: round(median(p50s)), p50_min: round(Math.min(...p50s)), p50_max: round(Math.max(...p50s)),
    p99: round(median(reps.map((x) => x.rt_us.p99))), min: round(Math.min(...reps.map((x) => x.rt_us.min))),
    mean: round(median(reps.map((x) => x.rt_us.mean))),
  };
  r.pipelined = {
    calls_per_s: round(median(cps)), calls_per_s_min: round(Math.min(...cps)), calls_per_s_max: round(Math.max(...cps)),
    mb_per_s: round((median(cps) * payload) / 1e6),
  };
  r.repetitions = reps.map((x) => ({ p50: round(x.rt_us.p50), p99: round(x.rt_us.p99), min: round(x.rt_us.min), mean: round(x.rt_us.mean), calls_per_s: round(x.calls_per_s) }));
  return r;
}

// Ratios, and whether the issue's targets are met: Node → C++ round trip within 1.5× of
// C++ → C++ (per transport), and node-plexus ahead of every npm peer on round trip and calls/s.
function compare(rows) {
  const find = (name, payload) => rows.find((r) => r.case === name && r.payload_bytes === payload && r.rt_us);
  const ratio = (a, b) => (a && b ? round(a / b) : null);
  const targets = [];
  for (const r of rows) {
    if (!r.rt_us) continue;
    const cpp = find(`cpp-plexus-${r.transport === 'shm' ? 'shm' : 'unix'}`, r.payload_bytes);
    const nodeUnix = find('node-plexus-unix', r.payload_bytes);
    r['ratio_to_cpp-plexus'] = cpp && r.case !== cpp.case && r.case.startsWith('node-plexus') && !r.case.includes('-node-') ?
      { against: cpp.case, rt_p50: ratio(r.rt_us.p50, cpp.rt_us.p50), calls_per_s: ratio(r.pipelined.calls_per_s, cpp.pipelined.calls_per_s) } : null;
    r['ratio_to_node-plexus-unix'] = nodeUnix ?
      { rt_p50: ratio(r.rt_us.p50, nodeUnix.rt_us.p50), calls_per_s: ratio(r.pipelined.calls_per_s, nodeUnix.pipelined.calls_per_s) } : null;
  }
  const payloads = [...new Set(rows.map((r) => r.payload_bytes))];
  for (const payload of payloads) {
    for (const t of ['unix', 'shm', 'unix-adaptive', 'shm-adaptive']) {
      const node = find(`node-plexus-${t}`, payload);
      const cpp = find(`cpp-plexus-${t.replace('-adaptive', '')}`, payload);
      if (!node && t.endsWith('-adaptive')) continue;
      const x = node && cpp ? node.rt_us.p50 / cpp.rt_us.p50 : null;
      targets.push({ target: `${node ? node.case : `node-plexus-${t}`} rt p50 within 1.5x of ${cpp ? cpp.case : `cpp-plexus-${t}`}`,
        payload_bytes: payload, value: round(x), met: x === null ? null : x <= 1.5 });
    }
    const peers = PEERS.map((p) => find(p, payload)).filter(Boolean);
    for (const name of ['node-plexus-unix', 'node-plexus-unix-adaptive']) {
      const node = find(name, payload);
      if (!node || !peers.length) continue;
      const bestRt = peers.reduce((a, b) => (a.rt_us.p50 < b.rt_us.p50 ? a : b));
      const bestCps = peers.reduce((a, b) => (a.pipelined.calls_per_s > b.pipelined.calls_per_s ? a : b));
      targets.push({ target: `${name} rt p50 below every npm peer's (best: ${bestRt.case})`, payload_bytes: payload,
        value: round(node.rt_us.p50 / bestRt.rt_us.p50), met: node.rt_us.p50 < bestRt.rt_us.p50 });
      targets.push({ target: `${name} calls/s above every npm peer's (best: ${bestCps.case})`, payload_bytes: payload,
        value: round(node.pipelined.calls_per_s / bestCps.pipelined.calls_per_s), met: node.pipelined.calls_per_s > bestCps.pipelined.calls_per_s });
      const floor = find(FLOOR, payload);
      if (floor) {
        targets.push({ target: `${name} rt p50 against the floor, ${FLOOR} (no target)`, payload_bytes: payload,
          value: round(node.rt_us.p50 / floor.rt_us.p50), met: null });
        targets.push({ target: `${name} calls/s against the floor, ${FLOOR} (no target)`, payload_bytes: payload,
          value: round(node.pipelined.calls_per_s / floor.pipelined.calls_per_s), met: null });
      }
    }
  }
  return targets;
}

function printTable(rows, targets, out) {
  const fmt = (x, d = 1) => (x === null || x === undefined ? '—' : x.toFixed(d));
  const kfmt = (x) => (x ? `${(x / 1000).toFixed(1)}k` : '—');
  const header = ['case', 'client → server', 'payload', 'rt p50 µs', 'rt p99 µs', 'calls/s', 'p50 x c++', 'p50 x node-plexus', 'calls/s x node-plexus'];
  const lines = [header];
  for (const r of rows) {
    const size = r.payload_bytes >= 1024 ? `${r.payload_bytes / 1024} KiB` : `${r.payload_bytes} B`;
    const who = `${r.client} → ${r.server} (${r.transport})`;
    if (!r.rt_us) { lines.push([r.case, who, size, `failed: ${r.error}`, '', '', '', '', '']); continue; }
    const cpp = r['ratio_to_cpp-plexus'];
    const nu = r['ratio_to_node-plexus-unix'];
    lines.push([r.case, who, size, fmt(r.rt_us.p50), fmt(r.rt_us.p99), kfmt(r.pipelined.calls_per_s),
      cpp ? fmt(cpp.rt_p50, 2) : '', nu ? fmt(nu.rt_p50, 2) : '', nu ? fmt(nu.calls_per_s, 2) : '']);
  }
  const widths = header.map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  for (const l of lines) out.write(l.map((v, i) => String(v).padEnd(widths[i])).join('  ').trimEnd() + '\n');
  out.write('\n');
  for (const t of targets) {
    out.write(`${t.met === null ? 'n/a ' : t.met ? 'met ' : 'MISS'}  ${t.target}, ${t.payload_bytes} B: ${t.value === null ? '—' : t.value.toFixed(2)}\n`);
  }
}

function packageVersions() {
  const v = {};
  for (const name of ['zeromq', 'node-ipc', '@grpc/grpc-js']) {
    try {
      v[name] = require(path.join(__dirname, 'node_modules', name, 'package.json')).version;
    } catch {
      v[name] = null;
    }
  }
  return v;
}

function machine() {
  let kernel = `${os.type()} ${os.release()}`;
  try { kernel = execFileSync('uname', ['-sr'], { encoding: 'utf8' }).trim(); } catch { /* os's */ }
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), hostname: os.hostname(), kernel,
    arch: os.arch(), cpu_model: (os.cpus()[0] || {}).model || 'unknown', node: process.version,
  };
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`node_bench: ${e.message}\n`);
    usage(process.stderr);
    process.exit(2);
  }
  if (args.serve) return runServer(args.serve, args.address);
  if (args.client) return runClient(args.client, args);
  if (args.quick && !process.argv.includes('--reps')) args.reps = 1;
  if (args.maxSeconds === null) args.maxSeconds = args.quick ? 0.3 : 1.5;
  // As the C++ benchmarks' --payload (make bench's BENCH_ARGS go to every program).
  if (args.payloadGiven && !args.payloadsGiven) args.payloads = [args.payload];

  const cases = CASES.filter((c) => !args.filter.length || args.filter.some((f) => c.name.includes(f)));
  if (args.list) { for (const c of cases) process.stdout.write(`${c.name}\n`); return; }
  const started = Date.now();
  process.env.PLEXUS_LOG = process.env.PLEXUS_LOG || 'warn';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plexus-node-bench-'));
  const servers = new Map();
  const errors = new Map();  // case -> why it did not run
  let failed = false;
  try {
    for (const kind of [...new Set(cases.map((c) => c.server))]) {
      const s = await startServer(kind, dir);
      servers.set(kind, s);
    }
    for (const c of cases) {
      const s = servers.get(c.server);
      if (s.error) errors.set(c.name, s.error);
      else if (c.client === 'c++ plexus' && !fs.existsSync(CPP_CLIENT)) errors.set(c.name, `${CPP_CLIENT} is not built`);
    }
    const results = new Map();  // `${case}/${payload}` -> [rep results]
    for (let rep = 0; rep < args.reps; rep++) {
      for (const payload of args.payloads) {
        const n = counts(payload, args.quick);
        for (const c of cases) {
          const key = `${c.name}/${payload}`;
          if (errors.has(key) || errors.has(c.name)) continue;
          const r = await measure(c, clientAddress(c, servers), payload, n, args.window, args.maxSeconds);
          if (r.error) errors.set(key, r.error);
          else results.set(key, [...(results.get(key) || []), r]);
        }
      }
    }
    const rows = [];
    for (const payload of args.payloads) {
      for (const c of cases) {
        const key = `${c.name}/${payload}`;
        const error = errors.get(key) || errors.get(c.name);
        if (error) failed = true;
        rows.push(row(c, payload, error ? [] : results.get(key) || [], error));
      }
    }
    const targets = compare(rows);
    printTable(rows, targets, process.stdout);
    if (args.json) {
      const doc = {
        benchmark: 'node_bench', machine: machine(),
        config: { quick: args.quick, repetitions: args.reps, window: args.window, payloads: args.payloads,
          filter: args.filter.join(','), max_seconds: args.maxSeconds,
          node_idle_wait: process.env.PLEXUS_NODE_IDLE_WAIT || 'block (the default)', wall_seconds: round((Date.now() - started) / 1000), baseline: 'cpp-plexus-unix' },
        packages: packageVersions(), results: rows, targets,
      };
      fs.mkdirSync(path.dirname(path.resolve(args.json)), { recursive: true });
      fs.writeFileSync(args.json, JSON.stringify(doc, null, 1) + '\n');
    }
  } finally {
    for (const s of servers.values()) {
      if (s.child && s.child.exitCode === null) {
        const gone = new Promise((r) => s.child.once('exit', r));
        s.child.stdin.end();
        if (s.child.spawnargs[0] === CLI) s.child.kill('SIGTERM');
        const t = setTimeout(() => s.child.kill('SIGKILL'), 5000);
        await gone;
        clearTimeout(t);
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  process.stderr.write(`node_bench: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});

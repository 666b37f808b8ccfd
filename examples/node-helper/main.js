'use strict';
// examples/node-helper: a Node.js main process and its native helper, the pattern of an
// Electron app's main process (this file runs unchanged there: it uses only Node's own modules
// and the plexus package). It spawns the C++ helper, calls it, streams from it with a progress
// bar, and listens to the events it publishes; over a Unix socket, or shared memory with --shm.
//
//   node main.js [--shm] [path/to/node_helper]
//
// Exits 0 when every step did what it should.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const plexus = require('../../bindings/node');

const args = process.argv.slice(2);
const shm = args.includes('--shm');
const helperPath = args.find((a) => !a.startsWith('--')) ||
  path.join(__dirname, '..', '..', 'build', 'examples', 'node_helper');

function progressBar(done, total) {
  const width = 30;
  const filled = total ? Math.round((done / total) * width) : 0;
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total ?? '?'}`;
}

async function main() {
  // A private directory for the socket: owner-only, like plexus's own default.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'node-helper-'));
  const socket = `unix://${path.join(dir, 'helper.sock')}`;
  const helper = spawn(helperPath, [`${socket}?shm=1`], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => helper.once('exit', (code, signal) => resolve({ code, signal })));
  // The helper says "ready" once it listens.
  await new Promise((resolve, reject) => {
    readline.createInterface({ input: helper.stdout }).once('line', (line) =>
      (line === 'ready' ? resolve() : reject(new Error(`helper said ${line}`))));
    helper.once('error', reject);
  });

  const client = await plexus.connect(shm ? `${socket}?shm=1` : socket);
  const transport = shm ? 'shared memory' : 'Unix socket';

  // 1. A call.
  const thumb = await client.call('thumbnail', { width: 64, height: 48 });
  if (thumb.pixels !== 64 * 48 || thumb.pid !== helper.pid) throw new Error(`thumbnail: ${JSON.stringify(thumb)}`);
  console.log(`call over ${transport}: thumbnail -> ${thumb.pixels} pixels from helper pid ${thumb.pid}`);

  // 2. Its errors, with code and details.
  try {
    await client.call('thumbnail', { width: 'wide' });
    throw new Error('a bad argument was accepted');
  } catch (e) {
    if (!(e instanceof plexus.PlexusError) || e.code !== 'invalid_argument') throw e;
    console.log(`error: ${e.code} (${e.message}) details ${JSON.stringify(e.details)}`);
  }

  // 3. Its events, while 4. a stream renders with a progress bar.
  const status = await client.subscribe('helper.status');
  const events = [];
  status.on('message', (event) => events.push(event));
  const stream = client.openStream('render', { frames: 40, delay_ms: 2 });
  stream.on('progress', (p) => {
    if (process.stdout.isTTY) process.stdout.write(`\rrender ${progressBar(p.done, p.total)}`);
  });
  let frames = 0;
  for await (const item of stream) {
    if (item.frame !== frames) throw new Error(`frame ${item.frame} out of order`);
    frames++;
  }
  if (process.stdout.isTTY) process.stdout.write('\n');
  console.log(`stream: ${frames} frames, result ${JSON.stringify(stream.result())}`);
  // The last status event ('idle') follows the stream's end; wait for it without polling.
  if (!events.some((e) => e.state === 'idle')) {
    await new Promise((resolve) => status.on('message', (e) => e.state === 'idle' && resolve()));
  }
  const rendering = events.filter((e) => e.state === 'rendering').map((e) => e.frame);
  console.log(`events: rendering at frames ${rendering.join(', ')}, then idle`);
  if (rendering.join() !== '0,10,20,30') throw new Error(`events: ${JSON.stringify(events)}`);

  // 5. Goodbye: closing the client and the helper's stdin ends everything; the process exits.
  status.unsubscribe();
  client.close();
  helper.stdin.end();
  const end = await exited;
  fs.rmSync(dir, { recursive: true, force: true });
  if (end.code !== 0) throw new Error(`helper exited with ${JSON.stringify(end)}`);
  console.log('helper exited cleanly');
}

main().catch((e) => {
  console.error('node-helper example failed:', e);
  process.exitCode = 1;
});

'use strict';
// Processes exit when nothing is open; dropped clients are collected without leaking.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');

function runNode(args) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { timeout: 60000 }, (error, stdout, stderr) => {
      resolve({ error, stdout, stderr });
    });
  });
}
const fixture = (name) => path.join(__dirname, 'fixtures', name);

for (const mode of ['close', 'unref']) {
  test(`a process exits by itself once its client and server are ${mode === 'close' ? 'closed' : "unref'd"}`, async () => {
    const started = Date.now();
    const { error, stdout, stderr } = await runNode([fixture('exits.js'), mode]);
    assert.equal(error, null, stderr);
    assert.equal(stdout.trim(), 'done');
    assert.ok(Date.now() - started < 20000);
  });
}

test('a worker thread uses its own client and exits; the main thread carries on', async () => {
  const { error, stdout, stderr } = await runNode([fixture('worker.js')]);
  assert.equal(error, null, stderr);
  assert.deepEqual(JSON.parse(stdout.trim()), { fromWorker: true, fromMain: true });
});

test('500 clients dropped without close() are collected: connections, descriptors and memory plateau', async () => {
  const { error, stdout, stderr } = await runNode(['--expose-gc', fixture('gc.js'), '20']);
  assert.equal(error, null, stderr);
  const r = JSON.parse(stdout.trim().split('\n').at(-1));
  assert.equal(r.connections, 0, stdout);
  assert.ok(r.fds <= r.baselineFds + 4, stdout);
  // Memory after the first rounds stays flat: no growth with the number of clients dropped.
  const early = r.rss[4];
  const late = r.rss.at(-1);
  assert.ok(late - early < 32 * 1024 * 1024, `rss grew ${(late - early) / 1048576} MiB: ${stdout}`);
});

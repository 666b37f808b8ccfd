'use strict';
// What the tests share: the plexus CLI from the tree's build, a C++ `plexus serve --demo` child
// process on a private socket, and a temporary directory per test file.
const { spawn, execFile } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const plexus = require('..');

const CLI = process.env.PLEXUS_CLI ||
  path.join(__dirname, '..', '..', '..', 'build', 'tools', 'plexus', 'plexus');

function tempDir(prefix) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `plexus-node-${prefix}-`));
}

// Starts `plexus serve --demo` on a Unix socket (shared memory allowed) and waits until it
// answers. Resolves { address, stop() }.
async function startDemoServer(t, extra = []) {
  const dir = tempDir('srv');
  const socket = path.join(dir, 'demo.sock');
  const child = spawn(CLI, ['serve', '--demo', '--no-http', '--shm', '--log-level', 'warn',
    '--listen', `unix://${socket}`, ...extra], { stdio: ['ignore', 'inherit', 'inherit'] });
  const address = `unix://${socket}`;
  let exited = false;
  child.on('exit', () => { exited = true; });
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await gone;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  t.after(stop);
  // connect() waits for the server to come up (waitForServerMs), without sleeping here.
  const probe = await plexus.connect(address, { waitForServerMs: 10000 });
  probe.close();
  return { address, child, stop };
}

// Runs the CLI; resolves { code, stdout, stderr } whatever its exit status.
function cli(args, options = {}) {
  return new Promise((resolve) => {
    execFile(CLI, args, { timeout: 30000, ...options }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

module.exports = { CLI, tempDir, startDemoServer, cli, plexus };

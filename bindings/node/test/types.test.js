'use strict';
// The TypeScript typings (index.d.ts) compile a program that uses the whole API, strictly.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');

test('index.d.ts types a program using the whole API (tsc --strict)', async () => {
  const tsc = path.join(__dirname, '..', 'node_modules', 'typescript', 'bin', 'tsc');
  const { error, stdout } = await new Promise((resolve) => {
    execFile(process.execPath, [tsc, '--strict', '--noEmit', '--target', 'es2022', '--module', 'commonjs',
      '--types', 'node', path.join(__dirname, 'types', 'usage.ts')], { timeout: 120000 },
    (err, out, errOut) => resolve({ error: err, stdout: out + errOut }));
  });
  assert.equal(error, null, stdout);
});

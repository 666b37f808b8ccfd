'use strict';
// Loads the addon: PLEXUS_NODE_ADDON when set, else the one `npm install` built here
// (cmake-js, into build/), else the one the plexus tree's own build made.
const path = require('node:path');
const fs = require('node:fs');

function candidates() {
  const list = [];
  if (process.env.PLEXUS_NODE_ADDON) list.push(process.env.PLEXUS_NODE_ADDON);
  list.push(path.join(__dirname, '..', 'build', 'plexus.node'));
  list.push(path.join(__dirname, '..', '..', '..', 'build', 'bindings', 'node', 'plexus.node'));
  return list;
}

function load() {
  const tried = [];
  for (const file of candidates()) {
    if (fs.existsSync(file)) return require(file);
    tried.push(file);
  }
  throw new Error(`plexus: the native addon is not built (looked for ${tried.join(', ')}); ` +
                  'run `npm run build` in the package directory');
}

const native = load();
// After 'exit', Node.js tears the thread-safe functions down itself; the addon must not.
process.once('exit', () => native.exiting());
module.exports = native;

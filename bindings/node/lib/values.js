'use strict';
// How JavaScript values travel: a Buffer, Uint8Array or ArrayBuffer as its bytes; anything
// else as its JSON text. What arrives is parsed as JSON unless asked otherwise ('buffer', 'text');
// bytes that are not JSON come as a Buffer.

function encode(value, what) {
  if (value === undefined) return '';
  if (value instanceof Uint8Array) return value;  // Buffer included
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  let text;
  try {
    text = JSON.stringify(value);
  } catch (e) {
    // A BigInt, a cycle, a toJSON that throws.
    throw new TypeError(`${what} cannot be sent as JSON: ${e.message}`);
  }
  if (text === undefined) throw new TypeError(`${what} cannot be sent as JSON: it is a ${typeof value}`);
  return text;
}

function decode(bytes, mode) {
  if (mode === 'buffer') return bytes;
  if (mode === 'text') return bytes.toString('utf8');
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return bytes;
  }
}

const DECODE_MODES = new Set([undefined, 'json', 'buffer', 'text']);
function checkDecode(mode) {
  if (!DECODE_MODES.has(mode)) throw new TypeError("decode must be 'json', 'buffer' or 'text'");
  return mode;
}

function checkName(name, what) {
  if (typeof name !== 'string' || name.length === 0) {
    throw new TypeError(`${what} must be a non-empty string`);
  }
  return name;
}

function checkOptions(options) {
  if (options === undefined || options === null) return {};
  if (typeof options !== 'object') throw new TypeError('options must be an object');
  return options;
}

module.exports = { encode, decode, checkDecode, checkName, checkOptions };

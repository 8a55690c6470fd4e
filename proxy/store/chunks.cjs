// Bodies stored by content (schema 6): a stored body is cut into chunks (the native chunker:
// elements of a JSON body, content-defined pieces of anything else), each chunk kept once by its
// SHA-256 however many flows carry it. The body row keeps the list of chunk ids (LEB128); the
// flow's hash covers the body as sha256 over its chunks' SHA-256s in order, and `flows verify`
// checks every chunk against its SHA-256, so a changed shared chunk is caught once for all flows.
// Plain CommonJS: loaded by the writer thread and the proxy thread alike.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

/** JSON chunks end at an element once they hold this much: small elements travel together (the DLP scanner cuts its pieces the same way, segments.ts MIN_PIECE, so the store takes its digests). */
const MIN_CHUNK = 1024;
const NATIVE = path.join(__dirname, '..', '..', 'native', 'dlp', 'build', 'Release', 'airlock_dlp.node');

let addon;
function native() {
  if (addon === undefined) {
    try {
      addon = fs.existsSync(NATIVE) ? require(NATIVE) : null;
    } catch {
      addon = null;
    }
  }
  return addon;
}
function chunker() {
  const a = native();
  return a ? new a.Chunker(true, true, MIN_CHUNK) : null;
}

/** Raw deflate at level 1: the native one reuses its zlib stream (same bytes as zlib's). */
function deflate(data) {
  const a = native();
  return a ? a.deflateRaw(data, 1) : zlib.deflateRawSync(data, { level: 1 });
}

/**
 * A body's chunks: [[start, end, sha256 Buffer], ...]. Without the native chunker (not built) the
 * body is one chunk: identical bodies are still stored once. `given`: pieces the DLP scanner
 * already cut and hashed ({ ranges: [s0, e0, ...], digests: 32 bytes each }): taken as they are,
 * the bytes between them cut here.
 */
function cut(data, given) {
  if (data.length === 0) return [];
  if (given && well(given, data.length)) {
    const out = [];
    let at = 0;
    for (let i = 0; i < given.ranges.length; i += 2) {
      const s = given.ranges[i];
      const e = given.ranges[i + 1];
      if (s > at) cutInto(out, data, at, s);
      out.push([s, e, given.digests.subarray(16 * i, 16 * i + 32)]);
      at = e;
    }
    if (at < data.length) cutInto(out, data, at, data.length);
    return out;
  }
  const out = [];
  cutInto(out, data, 0, data.length);
  return out;
}

function cutInto(out, data, from, to) {
  const c = chunker();
  const part = data.subarray(from, to);
  if (!c) return out.push([from, to, crypto.createHash('sha256').update(part).digest()]);
  let at = from;
  for (const r of [c.feed(part), c.finish()]) {
    if (!r) continue;
    r[0].forEach((end, i) => {
      out.push([at, from + end, r[1].subarray(32 * i, 32 * i + 32)]);
      at = from + end;
    });
  }
}

/** Ranges in order, inside the body, one digest each. */
function well(given, length) {
  const r = given.ranges;
  if (r.length % 2 !== 0 || given.digests.length !== 16 * r.length) return false;
  let at = 0;
  for (let i = 0; i < r.length; i += 2) {
    if (!Number.isInteger(r[i]) || r[i] < at || r[i + 1] <= r[i] || r[i + 1] > length) return false;
    at = r[i + 1];
  }
  return true;
}

/** What the flow hash covers for a chunked body: sha256 over its chunks' SHA-256s, in order. */
function listDigest(digests) {
  const h = crypto.createHash('sha256');
  for (const d of digests) h.update(d);
  return `chunks:${h.digest('hex')}`;
}

function encodeIds(ids) {
  const bytes = [];
  for (let v of ids) {
    while (v >= 0x80) {
      bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    bytes.push(v);
  }
  return Buffer.from(bytes);
}

function decodeIds(buf) {
  const ids = [];
  let v = 0;
  let scale = 1;
  for (const b of buf) {
    v += (b & 0x7f) * scale;
    if (b & 0x80) scale *= 0x80;
    else {
      ids.push(v);
      v = 0;
      scale = 1;
    }
  }
  return ids;
}

/**
 * A chunk as stored: deflated (level 1: text and code shrink to about a third, at ~80 MB/s of new
 * content only) unless that saves little, as with compressed or random bytes. [bytes, deflated 0|1]
 */
function pack(data) {
  if (data.length < 64) return [data, 0];
  // A sample first: compressed or random bytes (an image, an archive) are not worth a full pass.
  if (data.length > 8192 && deflate(data.subarray(0, 4096)).length > 4096 * 0.9) return [data, 0];
  const z = deflate(data);
  return z.length < data.length * 0.9 ? [z, 1] : [data, 0];
}

function unpack(bytes, deflated) {
  return deflated ? zlib.inflateRawSync(bytes) : bytes;
}

module.exports = { cut, listDigest, encodeIds, decodeIds, pack, unpack, native, MIN_CHUNK };

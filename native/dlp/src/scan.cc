#include "scan.h"

#include <algorithm>
#include <cstring>

#include "shapes.h"
#include "views.h"

namespace airlock {

namespace {

/** base64 segments longer than this (images, archives) are not decoded. */
const size_t MAX_SEGMENT = 64 * 1024;
const size_t MIN_SEGMENT = 24;
const int MAX_DEPTH = 3;
/** JSON string layers decoded beyond the first (string in string in string). */
const int NESTED_JSON = 2;

struct B64Class {
  bool in[256];
  int8_t value[256];
  B64Class() {
    for (int c = 0; c < 256; c++) {
      in[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '_' || c == '-';
      value[c] = -1;
    }
    for (int c = 0; c < 26; c++) value['A' + c] = static_cast<int8_t>(c), value['a' + c] = static_cast<int8_t>(26 + c);
    for (int c = 0; c < 10; c++) value['0' + c] = static_cast<int8_t>(52 + c);
    value['+'] = value['-'] = 62;
    value['/'] = value['_'] = 63;
  }
};
const B64Class B64;

/** UTF-8 text, allowing a character cut at either end of the window. */
bool looksLikeText(const uint8_t* b, size_t n, size_t from) {
  size_t s = from > 64 ? from - 64 : 0;
  while (s < n && s < from && (b[s] & 0xc0) == 0x80) s++;
  size_t e = n;
  for (int k = 0; k < 3 && e > s && (b[e - 1] & 0x80) != 0; k++) e--;
  return isUtf8(b + s, e - s);
}

/** Valid UTF-8 that is nearly all printable (ASCII, whitespace or multi-byte characters). */
bool mostlyText(const std::vector<uint8_t>& b) {
  if (!isUtf8(b.data(), b.size())) return false;
  size_t n = std::min<size_t>(b.size(), 512);
  size_t text = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = b[i];
    if ((c >= 0x20 && c < 0x7f) || c == 0x0a || c == 0x0d || c == 0x09 || c >= 0x80) text++;
  }
  return text >= n * 0.95;
}

/** Decoding layers, each a view of the one below; positions map down through all of them. */
struct Layers {
  const uint8_t* raw;
  size_t rawLen;
  std::vector<std::pair<const char*, View>> layers;

  const uint8_t* top() const { return layers.empty() ? raw : layers.back().second.buf.data(); }
  size_t topLen() const { return layers.empty() ? rawLen : layers.back().second.buf.size(); }
  uint32_t rawStart(uint32_t d) const {
    for (size_t i = layers.size(); i-- > 0;) d = layers[i].second.rawStart(d);
    return d;
  }
  uint32_t rawEnd(uint32_t d) const {
    for (size_t i = layers.size(); i-- > 0;) d = layers[i].second.rawEnd(d);
    return d;
  }
  uint32_t fromRaw(uint32_t r) const {
    for (auto& l : layers) r = l.second.fromRaw(r);
    return r;
  }

  /**
   * The layers that changed the span [s, e) of the top view: named only when decoding mattered
   * there, so the label does not depend on other bytes nearby (and so not on chunking).
   */
  std::string via(uint32_t s, uint32_t e) const {
    std::vector<const char*> names;
    for (size_t i = layers.size(); i-- > 0;) {
      const View& v = layers[i].second;
      const uint8_t* below = i > 0 ? layers[i - 1].second.buf.data() : raw;
      uint32_t bs = v.rawStart(s), be = v.rawEnd(e);
      bool same = be - bs == e - s && std::memcmp(below + bs, v.buf.data() + s, e - s) == 0;
      if (!same) names.push_back(layers[i].first);
      s = bs;
      e = be;
    }
    std::string out;
    for (size_t k = names.size(); k-- > 0;) {
      if (!out.empty()) out += '>';
      out += names[k];
    }
    return out;
  }
};

}  // namespace

std::vector<uint8_t> decodeBase64(const uint8_t* p, size_t n) {
  std::vector<uint8_t> out;
  out.reserve(n / 4 * 3 + 3);
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = p[i];
    int8_t v = B64.value[c];
    if (v < 0) {
      if (c == '=') break;
      continue;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return out;
}

void scanBlock(const Engine& engine, const uint8_t* raw, size_t len, size_t from, const ScanOptions& opts, bool final, BlockScan& out, int depth) {
  Layers L{raw, len, {}};
  // One pass says which views can decode anything: most text has no backslash and no '%'.
  ByteFacts facts = byteFacts(raw, len);
  // Binary bytes (images, archives) are scanned as they are: escapes and encodings mean
  // something only in text, and decoding noise costs time for nothing. ASCII is text.
  if (facts.ascii || looksLikeText(raw, len, from)) {
    View j;
    if (facts.backslash && jsonUnescape(L.top(), L.topLen(), j)) L.layers.push_back({"json", std::move(j)});
    // The JSON view may hold a '%' or '+' the raw bytes do not (`\u0025`).
    bool urlBytes = !L.layers.empty() || facts.percent || (opts.form && facts.plus);
    View u;
    if (urlBytes && urlDecode(L.top(), L.topLen(), opts.form, u)) L.layers.push_back({"url", std::move(u)});
  }
  // JSON inside a JSON string (tool-call arguments, a tool result quoting JSON), or a JSON
  // document sent URL-encoded: more escapes appear once one layer is decoded.
  for (int k = 0; k < NESTED_JSON && !L.layers.empty(); k++) {
    View j;
    if (!jsonUnescape(L.top(), L.topLen(), j)) break;
    L.layers.push_back({"json", std::move(j)});
  }
  const uint8_t* buf = L.top();
  size_t blen = L.topLen();
  uint32_t vFrom = L.fromRaw(static_cast<uint32_t>(from));
  Shapes shapes;
  findShapes(buf, blen, vFrom, shapes);
  std::vector<RawMatch> found;
  engine.findMatches(buf, blen, vFrom, opts.enabled, shapes, found);
  for (const RawMatch& m : found) {
    out.matches.push_back({m.rule, L.rawStart(m.start), L.rawEnd(m.end), L.rawStart(m.sStart), L.rawEnd(m.sEnd), L.via(m.sStart, m.sEnd),
                           std::string(reinterpret_cast<const char*>(buf + m.sStart), m.sEnd - m.sStart)});
  }
  out.holdFrom = static_cast<uint32_t>(len);
  if (depth >= MAX_DEPTH) return;
  for (auto [start, end] : shapes.segments) {
    if (!final && end == blen) {
      // Runs to the end: may continue in the next chunk. Kept whole unless too long to matter.
      if (end - start <= MAX_SEGMENT) out.holdFrom = std::min(out.holdFrom, L.rawStart(start));
      break;
    }
    if (end - start > MAX_SEGMENT) continue;
    uint32_t rs = L.rawStart(start), re = L.rawEnd(end);
    out.segments.push_back({rs, re});
    std::vector<uint8_t> decoded = decodeBase64(buf + start, end - start);
    if (decoded.size() < MIN_SEGMENT * 3 / 4 - 2 || !mostlyText(decoded)) continue;
    BlockScan inner;
    ScanOptions innerOpts{opts.enabled, false};
    scanBlock(engine, decoded.data(), decoded.size(), 0, innerOpts, true, inner, depth + 1);
    // In the order scan.ts de-duplicates an inner scan in: by start, then rule (stable).
    std::stable_sort(inner.matches.begin(), inner.matches.end(), [](const Match& a, const Match& b) { return a.start != b.start ? a.start < b.start : a.rule < b.rule; });
    std::string outer = L.via(start, end);
    for (Match& m : inner.matches) {
      std::string via = outer;
      via += via.empty() ? "base64" : ">base64";
      if (!m.via.empty()) via += ">" + m.via;
      out.matches.push_back({m.rule, rs, re, rs, re, std::move(via), std::move(m.secret)});
    }
  }
}

}  // namespace airlock

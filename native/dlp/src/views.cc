#include "views.h"

#include "simd.h"

#include "find.h"

#include <algorithm>
#include <cstring>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace airlock {

namespace {

/** The last edit whose decoded start is <= d, or nullptr. */
const Edit* editAtOrBefore(const std::vector<Edit>& edits, uint32_t d) {
  auto it = std::upper_bound(edits.begin(), edits.end(), d, [](uint32_t v, const Edit& e) { return v < e.d; });
  return it == edits.begin() ? nullptr : &*(it - 1);
}

int hexDigit(uint8_t c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

int hex2(const uint8_t* b, size_t n, size_t at) {
  if (at + 2 > n) return -1;
  int x = hexDigit(b[at]), y = hexDigit(b[at + 1]);
  return x < 0 || y < 0 ? -1 : (x << 4) | y;
}

int hex4(const uint8_t* b, size_t n, size_t at) {
  int x = hex2(b, n, at), y = hex2(b, n, at + 2);
  return x < 0 || y < 0 ? -1 : (x << 8) | y;
}

uint8_t simpleEscape(uint8_t c) {
  switch (c) {
    case 'n': return 0x0a;
    case 'r': return 0x0d;
    case 't': return 0x09;
    case 'b': return 0x08;
    case 'f': return 0x0c;
    case '/': return 0x2f;
    case '\\': return 0x5c;
    case '"': return 0x22;
    case '\'': return 0x27;
    default: return 0;
  }
}

size_t putUtf8(uint8_t* o, size_t at, uint32_t cp) {
  if (cp < 0x80) {
    o[at++] = static_cast<uint8_t>(cp);
  } else if (cp < 0x800) {
    o[at++] = static_cast<uint8_t>(0xc0 | (cp >> 6));
    o[at++] = static_cast<uint8_t>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    o[at++] = static_cast<uint8_t>(0xe0 | (cp >> 12));
    o[at++] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3f));
    o[at++] = static_cast<uint8_t>(0x80 | (cp & 0x3f));
  } else {
    o[at++] = static_cast<uint8_t>(0xf0 | (cp >> 18));
    o[at++] = static_cast<uint8_t>(0x80 | ((cp >> 12) & 0x3f));
    o[at++] = static_cast<uint8_t>(0x80 | ((cp >> 6) & 0x3f));
    o[at++] = static_cast<uint8_t>(0x80 | (cp & 0x3f));
  }
  return at;
}

}  // namespace

uint32_t View::rawStart(uint32_t d) const {
  if (d >= size()) return rawLength;
  const Edit* e = editAtOrBefore(edits, d);
  if (!e) return d;
  if (d < e->d + e->outLen) return e->r;
  return e->r + e->rawLen + (d - (e->d + e->outLen));
}

uint32_t View::rawEnd(uint32_t d) const {
  if (d == 0) return 0;
  const Edit* e = editAtOrBefore(edits, d - 1);
  // Past the rest of a multi-byte unit (a \u escape decoding to several UTF-8 bytes).
  if (e && d - 1 < e->d + e->outLen) d = e->d + e->outLen;
  return rawStart(d);
}

uint32_t View::fromRaw(uint32_t raw) const {
  // The first edit whose raw start is >= raw; the run before it maps one to one.
  auto it = std::lower_bound(edits.begin(), edits.end(), raw, [](const Edit& e, uint32_t v) { return e.r < v; });
  uint32_t dRun = 0, rRun = 0;
  if (it != edits.begin()) {
    const Edit& p = *(it - 1);
    dRun = p.d + p.outLen;
    rRun = p.r + p.rawLen;
  }
  uint32_t d = raw <= rRun ? dRun : dRun + (raw - rRun);
  uint32_t limit = it == edits.end() ? size() : it->d;
  return std::min(std::min(d, limit), size());
}

bool jsonUnescape(const uint8_t* src, size_t n, View& v) {
  const void* first = std::memchr(src, '\\', n);
  if (!first) return false;
  v.buf.resize(n);
  v.edits.clear();
  v.edits.reserve(n / 32);
  v.rawLength = static_cast<uint32_t>(n);
  uint8_t* out = v.buf.data();
  size_t i = static_cast<const uint8_t*>(first) - src;
  std::memcpy(out, src, i);
  size_t o = i;
  bool any = false;
  while (i < n) {
    // Copy up to the next backslash in one go.
    size_t next = i + findByte(src + i, n - i, '\\');
    if (next > i) {
      std::memcpy(out + o, src + i, next - i);
      o += next - i;
      i = next;
      if (i >= n) break;
    }
    if (i + 1 >= n) {
      out[o++] = src[i++];
      continue;
    }
    uint8_t simple = simpleEscape(src[i + 1]);
    if (simple) {
      v.edits.push_back({static_cast<uint32_t>(o), static_cast<uint32_t>(i), 1, 2});
      out[o++] = simple;
      i += 2;
      any = true;
      continue;
    }
    int hi = src[i + 1] == 'u' && i + 6 <= n ? hex4(src, n, i + 2) : -1;
    if (hi < 0) {
      out[o++] = src[i++];
      continue;
    }
    uint32_t consumed = 6;
    uint32_t code = static_cast<uint32_t>(hi);
    // A surrogate pair is two escapes for one code point.
    if (hi >= 0xd800 && hi < 0xdc00 && i + 12 <= n && src[i + 6] == '\\' && src[i + 7] == 'u') {
      int lo = hex4(src, n, i + 8);
      if (lo >= 0xdc00 && lo < 0xe000) {
        code = 0x10000 + ((static_cast<uint32_t>(hi) - 0xd800) << 10) + (static_cast<uint32_t>(lo) - 0xdc00);
        consumed = 12;
      }
    }
    if (code >= 0xd800 && code < 0xe000) code = 0xfffd;  // a lone surrogate
    size_t start = o;
    o = putUtf8(out, o, code);
    v.edits.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(i), static_cast<uint32_t>(o - start), consumed});
    i += consumed;
    any = true;
  }
  if (!any) return false;
  v.buf.resize(o);
  return true;
}

bool urlDecode(const uint8_t* src, size_t n, bool plusIsSpace, View& v) {
  // Most text has no valid %XX (a '%' in code is a format or an operator): no copy then.
  bool anyPlus = plusIsSpace && std::memchr(src, '+', n) != nullptr;
  bool anyEscape = false;
  for (const uint8_t* p = src; !anyEscape && (p = static_cast<const uint8_t*>(std::memchr(p, '%', n - (p - src)))); p++) {
    anyEscape = hex2(src, n, (p - src) + 1) >= 0;
  }
  if (!anyEscape && !anyPlus) return false;
  v.buf.resize(n);
  v.edits.clear();
  v.rawLength = static_cast<uint32_t>(n);
  uint8_t* out = v.buf.data();
  size_t o = 0;
  bool any = false;
  for (size_t i = 0; i < n;) {
    uint8_t c = src[i];
    if (c == '%') {
      int x = hex2(src, n, i + 1);
      if (x >= 0) {
        v.edits.push_back({static_cast<uint32_t>(o), static_cast<uint32_t>(i), 1, 3});
        out[o++] = static_cast<uint8_t>(x);
        i += 3;
        any = true;
        continue;
      }
    } else if (c == '+' && plusIsSpace) {
      out[o++] = ' ';
      i++;
      any = true;
      continue;
    }
    out[o++] = c;
    i++;
  }
  if (!any) return false;
  v.buf.resize(o);
  return true;
}

#if defined(__x86_64__)
/** The length of the longest prefix of p[0, n) made of whole 64-byte blocks of ASCII. */
__attribute__((target("avx2"))) size_t asciiBlocksAvx2(const uint8_t* p, size_t n) {
  size_t i = 0;
  for (; i + 64 <= n; i += 64) {
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32));
    if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) != 0) break;
  }
  return i;
}
const bool HAVE_AVX2 = useAvx2();

__attribute__((target("avx2"))) size_t byteFactsAvx2(const uint8_t* p, size_t n, ByteFacts& f) {
  const __m256i bs = _mm256_set1_epi8('\\'), pc = _mm256_set1_epi8('%'), pl = _mm256_set1_epi8('+');
  __m256i high = _mm256_setzero_si256(), b = high, c = high, d = high;
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    high = _mm256_or_si256(high, v);
    b = _mm256_or_si256(b, _mm256_cmpeq_epi8(v, bs));
    c = _mm256_or_si256(c, _mm256_cmpeq_epi8(v, pc));
    d = _mm256_or_si256(d, _mm256_cmpeq_epi8(v, pl));
  }
  f.ascii = _mm256_movemask_epi8(high) == 0;
  f.backslash = _mm256_movemask_epi8(b) != 0;
  f.percent = _mm256_movemask_epi8(c) != 0;
  f.plus = _mm256_movemask_epi8(d) != 0;
  return i;
}
#endif

ByteFacts byteFacts(const uint8_t* p, size_t n) {
  ByteFacts f{true, false, false, false};
  size_t i = 0;
#if defined(__x86_64__)
  if (HAVE_AVX2) i = byteFactsAvx2(p, n, f);
#endif
  for (; i < n; i++) {
    uint8_t c = p[i];
    f.ascii = f.ascii && c < 0x80;
    f.backslash = f.backslash || c == '\\';
    f.percent = f.percent || c == '%';
    f.plus = f.plus || c == '+';
  }
  return f;
}

bool isUtf8(const uint8_t* p, size_t n) {
  size_t i = 0;
#if defined(__x86_64__)
  // Text is mostly ASCII: skip it 64 bytes at a time, then check byte by byte from the first
  // block that is not (the loop below goes on skipping ASCII in smaller steps).
  if (HAVE_AVX2) i = asciiBlocksAvx2(p, n);
#endif
  while (i < n) {
    // ASCII fast path, 32 bytes at a time.
    if (i + 32 <= n) {
      uint64_t w[4];
      std::memcpy(w, p + i, 32);
      if (((w[0] | w[1] | w[2] | w[3]) & 0x8080808080808080ULL) == 0) {
        i += 32;
        continue;
      }
    }
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    uint8_t c = p[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      len = 2;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      len = 3;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > n) return false;
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return false;
    if (cp >= 0xd800 && cp <= 0xdfff) return false;
    i += len;
  }
  return true;
}

}  // namespace airlock

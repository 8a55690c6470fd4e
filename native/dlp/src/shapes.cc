#include "shapes.h"

#include "simd.h"

#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace airlock {

namespace {

const size_t MIN_SEGMENT = 24;

/** Byte-class bit masks of one 64-byte block (bit i: byte i of the block). */
struct Block {
  uint64_t b64, digit, upper, space, dash;
};

/** One Block per 64 bytes, and whether any block has a digit or an upper-case letter. */
struct Masks {
  std::vector<Block> v;
  size_t blocks = 0;
  bool anyDigit = false, anyUpper = false;
};

struct B64Table {
  bool in[256];
  B64Table() {
    for (int c = 0; c < 256; c++) in[c] = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '_' || c == '-';
  }
};
const B64Table B64T;
inline bool isB64(uint8_t c) { return B64T.in[c]; }

#if defined(__SSE2__)
inline __m128i inRange(__m128i v, uint8_t lo, uint8_t hi) {
  __m128i t = _mm_sub_epi8(v, _mm_set1_epi8(static_cast<char>(lo)));
  return _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(static_cast<char>(hi - lo))), t);
}
inline __m128i eq(__m128i v, char c) { return _mm_cmpeq_epi8(v, _mm_set1_epi8(c)); }
inline uint64_t bits(__m128i m) { return static_cast<uint16_t>(_mm_movemask_epi8(m)); }
#endif

#if defined(__x86_64__)
__attribute__((target("avx2"))) inline __m256i inRange32(__m256i v, uint8_t lo, uint8_t hi) {
  __m256i t = _mm256_sub_epi8(v, _mm256_set1_epi8(static_cast<char>(lo)));
  return _mm256_cmpeq_epi8(_mm256_min_epu8(t, _mm256_set1_epi8(static_cast<char>(hi - lo))), t);
}
__attribute__((target("avx2"))) inline __m256i eq32(__m256i v, char c) { return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c)); }
__attribute__((target("avx2"))) inline uint64_t bits32(__m256i m) { return static_cast<uint32_t>(_mm256_movemask_epi8(m)); }

/** The full 64-byte blocks, 32 bytes at a time; ORs every digit and upper-case mask into `digits` and `uppers`. */
__attribute__((target("avx2"))) void classifyAvx2(const uint8_t* b, size_t full, Block* out, uint64_t& digits, uint64_t& uppers) {
  uint64_t anyD = 0, anyU = 0;
  for (size_t k = 0; k < full; k++) {
    uint64_t b64 = 0, digit = 0, upper = 0, space = 0, dash = 0;
    for (int q = 0; q < 2; q++) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 64 * k + 32 * q));
      __m256i d = inRange32(v, '0', '9');
      __m256i u = inRange32(v, 'A', 'Z');
      // Either case of a letter: c | 0x20 in 'a'..'z' (no other byte lands there).
      __m256i letter = inRange32(_mm256_or_si256(v, _mm256_set1_epi8(0x20)), 'a', 'z');
      __m256i minus = eq32(v, '-');
      __m256i x = _mm256_or_si256(_mm256_or_si256(eq32(v, '+'), eq32(v, '/')), _mm256_or_si256(eq32(v, '_'), minus));
      int s = 32 * q;
      b64 |= bits32(_mm256_or_si256(_mm256_or_si256(d, letter), x)) << s;
      digit |= bits32(d) << s;
      upper |= bits32(u) << s;
      space |= bits32(eq32(v, ' ')) << s;
      dash |= bits32(minus) << s;
    }
    out[k] = {b64, digit, upper, space, dash};
    anyD |= digit;
    anyU |= upper;
  }
  digits |= anyD;
  uppers |= anyU;
}
const bool HAVE_AVX2 = useAvx2();

/** The same with AVX-512 byte compares, which yield the 64-bit masks directly. */
__attribute__((target("avx512f,avx512bw"))) void classifyAvx512(const uint8_t* b, size_t full, Block* out, uint64_t& digits, uint64_t& uppers) {
  uint64_t anyD = 0, anyU = 0;
  const __m512i c0 = _mm512_set1_epi8('0'), c9 = _mm512_set1_epi8(9), cA = _mm512_set1_epi8('A'), c25 = _mm512_set1_epi8(25);
  const __m512i ca = _mm512_set1_epi8('a'), c20 = _mm512_set1_epi8(0x20);
  for (size_t k = 0; k < full; k++) {
    __m512i v = _mm512_loadu_si512(b + 64 * k);
    uint64_t digit = _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, c0), c9);
    uint64_t upper = _mm512_cmple_epu8_mask(_mm512_sub_epi8(v, cA), c25);
    // Either case of a letter: c | 0x20 in 'a'..'z' (no other byte lands there).
    uint64_t letter = _mm512_cmple_epu8_mask(_mm512_sub_epi8(_mm512_or_si512(v, c20), ca), c25);
    uint64_t dash = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('-'));
    uint64_t sym = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('+')) | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('/')) | _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8('_'));
    uint64_t space = _mm512_cmpeq_epi8_mask(v, _mm512_set1_epi8(' '));
    out[k] = {digit | letter | sym | dash, digit, upper, space, dash};
    anyD |= digit;
    anyU |= upper;
  }
  digits |= anyD;
  uppers |= anyU;
}
const bool HAVE_AVX512 = useAvx512();
#endif

void classify(const uint8_t* b, size_t n, Masks& m) {
  m.blocks = (n + 63) / 64 + 1;  // one empty block after the end: lookahead reads it
  if (m.v.size() < m.blocks) m.v.resize(m.blocks);
  Block* out = m.v.data();
  size_t full = n / 64;
  uint64_t digits = 0, uppers = 0;
#if defined(__x86_64__)
  if (HAVE_AVX512) {
    classifyAvx512(b, full, out, digits, uppers);
  } else if (HAVE_AVX2) {
    classifyAvx2(b, full, out, digits, uppers);
  } else
#endif
#if defined(__SSE2__)
  for (size_t k = 0; k < full; k++) {
    uint64_t b64 = 0, digit = 0, upper = 0, space = 0, dash = 0;
    for (int q = 0; q < 4; q++) {
      __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + 64 * k + 16 * q));
      __m128i d = inRange(v, '0', '9');
      __m128i u = inRange(v, 'A', 'Z');
      __m128i l = inRange(v, 'a', 'z');
      __m128i x = _mm_or_si128(_mm_or_si128(eq(v, '+'), eq(v, '/')), _mm_or_si128(eq(v, '_'), eq(v, '-')));
      int s = 16 * q;
      b64 |= bits(_mm_or_si128(_mm_or_si128(d, u), _mm_or_si128(l, x))) << s;
      digit |= bits(d) << s;
      upper |= bits(u) << s;
      space |= bits(eq(v, ' ')) << s;
      dash |= bits(eq(v, '-')) << s;
    }
    out[k] = {b64, digit, upper, space, dash};
    digits |= digit;
    uppers |= upper;
  }
#else
  full = 0;
#endif
  for (size_t k = full; k < m.blocks; k++) out[k] = {0, 0, 0, 0, 0};
  for (size_t i = full * 64; i < n; i++) {
    uint8_t c = b[i];
    uint64_t bit = 1ULL << (i % 64);
    Block& o = out[i / 64];
    if (isB64(c)) o.b64 |= bit;
    if (c >= '0' && c <= '9') o.digit |= bit, digits |= bit;
    if (c >= 'A' && c <= 'Z') o.upper |= bit, uppers |= bit;
    if (c == ' ') o.space |= bit;
    if (c == '-') o.dash |= bit;
  }
  m.anyDigit = digits != 0;
  m.anyUpper = uppers != 0;
}

using u128 = unsigned __int128;

/** A mask of block k and the next as one 128-bit value: shifts right see up to 64 bytes ahead. */
inline u128 wide(uint64_t lo, uint64_t hi) { return static_cast<u128>(lo) | (static_cast<u128>(hi) << 64); }

/** 0x80 in each byte lane of x that is 0xff. */
inline uint64_t fullBytes(uint64_t x) {
  const uint64_t low7 = 0x7f7f7f7f7f7f7f7fULL;
  uint64_t y = ~x;
  return ~(((y & low7) + low7) | y) & ~low7;
}

/**
 * False only when no run of 24 set bits starts in the low 64 bits of (lo, hi): such a run holds
 * two whole adjacent bytes j, j + 1 with j <= 8. Cheaper than runs() on most text.
 */
inline bool mayHoldRun24(uint64_t lo, uint64_t hi) {
  uint64_t fl = fullBytes(lo), fh = fullBytes(hi);
  return ((fl & (fl >> 8)) | ((fl >> 56) & fh) | (fh & (fh >> 8) & 0x80)) != 0;
}

/** Bit i set where bits i .. i+n-1 are all set (n <= 64). */
inline u128 runs(u128 x, unsigned n) {
  u128 r = x;
  unsigned have = 1;
  while (have * 2 <= n) {
    r &= r >> have;
    have *= 2;
  }
  if (have < n) r &= r >> (n - have);
  return r;
}

/** Positions (in block k, at or after `from`) where a candidate run starts. */
void collect(uint64_t cand, size_t k, size_t from, std::vector<uint32_t>& out) {
  cand &= ~(cand << 1);  // one hit per run of adjacent candidates
  while (cand) {
    size_t pos = 64 * k + static_cast<size_t>(__builtin_ctzll(cand));
    if (pos >= from) out.push_back(static_cast<uint32_t>(pos));
    cand &= cand - 1;
  }
}

size_t runEnd(const uint8_t* b, size_t n, size_t at) {
  while (at < n && isB64(b[at])) at++;
  return at;
}

}  // namespace

Shape shapeNamed(const std::string& p) {
  if (p == "native:card") return SHAPE_CARD;
  if (p == "native:iban") return SHAPE_IBAN;
  if (p == "native:ssn") return SHAPE_SSN;
  if (p == "native:discord") return SHAPE_DISCORD;
  return SHAPE_COUNT;
}

void findShapes(const uint8_t* b, size_t n, size_t from, Shapes& out) {
  thread_local Masks tls;
  Masks& m = tls;  // one thread-local lookup, not one per access
  classify(b, n, m);
  const Block* v = m.v.data();
  const size_t blocks = m.blocks;
  size_t first = from / 64;
  // base64 segments: [A-Za-z0-9+/_-]{24,}={0,2}(?:\r?\n[A-Za-z0-9+/_-]{4,}={0,2})*
  size_t floor = from;
  for (size_t k = first; k + 1 < blocks; k++) {
    if (64 * (k + 1) <= floor) continue;
    if (!mayHoldRun24(v[k].b64, v[k + 1].b64)) continue;
    uint64_t starts = static_cast<uint64_t>(runs(wide(v[k].b64, v[k + 1].b64), MIN_SEGMENT));
    while (starts) {
      size_t p = 64 * k + static_cast<size_t>(__builtin_ctzll(starts));
      starts &= starts - 1;
      if (p < floor) continue;
      // The first position at or after the floor with 24 class bytes ahead starts a segment.
      size_t e = runEnd(b, n, p);
      for (int q = 0; q < 2 && e < n && b[e] == '='; q++) e++;
      for (;;) {
        size_t c = e;
        if (c < n && b[c] == '\r') c++;
        if (c >= n || b[c] != '\n') break;
        c++;
        size_t r = runEnd(b, n, c);
        if (r - c < 4) break;
        c = r;
        for (int q = 0; q < 2 && c < n && b[c] == '='; q++) c++;
        e = c;
      }
      out.segments.push_back({static_cast<uint32_t>(p), static_cast<uint32_t>(e)});
      floor = e;
      if (e >= 64 * (k + 1)) break;  // later blocks pick up from the floor
      starts &= e - 64 * k >= 64 ? 0 : ~((1ULL << (e - 64 * k)) - 1);
    }
  }
  // Every shape below starts with a digit or is an IBAN (two upper-case letters, two digits).
  if (m.anyDigit) {
    for (size_t k = first; k + 1 < blocks; k++) {
      if (v[k].digit == 0) continue;
      u128 d = wide(v[k].digit, v[k + 1].digit);
      u128 s = wide(v[k].space, v[k + 1].space), dash = wide(v[k].dash, v[k + 1].dash), sep = s | dash;
      u128 d2 = d & (d >> 1), d3 = d2 & (d >> 2), d4 = d2 & (d2 >> 2);
      // Card: 13 digits in a row, or four digits, a space or dash, four digits.
      collect(static_cast<uint64_t>(runs(d, 13) | (d4 & (sep >> 4) & (d4 >> 5))), k, from, out.hits[SHAPE_CARD]);
      // US SSN: ddd-dd-dddd
      collect(static_cast<uint64_t>(d3 & (dash >> 3) & (d2 >> 4) & (dash >> 6) & (d4 >> 7)), k, from, out.hits[SHAPE_SSN]);
    }
  }
  if (m.anyDigit && m.anyUpper) {
    for (size_t k = first; k + 1 < blocks; k++) {
      if (v[k].upper == 0) continue;
      u128 u = wide(v[k].upper, v[k + 1].upper);
      u128 d = wide(v[k].digit, v[k + 1].digit), s = wide(v[k].space, v[k + 1].space);
      u128 a = u | d;
      // IBAN: two letters, two digits, then 11 more letters or digits, or a space.
      u128 cand = u & (u >> 1) & (d >> 2) & (d >> 3) & ((runs(a, 11) >> 4) | (s >> 4));
      collect(static_cast<uint64_t>(cand), k, from, out.hits[SHAPE_IBAN]);
    }
  }
  // Discord bot token: its last part is a base64 segment right after ".xxxxxx."
  for (auto [st, en] : out.segments) {
    if (st >= 8 && b[st - 1] == '.' && b[st - 8] == '.') out.hits[SHAPE_DISCORD].push_back(st);
  }
}

const char* shapesSimd() {
#if defined(__x86_64__)
  if (HAVE_AVX512) return "avx512";
  if (HAVE_AVX2) return "avx2";
#endif
  return "sse2";
}

}  // namespace airlock

#include "shapes.h"

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

struct Masks {
  std::vector<uint64_t> b64, digit, upper, alnumUpper, space, dash;
  size_t blocks = 0;
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

/** The full 64-byte blocks, 32 bytes at a time. */
__attribute__((target("avx2"))) void classifyAvx2(const uint8_t* b, size_t full, Masks& m) {
  for (size_t k = 0; k < full; k++) {
    uint64_t b64 = 0, digit = 0, upper = 0, space = 0, dash = 0;
    for (int q = 0; q < 2; q++) {
      __m256i v = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 64 * k + 32 * q));
      __m256i d = inRange32(v, '0', '9');
      __m256i u = inRange32(v, 'A', 'Z');
      __m256i l = inRange32(v, 'a', 'z');
      __m256i x = _mm256_or_si256(_mm256_or_si256(eq32(v, '+'), eq32(v, '/')), _mm256_or_si256(eq32(v, '_'), eq32(v, '-')));
      int s = 32 * q;
      b64 |= bits32(_mm256_or_si256(_mm256_or_si256(d, u), _mm256_or_si256(l, x))) << s;
      digit |= bits32(d) << s;
      upper |= bits32(u) << s;
      space |= bits32(eq32(v, ' ')) << s;
      dash |= bits32(eq32(v, '-')) << s;
    }
    m.b64[k] = b64;
    m.digit[k] = digit;
    m.upper[k] = upper;
    m.alnumUpper[k] = upper | digit;
    m.space[k] = space;
    m.dash[k] = dash;
  }
}
const bool HAVE_AVX2 = __builtin_cpu_supports("avx2");
#endif

void classify(const uint8_t* b, size_t n, Masks& m) {
  m.blocks = (n + 63) / 64 + 1;  // one empty block after the end: lookahead reads it
  for (auto* v : {&m.b64, &m.digit, &m.upper, &m.alnumUpper, &m.space, &m.dash}) v->assign(m.blocks, 0);
  size_t full = n / 64;
#if defined(__x86_64__)
  if (HAVE_AVX2) {
    classifyAvx2(b, full, m);
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
    m.b64[k] = b64;
    m.digit[k] = digit;
    m.upper[k] = upper;
    m.alnumUpper[k] = upper | digit;
    m.space[k] = space;
    m.dash[k] = dash;
  }
#else
  full = 0;
#endif
  for (size_t i = full * 64; i < n; i++) {
    uint8_t c = b[i];
    uint64_t bit = 1ULL << (i % 64);
    size_t k = i / 64;
    if (isB64(c)) m.b64[k] |= bit;
    if (c >= '0' && c <= '9') m.digit[k] |= bit, m.alnumUpper[k] |= bit;
    if (c >= 'A' && c <= 'Z') m.upper[k] |= bit, m.alnumUpper[k] |= bit;
    if (c == ' ') m.space[k] |= bit;
    if (c == '-') m.dash[k] |= bit;
  }
}

using u128 = unsigned __int128;

/** Block k and the next as one 128-bit value: shifts right see up to 64 bytes ahead. */
inline u128 wide(const std::vector<uint64_t>& v, size_t k) { return static_cast<u128>(v[k]) | (static_cast<u128>(v[k + 1]) << 64); }

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
  thread_local Masks m;
  classify(b, n, m);
  size_t first = from / 64;
  // base64 segments: [A-Za-z0-9+/_-]{24,}={0,2}(?:\r?\n[A-Za-z0-9+/_-]{4,}={0,2})*
  size_t floor = from;
  for (size_t k = first; k + 1 < m.blocks; k++) {
    if (64 * (k + 1) <= floor) continue;
    uint64_t starts = static_cast<uint64_t>(runs(wide(m.b64, k), MIN_SEGMENT));
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
  for (size_t k = first; k + 1 < m.blocks; k++) {
    u128 d = wide(m.digit, k);
    if (static_cast<uint64_t>(d) == 0) continue;  // every shape below starts with a digit or is an IBAN (two letters, two digits)
    u128 s = wide(m.space, k), dash = wide(m.dash, k), sep = s | dash;
    u128 d2 = d & (d >> 1), d3 = d2 & (d >> 2), d4 = d2 & (d2 >> 2);
    // Card: 13 digits in a row, or four digits, a space or dash, four digits.
    collect(static_cast<uint64_t>(runs(d, 13) | (d4 & (sep >> 4) & (d4 >> 5))), k, from, out.hits[SHAPE_CARD]);
    // US SSN: ddd-dd-dddd
    collect(static_cast<uint64_t>(d3 & (dash >> 3) & (d2 >> 4) & (dash >> 6) & (d4 >> 7)), k, from, out.hits[SHAPE_SSN]);
  }
  for (size_t k = first; k + 1 < m.blocks; k++) {
    u128 u = wide(m.upper, k);
    if (static_cast<uint64_t>(u) == 0) continue;
    u128 d = wide(m.digit, k), a = wide(m.alnumUpper, k), s = wide(m.space, k);
    // IBAN: two letters, two digits, then 11 more letters or digits, or a space.
    u128 cand = u & (u >> 1) & (d >> 2) & (d >> 3) & ((runs(a, 11) >> 4) | (s >> 4));
    collect(static_cast<uint64_t>(cand), k, from, out.hits[SHAPE_IBAN]);
  }
  // Discord bot token: its last part is a base64 segment right after ".xxxxxx."
  for (auto [st, en] : out.segments) {
    if (st >= 8 && b[st - 1] == '.' && b[st - 8] == '.') out.hits[SHAPE_DISCORD].push_back(st);
  }
}

}  // namespace airlock

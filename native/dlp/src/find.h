// The next occurrence of one of two bytes: an inline SSE2 search, cheaper than memchr when the
// byte is near (JSON text has a quote or a backslash every few dozen bytes).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace airlock {

/** Position of the first `a` or `b` in p[0, n), or n. */
inline size_t findEither(const uint8_t* p, size_t n, uint8_t a, uint8_t b) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i va = _mm_set1_epi8(static_cast<char>(a)), vb = _mm_set1_epi8(static_cast<char>(b));
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    int m = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)));
    if (m) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(m)));
  }
#endif
  for (; i < n; i++) {
    if (p[i] == a || p[i] == b) return i;
  }
  return n;
}

inline size_t findByte(const uint8_t* p, size_t n, uint8_t a) { return findEither(p, n, a, a); }

}  // namespace airlock

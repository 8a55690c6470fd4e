// Which vector instructions the scanner uses: what the CPU has, capped by AIRLOCK_DLP_SIMD
// (`avx2` or `sse2`), read once at load. The cap lets tests run the narrower paths on a machine
// with AVX-512 and compare their findings with the widest path's (dlp-engines.test.ts).
#pragma once
#include <cstdlib>
#include <cstring>

namespace airlock {

inline bool simdAllowed(const char* level) {
  const char* cap = std::getenv("AIRLOCK_DLP_SIMD");
  if (cap == nullptr || *cap == '\0') return true;
  if (std::strcmp(level, "avx512") == 0) return false;  // any cap is below AVX-512
  return std::strcmp(cap, "sse2") != 0;                  // "avx2" keeps AVX2; "sse2" drops it too
}

#if defined(__x86_64__)
/** Read once per file at load: the CPU has the instructions and AIRLOCK_DLP_SIMD allows them. */
inline bool useAvx2() { return __builtin_cpu_supports("avx2") && simdAllowed("avx2"); }
inline bool useAvx512() { return __builtin_cpu_supports("avx512bw") && simdAllowed("avx512"); }
#endif

}  // namespace airlock

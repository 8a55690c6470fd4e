// One pass of byte-class bit masks over a buffer (SSE2 where the machine has it), read for shapes
// no keyword can find: base64 segments (which scan.cc decodes) and the candidates of the rules
// that have no keyword (card numbers, IBANs, US SSNs, Discord bot tokens). A prefilter named
// `native:<shape>` in the rule pack selects one of them.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace airlock {

enum Shape : uint8_t { SHAPE_CARD, SHAPE_IBAN, SHAPE_SSN, SHAPE_DISCORD, SHAPE_COUNT };

/** The shape a `native:<name>` prefilter names, or SHAPE_COUNT. */
Shape shapeNamed(const std::string& prefilter);

struct Shapes {
  /** base64 segments from `from` on, as scan.ts's SEGMENT regex finds them (leftmost, non-overlapping). */
  std::vector<std::pair<uint32_t, uint32_t>> segments;
  /** Positions where a shape may start (the rule is verified around each). */
  std::vector<uint32_t> hits[SHAPE_COUNT];
};

void findShapes(const uint8_t* b, size_t n, size_t from, Shapes& out);

/** The widest vector path the shapes pass takes here: "avx512", "avx2" or "sse2" (simd.h). */
const char* shapesSimd();

}  // namespace airlock

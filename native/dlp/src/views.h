// Decoded views of a byte buffer (JSON string escapes, URL percent-encoding), each with a sparse
// map back to the bytes it was decoded from. Mirrors proxy/dlp/views.ts position for position.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace airlock {

/** One escape: `rawLen` bytes at raw position `r` decoded to `outLen` bytes at decoded position `d`. */
struct Edit {
  uint32_t d, r, outLen, rawLen;
};

/** A decoded buffer; between edits decoded and raw positions advance together. */
struct View {
  std::vector<uint8_t> buf;
  std::vector<Edit> edits;
  uint32_t rawLength = 0;

  uint32_t size() const { return static_cast<uint32_t>(buf.size()); }
  /** Raw position of the first raw byte behind decoded position `d`. */
  uint32_t rawStart(uint32_t d) const;
  /** Raw position just after the raw bytes behind decoded position `d - 1`. */
  uint32_t rawEnd(uint32_t d) const;
  /** The first decoded position whose raw start is >= `raw`. */
  uint32_t fromRaw(uint32_t raw) const;
};

/** JSON (and JS) string escapes decoded; false when nothing was decoded (no view). */
bool jsonUnescape(const uint8_t* src, size_t n, View& out);
/** %XX decoded (and `+` as a space in forms); false when there is nothing to decode. */
bool urlDecode(const uint8_t* src, size_t n, bool plusIsSpace, View& out);

/** What one pass over a buffer tells about it: a view has nothing to decode without its escape byte. */
struct ByteFacts {
  bool ascii, backslash, percent, plus;
};
ByteFacts byteFacts(const uint8_t* p, size_t n);

/** Strict UTF-8, as Node's buffer.isUtf8. */
bool isUtf8(const uint8_t* p, size_t n);

}  // namespace airlock

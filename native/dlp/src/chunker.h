// Splits a body into chunks as it streams by, with the SHA-256 of each. A JSON body (first byte
// '{' or '[') is cut after each element of an array at the top two levels (the messages, tools
// and system blocks of an LLM call), each chunk carrying the separator before its element: a
// conversation resent turn after turn is the same chunks again. Those chunks are `isolated`: DLP
// scans each on its own (no rule can match across `},{`), so a chunk scanned once need not be
// scanned again. Anything else (and JSON that stops being well-formed) is cut by content-defined
// chunking when `cdc` is on (for the store), or not at all.
#pragma once
#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace airlock {

struct Chunk {
  uint64_t end;  // stream offset just past the chunk
  uint8_t sha256[32];
  /** A keyed digest (a random key per process): what the scan cache is keyed by. */
  uint8_t tag[16];
  bool isolated;
};

class Chunker {
 public:
  /**
   * `hash`: compute each chunk's SHA-256 and keyed tag (a scan without cache or store needs
   * neither). `min`: a JSON chunk ends at an element only once it holds this many bytes, so small
   * elements travel together (the cut points still depend only on the bytes from the last cut).
   */
  Chunker(bool cdc, bool hash, size_t min = 0);
  ~Chunker();
  Chunker(const Chunker&) = delete;
  Chunker& operator=(const Chunker&) = delete;

  void feed(const uint8_t* p, size_t n, std::vector<Chunk>& out);
  /** The last chunk (if any bytes are left). */
  void finish(std::vector<Chunk>& out);
  /** 0: no byte but whitespace yet, 1: JSON, 2: anything else. */
  int mode() const { return mode_; }

 private:
  enum Mode { UNDECIDED, JSON, OTHER };
  bool cdc_, hashing_;
  uint64_t min_;
  Mode mode_ = UNDECIDED;
  bool broken_ = false;  // JSON that is not well-formed: no more element cuts
  bool done_ = false;    // the top-level value closed
  bool inString_ = false, escape_ = false;
  std::vector<uint8_t> stack_;
  uint64_t pos_ = 0, start_ = 0;
  uint64_t gear_ = 0;
  EVP_MD_CTX* sha_;

  void cut(uint64_t end, bool isolated, std::vector<Chunk>& out);
  void hash(const uint8_t* p, size_t n);
};

}  // namespace airlock

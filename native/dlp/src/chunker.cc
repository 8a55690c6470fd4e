#include "chunker.h"

#include "find.h"

#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

namespace airlock {

namespace {

// Content-defined chunking (a gear hash): a cut where the hash's low bits are zero, about 96 KiB
// on average, never under 32 KiB or over 256 KiB. Large: a chunk then fills SQLite overflow
// pages (16 KiB) whole, where chunks of 4-16 KiB would each take a page of their own.
const uint64_t CDC_MIN = 32 * 1024, CDC_MAX = 256 * 1024, CDC_MASK = (1ULL << 16) - 1;

struct Gear {
  uint64_t t[256];
  Gear() {
    uint64_t x = 0x9e3779b97f4a7c15ULL;  // splitmix64: a fixed table, the same on every machine
    for (auto& v : t) {
      x += 0x9e3779b97f4a7c15ULL;
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      v = z ^ (z >> 31);
    }
  }
};
const Gear GEAR;

/** The array levels whose elements are chunks: the top-level value and its members' values. */
const size_t MAX_CUT_DEPTH = 2;
const size_t MAX_STACK = 256;

bool isSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/** Drawn once per process: cache keys cannot be predicted or carried from one airlock to another. */
struct ProcessKey {
  uint8_t k[32];
  ProcessKey() {
    if (RAND_bytes(k, sizeof k) != 1) throw std::runtime_error("no random bytes for the scan cache key");
  }
};
const ProcessKey KEY;

/**
 * SHA-256 fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up again at every init
 * (~0.9 us per chunk, two inits per chunk: a third of the cost of hashing a 2 KiB chunk).
 */
const EVP_MD* sha256() {
  static const EVP_MD* md = [] {
    const EVP_MD* m = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    return m ? m : EVP_sha256();
  }();
  return md;
}

void keyedTag(const uint8_t digest[32], uint8_t tag[16]) {
  uint8_t in[64], out[32];
  std::memcpy(in, KEY.k, 32);
  std::memcpy(in + 32, digest, 32);
  unsigned len = 0;
  EVP_Digest(in, sizeof in, out, &len, sha256(), nullptr);
  std::memcpy(tag, out, 16);
}

}  // namespace

Chunker::Chunker(bool cdc, bool hash, size_t min) : cdc_(cdc), hashing_(hash), min_(min), sha_(EVP_MD_CTX_new()) {
  if (!sha_ || EVP_DigestInit_ex(sha_, sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 unavailable");
}

Chunker::~Chunker() { EVP_MD_CTX_free(sha_); }

void Chunker::hash(const uint8_t* p, size_t n) {
  if (n && hashing_) EVP_DigestUpdate(sha_, p, n);
}

void Chunker::cut(uint64_t end, bool isolated, std::vector<Chunk>& out) {
  Chunk c;
  c.end = end;
  c.isolated = isolated;
  if (hashing_) {
    unsigned len = 0;
    EVP_DigestFinal_ex(sha_, c.sha256, &len);
    EVP_DigestInit_ex(sha_, sha256(), nullptr);
    keyedTag(c.sha256, c.tag);
  } else {
    std::memset(c.sha256, 0, sizeof c.sha256);
    std::memset(c.tag, 0, sizeof c.tag);
  }
  out.push_back(c);
  start_ = end;
  gear_ = 0;
}

void Chunker::feed(const uint8_t* p, size_t n, std::vector<Chunk>& out) {
  size_t i = 0;
  size_t hashed = 0;  // bytes of p already hashed into the current chunk
  auto cutHere = [&](size_t at, bool isolated) {
    hash(p + hashed, at - hashed);
    hashed = at;
    cut(pos_ + at, isolated, out);
  };
  while (i < n) {
    if (mode_ == UNDECIDED) {
      uint8_t c = p[i];
      if (isSpace(c)) {
        i++;
        continue;
      }
      mode_ = c == '{' || c == '[' ? JSON : OTHER;
    }
    if (mode_ == JSON && !broken_) {
      if (inString_) {
        // Most bytes are inside strings: jump to the next quote or backslash.
        while (i < n) {
          uint8_t c = p[i];
          if (escape_) {
            escape_ = false;
            i++;
            continue;
          }
          if (c == '\\') {
            escape_ = true;
            i++;
            continue;
          }
          if (c == '"') {
            inString_ = false;
            i++;
            break;
          }
          i += 1 + findEither(p + i + 1, n - i - 1, '"', '\\');
        }
        continue;
      }
      uint8_t c = p[i++];
      if (done_) {
        if (!isSpace(c)) broken_ = true;
        continue;
      }
      switch (c) {
        case '"':
          inString_ = true;
          break;
        case '{':
        case '[':
          if (stack_.size() >= MAX_STACK) broken_ = true;
          else stack_.push_back(c);
          break;
        case '}':
        case ']':
          if (stack_.empty() || stack_.back() != (c == '}' ? '{' : '[')) {
            broken_ = true;
            break;
          }
          stack_.pop_back();
          if (stack_.empty()) done_ = true;
          // An element of an array at the top two levels just closed: a chunk ends here.
          else if (stack_.back() == '[' && stack_.size() <= MAX_CUT_DEPTH && pos_ + i - start_ >= min_) cutHere(i, true);
          break;
        case '\\':
          broken_ = true;  // outside a string: not JSON
          break;
        default:
          break;
      }
      continue;
    }
    // Not JSON, or JSON no longer well-formed: content-defined cuts for the store, or none.
    if (!cdc_) {
      i = n;
      break;
    }
    for (; i < n; i++) {
      gear_ = (gear_ << 1) + GEAR.t[p[i]];
      uint64_t size = pos_ + i + 1 - start_;
      if ((size >= CDC_MIN && (gear_ & CDC_MASK) == 0) || size >= CDC_MAX) cutHere(i + 1, false);
    }
  }
  hash(p + hashed, n - hashed);
  pos_ += n;
}

void Chunker::finish(std::vector<Chunk>& out) {
  // After JSON stopped being well-formed the rest is one chunk, unless content-defined cuts split it.
  if (pos_ > start_) cut(pos_, mode_ == JSON && !(broken_ && cdc_), out);
}

}  // namespace airlock

// Scans one buffer through its decoded views: raw, JSON-unescaped, URL-decoded, and base64
// segments (recursively). Every match comes back in raw coordinates. Mirrors scanBlock() in
// proxy/dlp/scan.ts; validation (JavaScript validators) and de-duplication stay there.
#pragma once
#include <string>
#include <vector>

#include "engine.h"

namespace airlock {

struct Match {
  uint32_t rule, start, end, sStart, sEnd;
  /** How it was encoded: '' (as sent), 'json', 'url', 'base64', or a chain like 'json>base64'. */
  std::string via;
  /** The decoded secret (for validation and the masked preview only). */
  std::string secret;
};

struct BlockScan {
  std::vector<Match> matches;
  /** Raw position before which a streaming caller may commit (an open base64 segment is kept whole). */
  uint32_t holdFrom;
  /** Raw spans of the base64 segments decoded here. */
  std::vector<std::pair<uint32_t, uint32_t>> segments;
};

struct ScanOptions {
  const uint8_t* enabled;
  bool form;
};

void scanBlock(const Engine& engine, const uint8_t* raw, size_t len, size_t from, const ScanOptions& opts, bool final, BlockScan& out, int depth = 0);

/** Node's Buffer.from(text, 'base64') (standard or URL-safe alphabet): other characters are skipped, '=' ends it. */
std::vector<uint8_t> decodeBase64(const uint8_t* p, size_t n);

}  // namespace airlock

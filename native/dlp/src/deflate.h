// Raw deflate for the store's chunks (proxy/store/chunks.cjs) with one zlib stream per thread,
// reset between chunks: zlib.deflateRawSync sets up (and zero-fills) a fresh ~300 KB state for
// every call, which cost more than deflating an agent's few KB of new content.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace airlock {

/** `in` raw-deflated at `level` (zlib from Node's own binary). Throws on a zlib error. */
std::string deflateRaw(const uint8_t* in, size_t len, int level);

}  // namespace airlock

// Where the values of some keys of a top-level JSON object are, found without parsing the rest:
// strings are skipped a vector at a time, nested values by depth. For reading an LLM call's model
// and tools out of a request that carries a whole conversation (proxy/llm.ts).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace airlock {

/** For each key: [start, end) of its value (the last occurrence), or {-1, -1}. Nothing if `p` is not a JSON object. */
std::vector<std::pair<int64_t, int64_t>> topLevelValues(const uint8_t* p, size_t n, const std::vector<std::string>& keys);

}  // namespace airlock

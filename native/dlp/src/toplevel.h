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

/**
 * [start, end) of each element of the JSON array p[0, n) (p[0] == '['), whitespace trimmed; nothing
 * if p is not an array. For hashing an LLM call's messages one by one without parsing the call.
 * Elements are found by depth only: whether each is well-formed is for its reader to find out.
 */
std::vector<std::pair<int64_t, int64_t>> arrayElements(const uint8_t* p, size_t n);

}  // namespace airlock

#include "toplevel.h"

#include <cstring>

#include "find.h"

namespace airlock {

namespace {

bool isSpace(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

/** Just past the string that starts at p[i] == '"' (n when it never ends). */
size_t skipString(const uint8_t* p, size_t n, size_t i) {
  i++;
  while (i < n) {
    i += findEither(p + i, n - i, '"', '\\');
    if (i >= n) return n;
    if (p[i] == '\\') {
      i += 2;
      continue;
    }
    return i + 1;
  }
  return n;
}

}  // namespace

std::vector<std::pair<int64_t, int64_t>> topLevelValues(const uint8_t* p, size_t n, const std::vector<std::string>& keys) {
  std::vector<std::pair<int64_t, int64_t>> out(keys.size(), {-1, -1});
  size_t i = 0;
  while (i < n && isSpace(p[i])) i++;
  if (i >= n || p[i] != '{') return out;
  i++;
  int depth = 1;
  int want = -1;         // the key whose value is being read
  int64_t valueStart = -1;
  bool expectKey = true;  // at depth 1: the next string is a key
  while (i < n && depth > 0) {
    uint8_t c = p[i];
    if (c == '"') {
      size_t end = skipString(p, n, i);
      if (depth == 1 && expectKey) {
        want = -1;
        std::string key(reinterpret_cast<const char*>(p + i + 1), end > i + 1 ? end - i - 2 : 0);
        for (size_t k = 0; k < keys.size(); k++) {
          if (keys[k] == key) want = static_cast<int>(k);
        }
        expectKey = false;
        valueStart = -1;
      } else if (depth == 1 && valueStart < 0) {
        valueStart = static_cast<int64_t>(i);
      }
      i = end;
      continue;
    }
    if (depth == 1 && !isSpace(c) && c != ':' && c != ',' && valueStart < 0 && !expectKey) valueStart = static_cast<int64_t>(i);
    if (c == '{' || c == '[') depth++;
    else if (c == '}' || c == ']') depth--;
    if (depth == 1 && c == ',') {
      if (want >= 0 && valueStart >= 0) {
        size_t e = i;
        while (e > static_cast<size_t>(valueStart) && isSpace(p[e - 1])) e--;
        out[want] = {valueStart, static_cast<int64_t>(e)};
      }
      want = -1;
      expectKey = true;
    }
    if (depth == 0 && want >= 0 && valueStart >= 0) {
      size_t e = i;
      while (e > static_cast<size_t>(valueStart) && isSpace(p[e - 1])) e--;
      out[want] = {valueStart, static_cast<int64_t>(e)};
    }
    i++;
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> arrayElements(const uint8_t* p, size_t n) {
  std::vector<std::pair<int64_t, int64_t>> out;
  if (n == 0 || p[0] != '[') return out;
  int depth = 1;
  int64_t start = -1;  // the element being read
  auto close = [&](size_t at) {
    if (start < 0) return;
    size_t e = at;
    while (e > static_cast<size_t>(start) && isSpace(p[e - 1])) e--;
    out.emplace_back(start, static_cast<int64_t>(e));
    start = -1;
  };
  size_t i = 1;
  while (i < n && depth > 0) {
    uint8_t c = p[i];
    if (depth == 1 && start < 0 && !isSpace(c) && c != ',' && c != ']') start = static_cast<int64_t>(i);
    if (c == '"') {
      i = skipString(p, n, i);
      continue;
    }
    if (c == '{' || c == '[') depth++;
    else if (c == '}' || c == ']') depth--;
    if (depth == 1 && c == ',') close(i);
    if (depth == 0) close(i);
    i++;
  }
  return out;
}

}  // namespace airlock

#include "engine.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace airlock {

namespace {

std::string escapeLiteral(const std::string& s) {
  std::string out;
  char b[8];
  for (unsigned char c : s) {
    std::snprintf(b, sizeof b, "\\x%02x", c);
    out += b;
  }
  return out;
}

const uint8_t BEGIN[] = "-----BEGIN ";
const size_t BEGIN_LEN = 11;
/** Longest armored block (a PGP key with subkeys is ~7 KB); below stream.ts HOLD. */
const size_t MAX_ARMORED = 12 * 1024;

const uint8_t* find(const uint8_t* hay, size_t n, const uint8_t* needle, size_t m) {
  if (m == 0 || n < m) return nullptr;
  return static_cast<const uint8_t*>(memmem(hay, n, needle, m));
}

/**
 * A match that starts with an armor BEGIN line covers its block up to the END line (see
 * armoredEnd in engine.ts, which this mirrors byte for byte).
 */
size_t armoredEnd(const uint8_t* buf, size_t len, size_t start, size_t end) {
  if (start + BEGIN_LEN > len || std::memcmp(buf + start, BEGIN, BEGIN_LEN) != 0) return end;
  const uint8_t* close = find(buf + start + BEGIN_LEN, len - start - BEGIN_LEN, reinterpret_cast<const uint8_t*>("-----"), 5);
  if (!close || static_cast<size_t>(close - buf) - start > 80) return end;
  std::string marker = "-----END ";
  marker.append(reinterpret_cast<const char*>(buf + start + BEGIN_LEN), close - (buf + start + BEGIN_LEN));
  marker += "-----";
  if (end <= len) {
    const uint8_t* at = find(buf + end, len - end, reinterpret_cast<const uint8_t*>(marker.data()), marker.size());
    if (at && static_cast<size_t>(at - buf) + marker.size() - start <= MAX_ARMORED) return (at - buf) + marker.size();
  }
  return len - start < MAX_ARMORED ? len : end;
}

const uint8_t MARKER[] = "[REDACTED";
const size_t MARKER_LEN = 9;

/** Where airlock's own redaction markers start in a buffer (usually nowhere). */
std::vector<uint32_t> markersIn(const uint8_t* buf, size_t len) {
  std::vector<uint32_t> at;
  for (const uint8_t* p = buf; (p = find(p, len - (p - buf), MARKER, MARKER_LEN)); p++) at.push_back(static_cast<uint32_t>(p - buf));
  return at;
}

}  // namespace

/** Marker positions, found on first use (only a buffer with a match needs them). */
struct Markers {
  const uint8_t* buf;
  size_t len;
  std::vector<uint32_t> at;
  bool found;
  const std::vector<uint32_t>& get() {
    if (!found) {
      at = markersIn(buf, len);
      found = true;
    }
    return at;
  }
};

namespace {

/** A secret overlapping a redaction marker is part of what airlock wrote, not what the agent sent. */
bool inMarker(Markers& lazy, const uint8_t* buf, size_t len, size_t s, size_t e) {
  const std::vector<uint32_t>& markers = lazy.get();
  if (e == 0 || markers.empty()) return false;
  // The last marker starting at or before e - 1 (lastIndexOf), then its closing bracket.
  auto it = std::upper_bound(markers.begin(), markers.end(), static_cast<uint32_t>(e - 1));
  if (it == markers.begin()) return false;
  size_t m = *(it - 1);
  const void* close = std::memchr(buf + m, ']', len - m);
  return close && static_cast<size_t>(static_cast<const uint8_t*>(close) - buf) >= s;
}

int onHit(unsigned int id, unsigned long long, unsigned long long to, unsigned int, void* ctx) {
  static_cast<std::vector<std::pair<uint32_t, uint32_t>>*>(ctx)->push_back({id, static_cast<uint32_t>(to)});
  return 0;
}

}  // namespace

Engine::Engine(const std::vector<RuleSpec>& rules) {
  re2::RE2::Options options;
  options.set_log_errors(false);
  options.set_one_line(true);
  std::vector<std::string> patterns;
  std::vector<unsigned> flags;
  std::vector<unsigned> ids;
  for (size_t i = 0; i < rules.size(); i++) {
    const RuleSpec& r = rules[i];
    Compiled c;
    c.re = std::make_unique<re2::RE2>(r.pattern, options);
    if (!c.re->ok()) throw std::runtime_error("rule " + std::to_string(i) + ": " + c.re->error());
    c.groups = std::min(c.re->NumberOfCapturingGroups(), kMaxGroups);
    c.maxLen = std::isfinite(r.maxLen) ? static_cast<uint32_t>(r.maxLen) : UINT32_MAX;
    c.always = false;
    auto add = [&](const std::string& p, unsigned f, uint32_t literal) {
      patterns.push_back(p);
      flags.push_back(f);
      ids.push_back(static_cast<unsigned>(candidates_.size()));
      candidates_.push_back({static_cast<uint32_t>(i), literal});
    };
    if (c.maxLen == UINT32_MAX) {
      c.always = true;  // no window bounds a match: the rule runs over the whole buffer
    } else if (shapeNamed(r.prefilter) != SHAPE_COUNT) {
      byShape_[shapeNamed(r.prefilter)].push_back(static_cast<uint32_t>(i));
    } else if (r.prefilter.rfind("native:", 0) == 0) {
      throw std::runtime_error("rule " + std::to_string(i) + ": unknown prefilter " + r.prefilter);
    } else if (!r.prefilter.empty()) {
      add(r.prefilter, HS_FLAG_PREFILTER | HS_FLAG_ALLOWEMPTY, 0);
    } else if (!r.keywords.empty()) {
      for (const std::string& k : r.keywords) add(escapeLiteral(k), HS_FLAG_CASELESS, static_cast<uint32_t>(k.size()));
    } else {
      c.always = true;  // no keyword and no prefilter: nothing narrows where it may match
    }
    rules_.push_back(std::move(c));
  }
  // A pattern Hyperscan cannot take (too large, say) leaves its rule running over the whole
  // buffer; the others keep their candidates. Dropped one rule at a time until it compiles.
  std::vector<size_t> keep(patterns.size());
  for (size_t k = 0; k < keep.size(); k++) keep[k] = k;
  while (!keep.empty()) {
    std::vector<const char*> cp;
    std::vector<unsigned> f, id;
    for (size_t k : keep) {
      cp.push_back(patterns[k].c_str());
      f.push_back(flags[k]);
      id.push_back(ids[k]);
    }
    hs_compile_error_t* err = nullptr;
    if (hs_compile_multi(cp.data(), f.data(), id.data(), static_cast<unsigned>(cp.size()), HS_MODE_BLOCK, nullptr, &db_, &err) == HS_SUCCESS) break;
    int which = err ? err->expression : -1;
    std::string msg = err ? err->message : "unknown error";
    if (err) hs_free_compile_error(err);
    if (which < 0) throw std::runtime_error("Hyperscan: " + msg);
    uint32_t rule = candidates_[id[which]].rule;
    rules_[rule].always = true;
    std::vector<size_t> rest;
    for (size_t k : keep) {
      if (candidates_[ids[k]].rule != rule) rest.push_back(k);
    }
    keep.swap(rest);
  }
  if (db_ && hs_alloc_scratch(db_, &scratch_) != HS_SUCCESS) throw std::runtime_error("Hyperscan: cannot allocate scratch space");
}

std::string selfTest() {
  // Known answers at every alignment of the buffer in memory: Debian's Vectorscan 5.4.9 (which
  // provides the same libhs) misses matches at half of them on AVX-512 machines. A matcher that
  // fails here is not used (native.ts falls back to node-re2).
  std::vector<RuleSpec> rules = {
      {"-----BEGIN RSA PRIVATE KEY-----", {"begin rsa private key"}, "", 31},
      {"[a-z.+]{1,64}@[a-z.-]{1,64}\\.[a-z]{2,6}", {"@"}, "@[A-Za-z0-9][A-Za-z0-9.-]*\\.[A-Za-z]{2}", 200},
      {"sk-ant-api03-[A-Za-z0-9]{8}", {"sk-ant-api03-"}, "", 21},
  };
  Engine engine(rules);
  // The first 48 bytes put the e-mail where Vectorscan 5.4.9's AVX-512 accelerator lost it.
  std::string text = "lorem amet rhoncus vitae egestas {\"v\":\"contact: jane.doe+billing@acme-corp.co.uk\"} sk-ant-api03-abcdEFGH -----BEGIN RSA PRIVATE KEY-----\nMII";
  text += std::string(600, 'x');
  std::vector<uint8_t> room(text.size() + 128);
  uint8_t enabled[3] = {1, 1, 1};
  for (size_t off = 0; off < 64; off++) {
    std::memcpy(room.data() + off, text.data(), text.size());
    Shapes shapes;
    std::vector<RawMatch> out;
    engine.findMatches(room.data() + off, text.size(), 0, enabled, shapes, out);
    if (out.size() != 3) return "the pattern matcher missed a known match at offset " + std::to_string(off) + " (" + hs_version() + ")";
  }
  return "";
}

Engine::~Engine() {
  if (scratch_) hs_free_scratch(scratch_);
  if (db_) hs_free_database(db_);
}

void Engine::findMatches(const uint8_t* buf, size_t len, size_t from, const uint8_t* enabled, const Shapes& shapes, std::vector<RawMatch>& out) const {
  if (from >= len) return;
  size_t n = rules_.size();
  // Per rule, the windows its candidates ask for: [start, end).
  std::vector<std::vector<std::pair<uint32_t, uint32_t>>> windows(n);
  if (db_) {
    // Candidates are looked for from a little before `from`: a match that starts at `from` may
    // begin with its keyword's left context.
    size_t regionStart = from > 0 ? from - 1 : 0;
    std::vector<std::pair<uint32_t, uint32_t>> hits;
    hs_scan(db_, reinterpret_cast<const char*>(buf + regionStart), static_cast<unsigned>(len - regionStart), 0, scratch_, onHit, &hits);
    for (auto [id, to] : hits) {
      const Candidate& c = candidates_[id];
      if (!enabled[c.rule] || rules_[c.rule].always) continue;
      uint64_t end = regionStart + to;
      uint64_t at = c.literal ? end - c.literal : end;
      uint64_t ml = rules_[c.rule].maxLen;
      uint64_t ws = at > ml ? at - ml : 0;
      uint64_t we = std::min<uint64_t>(len, end + ml);
      windows[c.rule].push_back({static_cast<uint32_t>(std::max<uint64_t>(from, ws)), static_cast<uint32_t>(we)});
    }
  }
  for (int sh = 0; sh < SHAPE_COUNT; sh++) {
    for (uint32_t rule : byShape_[sh]) {
      if (!enabled[rule]) continue;
      uint64_t ml = rules_[rule].maxLen;
      for (uint32_t at : shapes.hits[sh]) {
        uint64_t ws = at > ml ? at - ml : 0;
        windows[rule].push_back({static_cast<uint32_t>(std::max<uint64_t>(from, ws)), static_cast<uint32_t>(std::min<uint64_t>(len, at + ml))});
      }
    }
  }
  size_t span = len - from;
  Markers markers{buf, len, {}, false};
  for (size_t r = 0; r < n; r++) {
    if (!enabled[r]) continue;
    if (rules_[r].always) {
      execIn(static_cast<uint32_t>(r), buf, len, from, len, markers, out);
      continue;
    }
    auto& w = windows[r];
    if (w.empty()) continue;
    std::sort(w.begin(), w.end());
    // Merged; when they cover most of the buffer, one pass over all of it is cheaper.
    std::vector<std::pair<uint32_t, uint32_t>> merged;
    size_t covered = 0;
    for (auto [s, e] : w) {
      if (s >= e) continue;
      if (!merged.empty() && s <= merged.back().second) {
        if (e > merged.back().second) {
          covered += e - merged.back().second;
          merged.back().second = e;
        }
      } else {
        merged.push_back({s, e});
        covered += e - s;
      }
    }
    if (covered > span / 2) {
      execIn(static_cast<uint32_t>(r), buf, len, from, len, markers, out);
      continue;
    }
    for (auto [s, e] : merged) execIn(static_cast<uint32_t>(r), buf, len, s, e, markers, out);
  }
  std::sort(out.begin(), out.end(), [](const RawMatch& a, const RawMatch& b) { return a.start != b.start ? a.start < b.start : a.rule < b.rule; });
}

void Engine::execIn(uint32_t rule, const uint8_t* buf, size_t len, size_t from, size_t to, Markers& markers, std::vector<RawMatch>& out) const {
  const Compiled& c = rules_[rule];
  re2::StringPiece text(reinterpret_cast<const char*>(buf), to);
  re2::StringPiece groups[1 + kMaxGroups];
  size_t at = from;
  while (at <= to && c.re->Match(text, at, to, re2::RE2::UNANCHORED, groups, 1 + c.groups)) {
    size_t start = groups[0].data() - text.data();
    size_t found = start + groups[0].size();
    size_t end = armoredEnd(buf, len, start, found);
    int g = 1;
    while (g <= c.groups && groups[g].data() == nullptr) g++;
    bool hasGroup = g <= c.groups;
    size_t sStart = hasGroup ? groups[g].data() - text.data() : start;
    size_t sEnd = hasGroup ? sStart + groups[g].size() : end;
    // Go on from the secret's end, not the match's: a delimiter the match consumed after the
    // secret (RE2 has no lookahead) may be the one the next secret needs before it.
    at = std::max(start + 1, hasGroup ? sEnd : end);
    if (inMarker(markers, buf, len, sStart, sEnd)) continue;
    out.push_back({rule, static_cast<uint32_t>(start), static_cast<uint32_t>(end), static_cast<uint32_t>(sStart), static_cast<uint32_t>(sEnd)});
  }
}

}  // namespace airlock

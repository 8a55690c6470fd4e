// A compiled rule set and the function that finds rule matches in one buffer: one Hyperscan pass
// finds every rule's candidates (its keywords, or its prefilter pattern), then each candidate is
// verified by the rule's own RE2 pattern within the rule's longest match of it. Mirrors
// findMatches() in proxy/dlp/engine.ts.
#pragma once
#include <hs/hs.h>
#include <re2/re2.h>

#include "shapes.h"

#include <memory>
#include <string>
#include <vector>

namespace airlock {

struct Markers;

struct RuleSpec {
  std::string pattern;
  std::vector<std::string> keywords;  // lower-case literals
  std::string prefilter;              // a Hyperscan pattern (empty: the keywords, or the full pattern)
  double maxLen;                      // longest possible match (Infinity: unbounded)
};

struct RawMatch {
  uint32_t rule, start, end, sStart, sEnd;
};

/** What one Hyperscan pattern stands for. */
struct Candidate {
  uint32_t rule;
  /** Literal keyword length; 0 for a pattern (prefilter or full), whose hit is only an end offset. */
  uint32_t literal;
};

class Engine {
 public:
  /** Throws std::runtime_error naming the rule whose pattern does not compile. */
  explicit Engine(const std::vector<RuleSpec>& rules);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  size_t ruleCount() const { return rules_.size(); }

  /**
   * Every match of every enabled rule starting at or after `from` in buf[0, len); bytes before
   * `from` are left context only. Matches of one rule do not overlap; different rules may.
   */
  void findMatches(const uint8_t* buf, size_t len, size_t from, const uint8_t* enabled, const Shapes& shapes, std::vector<RawMatch>& out) const;

 private:
  static constexpr int kMaxGroups = 4;
  struct Compiled {
    std::unique_ptr<re2::RE2> re;
    int groups;  // capturing groups read (at most kMaxGroups): the first that took part is the secret
    uint32_t maxLen;  // UINT32_MAX when unbounded
    bool always;      // no usable candidate pattern: runs over the whole buffer
  };
  std::vector<Compiled> rules_;
  std::vector<Candidate> candidates_;
  /** Rules whose candidates are a shape (shapes.h) instead of Hyperscan hits. */
  std::vector<uint32_t> byShape_[SHAPE_COUNT];
  hs_database_t* db_ = nullptr;
  /** One per engine: an engine belongs to one JavaScript thread. */
  hs_scratch_t* scratch_ = nullptr;

  void execIn(uint32_t rule, const uint8_t* buf, size_t len, size_t from, size_t to, struct Markers& markers, std::vector<RawMatch>& out) const;
};

/** Empty when the matcher finds known answers at every buffer alignment; else what went wrong. */
std::string selfTest();

}  // namespace airlock

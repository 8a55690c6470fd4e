// N-API glue: `new Engine(rules)` compiles a rule set; `engine.scan(buf, from, enabled, form,
// final)` runs scanBlock (scan.h) and returns [holdFrom, segments, matches], each match as
// [rule, start, end, sStart, sEnd, via, secret].
#include <node_api.h>
#include <v8.h>

#include <malloc.h>

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "chunker.h"
#include "deflate.h"
#include "engine.h"
#include "scan.h"
#include "toplevel.h"

namespace {

using airlock::Engine;

#define CHECK(call)                                                       \
  do {                                                                    \
    if ((call) != napi_ok) {                                              \
      napi_throw_error(env, nullptr, "airlock-dlp: N-API call failed"); \
      return nullptr;                                                     \
    }                                                                     \
  } while (0)

std::string stringOf(napi_env env, napi_value v) {
  size_t n = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &n) != napi_ok) throw std::runtime_error("expected a string");
  std::string s(n, '\0');
  napi_get_value_string_utf8(env, v, s.data(), n + 1, &n);
  return s;
}

napi_value property(napi_env env, napi_value obj, const char* name) {
  napi_value v;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) throw std::runtime_error(std::string("missing ") + name);
  return v;
}

bool isType(napi_env env, napi_value v, napi_valuetype t) {
  napi_valuetype got;
  return napi_typeof(env, v, &got) == napi_ok && got == t;
}

std::vector<airlock::RuleSpec> readRules(napi_env env, napi_value list) {
  uint32_t n = 0;
  if (napi_get_array_length(env, list, &n) != napi_ok) throw std::runtime_error("expected an array of rules");
  std::vector<airlock::RuleSpec> rules(n);
  for (uint32_t i = 0; i < n; i++) {
    napi_value r;
    napi_get_element(env, list, i, &r);
    rules[i].pattern = stringOf(env, property(env, r, "pattern"));
    napi_value kw = property(env, r, "keywords");
    uint32_t k = 0;
    napi_get_array_length(env, kw, &k);
    for (uint32_t j = 0; j < k; j++) {
      napi_value s;
      napi_get_element(env, kw, j, &s);
      rules[i].keywords.push_back(stringOf(env, s));
    }
    napi_value pf = property(env, r, "prefilter");
    if (isType(env, pf, napi_string)) rules[i].prefilter = stringOf(env, pf);
    double ml = 0;
    napi_get_value_double(env, property(env, r, "maxLen"), &ml);
    rules[i].maxLen = ml;
  }
  return rules;
}

void finalize(napi_env, void* data, void*) { delete static_cast<Engine*>(data); }

napi_value construct(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  try {
    auto* engine = new Engine(readRules(env, argv[0]));
    CHECK(napi_wrap(env, self, engine, finalize, nullptr, nullptr));
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return self;
}

/** [[rule, start, end, sStart, sEnd, via, secret], ...] */
napi_value matchList(napi_env env, const std::vector<airlock::Match>& list) {
  napi_value matches, v;
  CHECK(napi_create_array_with_length(env, list.size(), &matches));
  for (size_t i = 0; i < list.size(); i++) {
    const airlock::Match& m = list[i];
    napi_value one;
    CHECK(napi_create_array_with_length(env, 7, &one));
    uint32_t nums[5] = {m.rule, m.start, m.end, m.sStart, m.sEnd};
    for (uint32_t k = 0; k < 5; k++) {
      CHECK(napi_create_uint32(env, nums[k], &v));
      CHECK(napi_set_element(env, one, k, v));
    }
    CHECK(napi_create_string_utf8(env, m.via.data(), m.via.size(), &v));
    CHECK(napi_set_element(env, one, 5, v));
    CHECK(napi_create_buffer_copy(env, m.secret.size(), m.secret.data(), nullptr, &v));
    CHECK(napi_set_element(env, one, 6, v));
    CHECK(napi_set_element(env, matches, static_cast<uint32_t>(i), one));
  }
  return matches;
}

napi_value scan(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  Engine* engine;
  CHECK(napi_unwrap(env, self, reinterpret_cast<void**>(&engine)));
  void* data;
  size_t len;
  if (napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "scan: expected a Buffer");
    return nullptr;
  }
  double fromD = 0;
  CHECK(napi_get_value_double(env, argv[1], &fromD));
  napi_typedarray_type type;
  size_t elen;
  void* edata;
  napi_value ab;
  size_t eoff;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &elen, &edata, &ab, &eoff));
  if (type != napi_uint8_array || elen < engine->ruleCount()) {
    napi_throw_type_error(env, nullptr, "scan: expected a Uint8Array with one entry per rule");
    return nullptr;
  }
  bool form = false, final = false;
  CHECK(napi_get_value_bool(env, argv[3], &form));
  CHECK(napi_get_value_bool(env, argv[4], &final));
  airlock::BlockScan out;
  try {
    airlock::ScanOptions opts{static_cast<const uint8_t*>(edata), form};
    airlock::scanBlock(*engine, static_cast<const uint8_t*>(data), len, std::min<size_t>(len, static_cast<size_t>(std::max(0.0, fromD))), opts, final, out);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  napi_value result, segs, matches, v;
  CHECK(napi_create_array_with_length(env, 3, &result));
  CHECK(napi_create_uint32(env, out.holdFrom, &v));
  CHECK(napi_set_element(env, result, 0, v));
  CHECK(napi_create_array_with_length(env, out.segments.size() * 2, &segs));
  for (size_t i = 0; i < out.segments.size(); i++) {
    CHECK(napi_create_uint32(env, out.segments[i].first, &v));
    CHECK(napi_set_element(env, segs, static_cast<uint32_t>(2 * i), v));
    CHECK(napi_create_uint32(env, out.segments[i].second, &v));
    CHECK(napi_set_element(env, segs, static_cast<uint32_t>(2 * i + 1), v));
  }
  CHECK(napi_set_element(env, result, 1, segs));
  matches = matchList(env, out.matches);
  if (!matches) return nullptr;
  CHECK(napi_set_element(env, result, 2, matches));
  return result;
}

/**
 * scanPieces(buffers, enabled): each buffer scanned whole, on its own (segments.ts); for each,
 * null or its matches. One call for all the pieces a chunk completed.
 */
napi_value scanPieces(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  Engine* engine;
  CHECK(napi_unwrap(env, self, reinterpret_cast<void**>(&engine)));
  napi_typedarray_type type;
  size_t elen;
  void* edata;
  napi_value ab;
  size_t eoff;
  CHECK(napi_get_typedarray_info(env, argv[1], &type, &elen, &edata, &ab, &eoff));
  if (type != napi_uint8_array || elen < engine->ruleCount()) {
    napi_throw_type_error(env, nullptr, "scanPieces: expected a Uint8Array with one entry per rule");
    return nullptr;
  }
  uint32_t n = 0;
  CHECK(napi_get_array_length(env, argv[0], &n));
  napi_value result;
  CHECK(napi_create_array_with_length(env, n, &result));
  airlock::ScanOptions opts{static_cast<const uint8_t*>(edata), false};
  for (uint32_t i = 0; i < n; i++) {
    napi_value b, v;
    CHECK(napi_get_element(env, argv[0], i, &b));
    void* data;
    size_t len;
    if (napi_get_buffer_info(env, b, &data, &len) != napi_ok) {
      napi_throw_type_error(env, nullptr, "scanPieces: expected Buffers");
      return nullptr;
    }
    airlock::BlockScan out;
    try {
      airlock::scanBlock(*engine, static_cast<const uint8_t*>(data), len, 0, opts, true, out);
    } catch (const std::exception& e) {
      napi_throw_error(env, nullptr, e.what());
      return nullptr;
    }
    if (out.matches.empty()) {
      CHECK(napi_get_null(env, &v));
    } else {
      v = matchList(env, out.matches);
      if (!v) return nullptr;
    }
    CHECK(napi_set_element(env, result, i, v));
  }
  return result;
}

napi_value find(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  Engine* engine;
  CHECK(napi_unwrap(env, self, reinterpret_cast<void**>(&engine)));
  void* data;
  size_t len;
  if (napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "find: expected a Buffer");
    return nullptr;
  }
  double fromD = 0;
  CHECK(napi_get_value_double(env, argv[1], &fromD));
  napi_typedarray_type type;
  size_t elen;
  void* edata;
  napi_value ab;
  size_t eoff;
  CHECK(napi_get_typedarray_info(env, argv[2], &type, &elen, &edata, &ab, &eoff));
  if (type != napi_uint8_array || elen < engine->ruleCount()) {
    napi_throw_type_error(env, nullptr, "find: expected a Uint8Array with one entry per rule");
    return nullptr;
  }
  std::vector<airlock::RawMatch> found;
  const uint8_t* buf = static_cast<const uint8_t*>(data);
  try {
    size_t from = std::min<size_t>(len, static_cast<size_t>(std::max(0.0, fromD)));
    airlock::Shapes shapes;
    airlock::findShapes(buf, len, from, shapes);
    engine->findMatches(buf, len, from, static_cast<const uint8_t*>(edata), shapes, found);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  std::vector<airlock::Match> ms;
  for (const auto& m : found) ms.push_back({m.rule, m.start, m.end, m.sStart, m.sEnd, "", std::string(reinterpret_cast<const char*>(buf + m.sStart), m.sEnd - m.sStart)});
  return matchList(env, ms);
}

napi_value decodeBase64(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[0], &data, &len));
  std::vector<uint8_t> out = airlock::decodeBase64(static_cast<const uint8_t*>(data), len);
  napi_value v;
  CHECK(napi_create_buffer_copy(env, out.size(), out.data(), nullptr, &v));
  return v;
}

napi_value deflateRaw(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[0], &data, &len));
  int32_t level = 1;
  if (argc > 1) CHECK(napi_get_value_int32(env, argv[1], &level));
  std::string out;
  try {
    out = airlock::deflateRaw(static_cast<const uint8_t*>(data), len, level);
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
    return nullptr;
  }
  napi_value v;
  CHECK(napi_create_buffer_copy(env, out.size(), out.data(), nullptr, &v));
  return v;
}

napi_value selfTest(napi_env env, napi_callback_info) {
  std::string r;
  try {
    r = airlock::selfTest();
  } catch (const std::exception& e) {
    r = e.what();
  }
  napi_value v;
  CHECK(napi_create_string_utf8(env, r.data(), r.size(), &v));
  return v;
}

void finalizeChunker(napi_env, void* data, void*) { delete static_cast<airlock::Chunker*>(data); }

napi_value newChunker(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  bool cdc = false, hash = true;
  uint32_t min = 0;
  if (argc > 0) napi_get_value_bool(env, argv[0], &cdc);
  if (argc > 1) napi_get_value_bool(env, argv[1], &hash);
  if (argc > 2) napi_get_value_uint32(env, argv[2], &min);
  try {
    CHECK(napi_wrap(env, self, new airlock::Chunker(cdc, hash, min), finalizeChunker, nullptr, nullptr));
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, e.what());
  }
  return self;
}

/** [ends, sha256s (32 bytes each), isolated flags, keyed tags (16 bytes each)] or null when no chunk ended. */
napi_value chunkList(napi_env env, const std::vector<airlock::Chunk>& list) {
  napi_value result, ends, flags, v;
  if (list.empty()) {
    CHECK(napi_get_null(env, &result));
    return result;
  }
  CHECK(napi_create_array_with_length(env, 4, &result));
  CHECK(napi_create_array_with_length(env, list.size(), &ends));
  CHECK(napi_create_array_with_length(env, list.size(), &flags));
  void* data;
  void* tagData;
  napi_value digests, tags;
  CHECK(napi_create_buffer(env, list.size() * 32, &data, &digests));
  CHECK(napi_create_buffer(env, list.size() * 16, &tagData, &tags));
  for (size_t i = 0; i < list.size(); i++) {
    CHECK(napi_create_double(env, static_cast<double>(list[i].end), &v));
    CHECK(napi_set_element(env, ends, static_cast<uint32_t>(i), v));
    CHECK(napi_get_boolean(env, list[i].isolated, &v));
    CHECK(napi_set_element(env, flags, static_cast<uint32_t>(i), v));
    std::memcpy(static_cast<uint8_t*>(data) + 32 * i, list[i].sha256, 32);
    std::memcpy(static_cast<uint8_t*>(tagData) + 16 * i, list[i].tag, 16);
  }
  CHECK(napi_set_element(env, result, 0, ends));
  CHECK(napi_set_element(env, result, 1, digests));
  CHECK(napi_set_element(env, result, 2, flags));
  CHECK(napi_set_element(env, result, 3, tags));
  return result;
}

napi_value chunkerFeed(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, nullptr));
  airlock::Chunker* c;
  CHECK(napi_unwrap(env, self, reinterpret_cast<void**>(&c)));
  void* data;
  size_t len;
  if (napi_get_buffer_info(env, argv[0], &data, &len) != napi_ok) {
    napi_throw_type_error(env, nullptr, "feed: expected a Buffer");
    return nullptr;
  }
  std::vector<airlock::Chunk> out;
  c->feed(static_cast<const uint8_t*>(data), len, out);
  return chunkList(env, out);
}

napi_value chunkerFinish(napi_env env, napi_callback_info info) {
  napi_value self;
  CHECK(napi_get_cb_info(env, info, nullptr, nullptr, &self, nullptr));
  airlock::Chunker* c;
  CHECK(napi_unwrap(env, self, reinterpret_cast<void**>(&c)));
  std::vector<airlock::Chunk> out;
  c->finish(out);
  return chunkList(env, out);
}

napi_value chunkerMode(napi_env env, napi_callback_info info) {
  napi_value self, v;
  CHECK(napi_get_cb_info(env, info, nullptr, nullptr, &self, nullptr));
  airlock::Chunker* c;
  CHECK(napi_unwrap(env, self, reinterpret_cast<void**>(&c)));
  CHECK(napi_create_int32(env, c->mode(), &v));
  return v;
}

/**
 * limitMallocArenas(n): glibc gives each thread that allocates its own heap arena, which keeps
 * freed body buffers as resident memory per thread; airlock's threads share `n` (called at start,
 * before the store's writer thread exists). Measured: 256 MiB through airlock peaks 3-5 MB lower.
 */
napi_value limitMallocArenas(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  int32_t n = 1;
  if (argc > 0) CHECK(napi_get_value_int32(env, argv[0], &n));
  napi_value out;
  CHECK(napi_get_boolean(env, mallopt(M_ARENA_MAX, n) == 1, &out));
  return out;
}

/**
 * collectSoon(): asks V8 to start an incremental mark-compact now (proxy/memory-watch.ts says when).
 * V8 frees a body buffer that outlived two scavenges only at a mark-compact, and starts one for
 * them only once such memory has grown 64 MB since the last; JavaScript has no way to ask earlier.
 * The marking runs in steps and on V8's helper thread, as V8's own does: no full pause.
 */
napi_value collectSoon(napi_env env, napi_callback_info) {
  v8::Isolate* isolate = v8::Isolate::GetCurrent();
  if (isolate) isolate->MemoryPressureNotification(v8::MemoryPressureLevel::kModerate);
  napi_value out;
  CHECK(napi_get_boolean(env, isolate != nullptr, &out));
  return out;
}

/** simdLevel(): the widest vector path the scanner takes on this machine (AIRLOCK_DLP_SIMD caps it). */
napi_value simdLevel(napi_env env, napi_callback_info) {
  napi_value out;
  CHECK(napi_create_string_utf8(env, airlock::shapesSimd(), NAPI_AUTO_LENGTH, &out));
  return out;
}

/** [start, end, ...] as a JS array, each moved by `offset` (an absent range, -1, stays -1). */
napi_value rangesOut(napi_env env, const std::vector<std::pair<int64_t, int64_t>>& ranges, int64_t offset) {
  napi_value out, v;
  CHECK(napi_create_array_with_length(env, ranges.size() * 2, &out));
  for (size_t i = 0; i < ranges.size(); i++) {
    CHECK(napi_create_int64(env, ranges[i].first < 0 ? -1 : offset + ranges[i].first, &v));
    CHECK(napi_set_element(env, out, static_cast<uint32_t>(2 * i), v));
    CHECK(napi_create_int64(env, ranges[i].second < 0 ? -1 : offset + ranges[i].second, &v));
    CHECK(napi_set_element(env, out, static_cast<uint32_t>(2 * i + 1), v));
  }
  return out;
}

/** topLevel(buf, keys) -> [start, end, ...] per key (-1 where absent): values of a top-level JSON object. */
napi_value topLevel(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[0], &data, &len));
  uint32_t k = 0;
  CHECK(napi_get_array_length(env, argv[1], &k));
  std::vector<std::string> keys;
  for (uint32_t i = 0; i < k; i++) {
    napi_value s;
    CHECK(napi_get_element(env, argv[1], i, &s));
    keys.push_back(stringOf(env, s));
  }
  return rangesOut(env, airlock::topLevelValues(static_cast<const uint8_t*>(data), len, keys), 0);
}

/** arrayElements(buf, start, end) -> [start, end, ...] of each element of the JSON array buf[start, end). */
napi_value arrayElements(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  void* data;
  size_t len;
  CHECK(napi_get_buffer_info(env, argv[0], &data, &len));
  int64_t from = 0, to = 0;
  CHECK(napi_get_value_int64(env, argv[1], &from));
  CHECK(napi_get_value_int64(env, argv[2], &to));
  if (from < 0) from = 0;
  if (to > static_cast<int64_t>(len)) to = static_cast<int64_t>(len);
  if (to < from) to = from;
  return rangesOut(env, airlock::arrayElements(static_cast<const uint8_t*>(data) + from, static_cast<size_t>(to - from)), from);
}

napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
      {"scan", nullptr, scan, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"find", nullptr, find, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"scanPieces", nullptr, scanPieces, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value cls;
  CHECK(napi_define_class(env, "Engine", NAPI_AUTO_LENGTH, construct, nullptr, 3, methods, &cls));
  CHECK(napi_set_named_property(env, exports, "Engine", cls));
  napi_property_descriptor chunkerMethods[] = {
      {"feed", nullptr, chunkerFeed, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"finish", nullptr, chunkerFinish, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"mode", nullptr, chunkerMode, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_value chunkerCls;
  CHECK(napi_define_class(env, "Chunker", NAPI_AUTO_LENGTH, newChunker, nullptr, 3, chunkerMethods, &chunkerCls));
  CHECK(napi_set_named_property(env, exports, "Chunker", chunkerCls));
  napi_value fn;
  CHECK(napi_create_function(env, "decodeBase64", NAPI_AUTO_LENGTH, decodeBase64, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "decodeBase64", fn));
  CHECK(napi_create_function(env, "topLevel", NAPI_AUTO_LENGTH, topLevel, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "topLevel", fn));
  CHECK(napi_create_function(env, "limitMallocArenas", NAPI_AUTO_LENGTH, limitMallocArenas, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "limitMallocArenas", fn));
  CHECK(napi_create_function(env, "arrayElements", NAPI_AUTO_LENGTH, arrayElements, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "arrayElements", fn));
  CHECK(napi_create_function(env, "deflateRaw", NAPI_AUTO_LENGTH, deflateRaw, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "deflateRaw", fn));
  CHECK(napi_create_function(env, "collectSoon", NAPI_AUTO_LENGTH, collectSoon, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "collectSoon", fn));
  CHECK(napi_create_function(env, "simdLevel", NAPI_AUTO_LENGTH, simdLevel, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "simdLevel", fn));
  CHECK(napi_create_function(env, "selfTest", NAPI_AUTO_LENGTH, selfTest, nullptr, &fn));
  CHECK(napi_set_named_property(env, exports, "selfTest", fn));
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)

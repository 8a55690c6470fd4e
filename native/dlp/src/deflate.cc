#include "deflate.h"

#include <zlib.h>

#include <stdexcept>

namespace airlock {
namespace {

struct Stream {
  z_stream z{};
  int level = -2;
  ~Stream() {
    if (level != -2) deflateEnd(&z);
  }
};

}  // namespace

std::string deflateRaw(const uint8_t* in, size_t len, int level) {
  thread_local Stream s;
  if (s.level != level) {
    if (s.level != -2) deflateEnd(&s.z);
    s.z = z_stream{};
    s.level = -2;
    // windowBits -15: raw deflate, as zlib.deflateRawSync writes it (and inflateRawSync reads it).
    if (deflateInit2(&s.z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2 failed");
    s.level = level;
  } else if (deflateReset(&s.z) != Z_OK) {
    throw std::runtime_error("deflateReset failed");
  }
  std::string out;
  out.resize(deflateBound(&s.z, static_cast<uLong>(len)));
  s.z.next_in = const_cast<Bytef*>(in);
  s.z.avail_in = static_cast<uInt>(len);
  s.z.next_out = reinterpret_cast<Bytef*>(out.data());
  s.z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&s.z, Z_FINISH) != Z_STREAM_END) throw std::runtime_error("deflate did not finish");
  out.resize(out.size() - s.z.avail_out);
  return out;
}

}  // namespace airlock

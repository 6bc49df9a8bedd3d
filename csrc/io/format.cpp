// The model file's shared helpers (io/format.hpp): CRC-32, hex, the byte-order check, the error of a bad file.
#include "io/format.hpp"

#include <array>
#include <cstdio>
#include <cstring>

#include "fastann/error.hpp"

namespace fastann::io_format {

namespace {

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

bool little_endian() {
  const uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

}  // namespace

uint32_t crc32(const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

void require_little_endian() {
  if (!little_endian()) throw UnavailableError("fastann model files are little-endian; this host is big-endian");
}

void bad(const std::string& msg) { throw IOError(msg); }

}  // namespace fastann::io_format

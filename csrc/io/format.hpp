// The model file's format constants and the helpers its writer (model_file.cpp) and reader (load_model.cpp) share.
// Internal to io/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace fastann::io_format {

inline constexpr const char* kFormat = "fastann.model";
inline constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // safetensors' own limit
inline constexpr int64_t kMaxDim = int64_t{1} << 40;

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib computes it; `crc` continues a previous result, so
// crc32(b, m, crc32(a, n)) is the CRC of a followed by b.
uint32_t crc32(const unsigned char* p, size_t n, uint32_t crc = 0);
std::string hex32(uint32_t v);  // 8 lower-case hex digits
// UnavailableError on a big-endian host (the files are little-endian).
void require_little_endian();
// Throws IOError(msg).
[[noreturn]] void bad(const std::string& msg);

}  // namespace fastann::io_format

// Element types of a Tensor: float32 (the default and the master-weight type), bfloat16 (mixed precision compute),
// int32 and int64 (indices, labels, token ids). Kernels are registered per (device, dtype).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fastann/export.hpp"

namespace fastann {

enum class DType : uint8_t { float32 = 0, bfloat16 = 1, int32 = 2, int64 = 3 };
inline constexpr int kNumDTypes = 4;

// Bytes per element.
constexpr size_t dtype_size(DType t) { return t == DType::bfloat16 ? 2 : t == DType::int64 ? 8 : 4; }
// "float32", "bfloat16", "int32", "int64" (NumPy's / Keras's names).
FASTANN_API const char* dtype_name(DType t);
// The dtype of a name above (also "float", "bf16", "int", "long"); ValueError listing the valid names otherwise.
FASTANN_API DType parse_dtype(const std::string& name);

// bfloat16: the upper 16 bits of an IEEE float32 (8 exponent bits, 7 mantissa bits). Stored, not computed with:
// arithmetic converts to float32 first.
struct bfloat16 {
  uint16_t bits = 0;

  bfloat16() = default;
  // Round to nearest even; a NaN stays a (quiet) NaN.
  explicit bfloat16(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) {
      bits = static_cast<uint16_t>((u >> 16) | 0x0040u);
    } else {
      u += 0x7fffu + ((u >> 16) & 1u);
      bits = static_cast<uint16_t>(u >> 16);
    }
  }
  explicit operator float() const {
    const uint32_t u = static_cast<uint32_t>(bits) << 16;
    float f;
    std::memcpy(&f, &u, sizeof f);
    return f;
  }
  static bfloat16 from_bits(uint16_t b) {
    bfloat16 h;
    h.bits = b;
    return h;
  }
};
static_assert(sizeof(bfloat16) == 2, "bfloat16 is two bytes");

// The DType of a C++ element type (float, bfloat16, int32_t, int64_t).
template <typename T>
struct dtype_of;
template <>
struct dtype_of<float> {
  static constexpr DType value = DType::float32;
};
template <>
struct dtype_of<bfloat16> {
  static constexpr DType value = DType::bfloat16;
};
template <>
struct dtype_of<int32_t> {
  static constexpr DType value = DType::int32;
};
template <>
struct dtype_of<int64_t> {
  static constexpr DType value = DType::int64;
};

}  // namespace fastann

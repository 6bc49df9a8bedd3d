// Inverted dropout's mask, shared by the CPU and CUDA kernels (one copy of the maths; FASTANN_HD functions). The
// mask of element i is a counter-based hash of (seed, i): any split of the elements between threads or a GPU grid
// gives the same mask, on every backend.
#pragma once

#include <cmath>
#include <cstdint>

#include "ops/hd.hpp"

namespace fastann::ops::formulas {

FASTANN_HD uint64_t mix64(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The per-call constants of a mask: an element is kept when its 24-bit uniform u * 2^24 >= threshold =
// ceil(rate * 2^24) (integers compared: no rounding), and a kept element is scaled by 1 / (1 - rate).
struct DropoutMask {
  uint64_t base = 0;
  uint64_t threshold = 0;
  float scale = 1.0f;
};

inline DropoutMask dropout_mask(double rate, uint64_t seed) {  // host only: computed once per call
  DropoutMask m;
  m.base = mix64(seed ^ 0x6A09E667F3BCC909ULL);
  m.threshold = static_cast<uint64_t>(std::ceil(rate * 16777216.0));
  m.scale = static_cast<float>(1.0 / (1.0 - rate));
  return m;
}

// The mask value of element i (its global index): 0 or the scale.
FASTANN_HD float dropout_mask_at(const DropoutMask& m, int64_t i) {
  const uint64_t h = mix64(m.base + static_cast<uint64_t>(i + 1) * 0x9E3779B97F4A7C15ULL);
  return (h >> 40) >= m.threshold ? m.scale : 0.0f;
}

}  // namespace fastann::ops::formulas

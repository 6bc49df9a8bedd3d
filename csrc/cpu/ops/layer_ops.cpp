// The L1/L2 regularizer's kernel (CPU).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cpu/ops/kernels.hpp"

namespace fastann::cpu {

double regularizer(float l1, float l2, const float* w, float* g, float grad_scale, int64_t n) {
  double s1 = 0.0, s2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    s1 += std::fabs(w[i]);
    s2 += static_cast<double>(w[i]) * w[i];
  }
  if (g) {
    const float c1 = l1 * grad_scale, c2 = 2.0f * l2 * grad_scale;
    for (int64_t i = 0; i < n; ++i) {
      const float wi = w[i];
      const float sg = wi > 0.0f ? 1.0f : (wi < 0.0f ? -1.0f : 0.0f);
      g[i] += c1 * sg + c2 * wi;
    }
  }
  return static_cast<double>(l1) * s1 + static_cast<double>(l2) * s2;
}

}  // namespace fastann::cpu

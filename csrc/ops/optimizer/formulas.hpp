// The optimizer update formulas shared by the CPU and CUDA kernels (one copy of the maths; FASTANN_HD functions).
// Each updates one element in place from its gradient and returns nothing; the scalars come from ops::OptStep.
#pragma once

#ifndef FASTANN_HD
#if defined(__CUDACC__)
#define FASTANN_HD __host__ __device__ __forceinline__
#else
#define FASTANN_HD inline
#endif
#endif

namespace fastann::ops::formulas {

// Lion (Keras 3; Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): with u = m * beta_1 +
// g * (1 - beta_1), w -= lr * sign(u), then m = m * beta_2 + g * (1 - beta_2). sign(0) = 0 and sign(NaN) = NaN, as
// keras.ops.sign, so a NaN gradient reaches the weight.
FASTANN_HD void lion_update(float& w, float& m, float g, float lr, float beta_1, float one_minus_beta_1, float beta_2,
                            float one_minus_beta_2) {
  const float u = m * beta_1 + g * one_minus_beta_1;
  const float sign = u > 0.0f ? 1.0f : u < 0.0f ? -1.0f : u;  // 0 (signed) or NaN passes through
  w -= lr * sign;
  m = m * beta_2 + g * one_minus_beta_2;
}

}  // namespace fastann::ops::formulas

// The fused optimizer update: one launch updates the whole flat parameter buffer (every layer's parameters), with
// Keras's rules exactly as the CPU kernel (csrc/cpu/ops/optimizer.cpp) applies them, element by element.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/backend.hpp"
#include "cuda/internal.hpp"
#include "ops/optimizer/formulas.hpp"

namespace fastann::cuda {

namespace {

__global__ void optimizer_kernel(ops::OptStep s, float* w, const float* g, float* s1, float* s2, float* s3,
                                 int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(blockDim.x) * gridDim.x) {
    float wi = w[i];
    if (s.decay_factor != 1.0f) wi *= s.decay_factor;
    const float gi = g[i];
    const float lr = s.lr;
    switch (s.kind) {
      case ops::Opt::sgd: {
        const float mu = s.momentum;
        if (mu == 0.0f) {
          wi -= lr * gi;
        } else {
          const float m = mu * s1[i] - lr * gi;
          s1[i] = m;
          wi += s.nesterov ? mu * m - lr * gi : m;
        }
        break;
      }
      case ops::Opt::adam:
      case ops::Opt::adamw: {
        const float m = s1[i] + (gi - s1[i]) * s.one_minus_beta_1;
        const float v = s2[i] + (gi * gi - s2[i]) * s.one_minus_beta_2;
        s1[i] = m;
        s2[i] = v;
        wi -= s.adam_alpha * m / (sqrtf(v) + s.epsilon);
        break;
      }
      case ops::Opt::rmsprop: {
        const float v = s.rho * s1[i] + s.one_minus_rho * gi * gi;
        s1[i] = v;
        float den = v;
        if (s.centered) {
          const float a = s.rho * s3[i] + s.one_minus_rho * gi;
          s3[i] = a;
          den = v - a * a;
        }
        const float step = lr * gi / sqrtf(den + s.epsilon);
        if (s.momentum > 0.0f) {
          const float m = s.momentum * s2[i] + step;
          s2[i] = m;
          wi -= m;
        } else {
          wi -= step;
        }
        break;
      }
      case ops::Opt::adagrad: {
        const float acc = s1[i] + gi * gi;
        s1[i] = acc;
        wi -= lr * gi / sqrtf(acc + s.epsilon);
        break;
      }
      case ops::Opt::lion:
        ops::formulas::lion_update(wi, s1[i], gi, lr, s.beta_1, s.one_minus_beta_1, s.beta_2, s.one_minus_beta_2);
        break;
    }
    w[i] = wi;
  }
}

}  // namespace

void optimizer_step(int device, const ops::OptStep& s, float* w, const float* g, float* s1, float* s2, float* s3,
                    int64_t n) {
  if (n <= 0) return;
  DeviceGuard guard(device);
  optimizer_kernel<<<blocks_for(n, 256), 256, 0, stream()>>>(s, w, g, s1, s2, s3, n);
  FASTANN_CUDA_CHECK_LAUNCH("optimizer_step");
}

}  // namespace fastann::cuda

// The optimizer op's CUDA kernel (float32): one launch updates the whole flat parameter buffer, element by element
// with formulas.hpp's rules, as the CPU kernel applies them.
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/internal.hpp"
#include "ops/optimizer/formulas.hpp"
#include "ops/optimizer/optimizer.hpp"

namespace fastann::ops::optimizer_kernels {

namespace {

// The slots a rule does not use are null: read as 0 and not written.
__global__ void step_kernel(OptStep s, float* w, const float* g, float* s1, float* s2, float* s3, int64_t n) {
  FASTANN_GRID_STRIDE(i, n) {
    float wi = w[i];
    if (s.decay_factor != 1.0f) wi *= s.decay_factor;
    float a = s1 ? s1[i] : 0.0f, b = s2 ? s2[i] : 0.0f, c = s3 ? s3[i] : 0.0f;
    formulas::update(s, wi, a, b, c, g[i]);
    w[i] = wi;
    if (s1) s1[i] = a;
    if (s2) s2[i] = b;
    if (s3) s3[i] = c;
  }
}

float* data_or_null(Tensor* t) { return t ? t->data<float>() : nullptr; }

void step_f32(const OptStep& s, Tensor& w, const Tensor& g, Tensor* s1, Tensor* s2, Tensor* s3) {
  const int64_t n = w.numel();
  cuda::DeviceGuard guard(w.device().index);
  step_kernel<<<cuda::blocks_for(n, 256), 256, 0, cuda::stream()>>>(
      s, w.data<float>(), g.data<float>(), data_or_null(s1), data_or_null(s2), data_or_null(s3), n);
  FASTANN_CUDA_CHECK_LAUNCH("optimizer_step");
}

}  // namespace

void register_cuda(Tables& t) { t.step.add(DeviceType::CUDA, DType::float32, &step_f32); }

}  // namespace fastann::ops::optimizer_kernels

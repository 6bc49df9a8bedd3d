// The dropout op's CPU kernels (float32), over chunks of the thread pool: the mask of an element depends on its
// global index only (formulas.hpp), so the result does not depend on the thread count.
#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/threadpool.hpp"
#include "ops/dropout/dropout.hpp"
#include "ops/dropout/formulas.hpp"

namespace fastann::ops::dropout_kernels {

void cpu_forward(double rate, uint64_t seed, const float* x, float* mask, float* y, int64_t n) {
  const formulas::DropoutMask m = formulas::dropout_mask(rate, seed);
  cpu::parallel_for(n, 16384, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const float k = formulas::dropout_mask_at(m, i);
      mask[i] = k;
      y[i] = x[i] * k;
    }
  });
}

void cpu_multiply(const float* a, const float* b, float* out, int64_t n) {
  const cpu::FlushDenormalsScope flush;
  cpu::parallel_for(n, 16384, [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) out[i] = a[i] * b[i];
  });
}

namespace {

void forward_f32(double rate, uint64_t seed, const Tensor& x, Tensor& mask, Tensor& y) {
  cpu_forward(rate, seed, x.data<float>(), mask.data<float>(), y.data<float>(), x.numel());
}

void multiply_f32(const Tensor& a, const Tensor& b, Tensor& out) {
  cpu_multiply(a.data<float>(), b.data<float>(), out.data<float>(), a.numel());
}

}  // namespace

void register_cpu(Tables& t) {
  t.forward.add(DeviceType::CPU, DType::float32, &forward_f32);
  t.multiply.add(DeviceType::CPU, DType::float32, &multiply_f32);
}

}  // namespace fastann::ops::dropout_kernels

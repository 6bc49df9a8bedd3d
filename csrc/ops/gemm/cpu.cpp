// The matrix products' CPU kernels (float32): the CPU backend's blocked GEMM (backends/cpu/gemm), with the bias and
// the activation (ops/activation's block kernel) fused into its epilogue.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/gemm/sgemm.hpp"
#include "ops/activation/activation.hpp"
#include "ops/gemm/gemm.hpp"

namespace fastann::ops::gemm_kernels {

namespace {

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const Tensor& a,
              const Tensor& b, float beta, Tensor& c, const Tensor* bias, const ActParams* act) {
  const cpu::FlushDenormalsScope flush;
  cpu::GemmEpilogue ep;
  ep.bias = bias ? bias->data<float>() : nullptr;
  if (act) {
    ep.block_fn = &activation_kernels::cpu_block;
    ep.ctx = act;
  }
  // Leading dimensions of empty operands are 0; the kernel's contract wants at least 1.
  cpu::sgemm(trans_a, trans_b, m, n, k, alpha, a.data<float>(), std::max<int64_t>(1, trans_a ? m : k), b.data<float>(),
             std::max<int64_t>(1, trans_b ? k : n), beta, c.data<float>(), n, (ep.bias || ep.block_fn) ? &ep : nullptr);
}

void batched_f32(int64_t m, int64_t n, int64_t k, const Tensor& a, const int64_t* a_off, const Tensor& b,
                 const int64_t* b_off, Tensor& c, int64_t count) {
  const cpu::FlushDenormalsScope flush;
  std::vector<const float*> pa(static_cast<size_t>(count)), pb(static_cast<size_t>(count));
  std::vector<float*> pc(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) {
    const auto i = static_cast<size_t>(t);
    pa[i] = a.data<float>() + a_off[t];
    pb[i] = b.data<float>() + b_off[t];
    pc[i] = c.data<float>() + t * m * n;
  }
  cpu::sgemm_batched(false, false, m, n, k, 1.0f, pa.data(), k, pb.data(), n, 0.0f, pc.data(), n, count);
}

}  // namespace

void register_cpu(Tables& t) {
  t.gemm.add(DeviceType::CPU, DType::float32, &gemm_f32);
  t.batched.add(DeviceType::CPU, DType::float32, &batched_f32);
}

}  // namespace fastann::ops::gemm_kernels

// The backend's memory kernels: fill (runtime::Backend::fill) and the upload of host int64 arrays (the batched GEMM's
// offsets). Op kernels live in their op folders (csrc/ops/<op>/cuda.cu).
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/backend.hpp"
#include "backends/cuda/internal.hpp"

namespace fastann::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void fill_kernel(float* p, int64_t n, float v) { FASTANN_GRID_STRIDE(i, n) p[i] = v; }

}  // namespace

std::shared_ptr<void> upload_int64(int device, const int64_t* host, int64_t n) {
  const size_t bytes = static_cast<size_t>(n > 0 ? n : 1) * sizeof(int64_t);
  std::shared_ptr<void> d = allocate(bytes, device);
  if (n > 0) {
    FASTANN_CUDA_CHECK(
        cudaMemcpyAsync(d.get(), host, static_cast<size_t>(n) * sizeof(int64_t), cudaMemcpyHostToDevice, stream()));
  }
  return d;
}

void fill(int device, float* p, int64_t n, float value) {
  if (n <= 0) return;
  DeviceGuard g(device);
  fill_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, n, value);
  FASTANN_CUDA_CHECK_LAUNCH("fill");
}

}  // namespace fastann::cuda

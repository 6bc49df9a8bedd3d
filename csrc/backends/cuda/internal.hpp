// Internals of the CUDA backend shared by its .cpp (host compiler) and .cu (nvcc) files: error checks with the call
// site, the current-device guard, the stream all work goes to, launch helpers.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <sstream>
#include <string>

#include "fastann/error.hpp"
#include "runtime/backend.hpp"

namespace fastann::cuda {

// Throws CudaError (OutOfMemoryError for cudaErrorMemoryAllocation) naming the error, the failed call and where.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

// Checks a CUDA runtime call: FASTANN_CUDA_CHECK(cudaMemcpy(...));
#define FASTANN_CUDA_CHECK(call)                                                                                 \
  do {                                                                                                           \
    const cudaError_t fastann_err_ = (call);                                                                     \
    if (fastann_err_ != cudaSuccess) ::fastann::cuda::throw_cuda_error(fastann_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: reports a launch failure (bad configuration, no kernel image for this GPU) at the launch.
#define FASTANN_CUDA_CHECK_LAUNCH(name) FASTANN_CUDA_CHECK(cudaPeekAtLastError())

// Makes `device` current for the guard's lifetime (restores the previous one).
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int prev_ = -1;
  int device_ = -1;
};

// The stream every op of the backend is queued on: the innermost StreamScope's (a model's own stream while it
// trains or predicts), else the legacy default stream of the current device. Work on one stream is ordered, which
// the caching allocator relies on (a block freed after a launch is only reused by later work on the same stream).
inline cudaStream_t stream() { return static_cast<cudaStream_t>(runtime::current_stream()); }

// Called by a stream's handle after the stream's work finished and before it is destroyed: the allocator moves the
// stream's cached blocks to the device's default pool (allocator.cpp).
void retire_stream(int device, cudaStream_t stream) noexcept;

// In a kernel: for each i in [0, n) that this thread handles (a grid-stride loop over int64 indices).
#define FASTANN_GRID_STRIDE(i, n)                                                        \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// Number of blocks of `threads` covering n items, capped (kernels use grid-stride loops).
inline unsigned blocks_for(int64_t n, int threads, int64_t cap = 65535LL * 8) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > cap) b = cap;
  return static_cast<unsigned>(b);
}

}  // namespace fastann::cuda

namespace fastann::cuda {
// Copies n host int64 values into device memory owned by the returned pointer (from the caching allocator).
std::shared_ptr<void> upload_int64(int device, const int64_t* host, int64_t n);
}  // namespace fastann::cuda

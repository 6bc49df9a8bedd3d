// The CUDA backend's functions: plain C++ (no CUDA headers), raw device pointers, implemented by
// csrc/backends/cuda/*.cpp/*.cu when the backend is built (FASTANN_CUDA). The rest of the library reaches the device
// part through runtime::backend(Device::cuda()) (runtime.cpp registers it) and the kernels through the ops, whose
// cuda.cu files (csrc/ops/<op>/cuda.cu) are the only code outside this folder that uses these functions. In test-only
// builds (FASTANN_CUDA_EMULATOR) tests/emulator/emulator.cpp implements the device part on the host and registers the
// ops' CUDA kernels itself. Every function taking `device` makes that device current for the call. All work is queued
// on the device's stream and ordered with it; functions returning host values (copies to the host) synchronise.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ops/types.hpp"
#include "runtime/backend.hpp"

namespace fastann::cuda {

// --- device queries and memory: what the runtime Backend of runtime.cpp exposes, and the kernels use ---
int device_count();                   // 0 without a driver or GPU
std::string device_name(int device);  // UnavailableError for a device that does not exist
// Throws UnavailableError naming the problem when `device` cannot be used (no driver, out of range).
void require_device(int device);
// TF32 tensor cores for float32 GEMMs (off by default, like torch.backends.cuda.matmul.allow_tf32).
void set_allow_tf32(bool enabled);
bool allow_tf32();
void synchronize(int device);
// Free and total memory of `device` in bytes (cudaMemGetInfo).
void mem_info(int device, size_t* free_bytes, size_t* total_bytes);
// A new stream on `device` (see runtime::Backend::create_stream). Work is queued on runtime::current_stream().
std::shared_ptr<void> create_stream(int device);

// --- memory: the caching allocator (csrc/backends/cuda/allocator.cpp) ---
// Device memory of at least `bytes` bytes (256-byte aligned), returned to the cache when the last owner drops it.
std::shared_ptr<void> allocate(size_t bytes, int device);
// Page-locked host memory for staging transfers (cached like device memory).
std::shared_ptr<void> allocate_pinned(size_t bytes);
using MemoryStats = runtime::MemoryStats;
MemoryStats memory_stats(int device);
void empty_cache();  // returns every cached (unused) block to the driver

// Copies `bytes` bytes; a pointer's device is -1 for host memory. Synchronous with respect to the host.
void copy(void* dst, int dst_device, const void* src, int src_device, size_t bytes);
void fill(int device, float* p, int64_t n, float value);

// --- the GEMM library (csrc/backends/cuda/gemm.cu; row-major float32), which ops/gemm/cuda.cu runs ---
// c = alpha op(a) op(b) + beta c (c not read when beta == 0), then + bias[col], then act
// (element-wise kinds; softmax is the activation op's, run by ops::gemm afterwards).
void gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias,
          const ops::ActParams* act);
// count products c_t = a_t b_t (no transposes, beta 0): a_t = a + a_off[t], b_t = b + b_off[t] (host arrays of
// element offsets), c_t = c + t * m * n.
void gemm_batched(int device, int64_t m, int64_t n, int64_t k, const float* a, const int64_t* a_off, const float* b,
                  const int64_t* b_off, float* c, int64_t count);
// Test hook: the kernel gemm() runs for these sizes on `device` ("small", "large", "tf32"; the emulator: "host")
// and into how many k slices it splits the product (*splits; 1: no split-K).
std::string gemm_plan(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t* splits);

}  // namespace fastann::cuda

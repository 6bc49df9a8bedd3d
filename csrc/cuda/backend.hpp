// The CUDA backend's functions: plain C++ (no CUDA headers), raw device pointers. The rest of the library reaches
// the device part through runtime::backend(Device::cuda()) (runtime.cpp registers it) and the kernels through the
// ops. Implemented by csrc/cuda/*.cpp/*.cu when the backend is built (FASTANN_CUDA), by csrc/cuda/stub.cpp
// (kernels only, which throw UnavailableError) without it, or, in test-only builds (FASTANN_CUDA_EMULATOR), by
// the emulator on the host.
// Every function taking `device` makes that device current for the call. All work is queued on the device's
// stream and ordered with it; functions returning host values (loss, first_non_finite, copies to the host)
// synchronise.
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

// --- memory: the caching allocator (csrc/cuda/allocator.cpp) ---
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

// --- kernels (row-major float32; see ops/ops.hpp for the semantics, which the CPU backend defines) ---
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
double loss(int device, const ops::LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols,
            float* grad, float* probs, float grad_scale, const float* weights);
// loss() without waiting for its value: the batch's total is added to *sum (a double in device memory) and, when
// that total is not finite and *first_bad < 0, *first_bad = step. Sparse labels are not checked (the caller has).
void loss_accumulate(int device, const ops::LossParams& p, const float* pred, const float* y, int64_t rows,
                     int64_t cols, float* grad, float* probs, float grad_scale, const float* weights, double* sum,
                     double* first_bad, int64_t step);
// Adds a batch to the state of a metric with ops::metric_is_sample_mean(kind) in device memory: acc[0] += sum of w *
// value, acc[1] += sum of w (w = 1 without weights), the values of csrc/cpu/ops/loss.cpp's metric_update. No wait.
void metric_accumulate(int device, const ops::MetricParams& p, const float* pred, const float* y, const float* weights,
                       int64_t rows, int64_t cols, double* acc);
// ops::regularizer without waiting for its value: *acc += factor * (l1 * sum|w| + l2 * sum w^2) (a double in device
// memory, sums in double); when g is given, g += grad_scale * (l1 * sign(w) + 2 * l2 * w) as the CPU computes it.
void regularizer_accumulate(int device, float l1, float l2, const float* w, float* g, float grad_scale, int64_t n,
                            double* acc, double factor);

}  // namespace fastann::cuda

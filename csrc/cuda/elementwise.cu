// Element-wise and row kernels: fill, bias gradient (column sums), row gather, finite check, dropout, multiply.
// Grid-stride loops over int64 indices. (The activations are the activation op's: csrc/ops/activation/cuda.cu.)
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cuda/backend.hpp"
#include "cuda/internal.hpp"

namespace fastann::cuda {

namespace {

constexpr int kThreads = 256;

__global__ void fill_kernel(float* p, int64_t n, float v) {
  FASTANN_GRID_STRIDE(i, n) p[i] = v;
}

// db[j] = sum over rows of dz[:, j], rows added in order (one thread per column; a warp reads 32 consecutive
// columns of a row: coalesced).
__global__ void column_sum_kernel(const float* dz, float* db, int64_t rows, int64_t cols) {
  FASTANN_GRID_STRIDE(j, cols) {
    float s = 0.0f;
    for (int64_t i = 0; i < rows; ++i) s += dz[i * cols + j];
    db[j] = s;
  }
}

// Stage 1 of a long column sum: block (bx, by) adds rows [by * chunk, (by + 1) * chunk) of columns
// [bx * 32, bx * 32 + 32): thread (x, y) sums every 8th row of its column from row y, then the 8 partial sums of a
// column are added in a fixed order; partial[by * cols + column] = the chunk's sum. Deterministic.
constexpr int64_t kColChunk = 512;  // rows per chunk (more when the rows would need over 65535 chunks)
__global__ void column_chunk_sum_kernel(const float* dz, float* partial, int64_t rows, int64_t cols, int64_t chunk) {
  __shared__ float part[8][33];
  const int64_t j = static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x;
  const int64_t r0 = static_cast<int64_t>(blockIdx.y) * chunk;
  const int64_t r1 = r0 + chunk < rows ? r0 + chunk : rows;
  float s = 0.0f;
  if (j < cols) {
    for (int64_t i = r0 + threadIdx.y; i < r1; i += 8) s += dz[i * cols + j];
  }
  part[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  if (threadIdx.y == 0 && j < cols) {
    float t = part[0][threadIdx.x];
    for (int y = 1; y < 8; ++y) t += part[y][threadIdx.x];
    partial[static_cast<int64_t>(blockIdx.y) * cols + j] = t;
  }
}

__global__ void gather_kernel(const float* src, const int64_t* idx, int64_t n, int64_t cols, float* dst) {
  FASTANN_GRID_STRIDE(e, n * cols) {
    const int64_t i = e / cols, j = e - i * cols;
    dst[e] = src[idx[i] * cols + j];
  }
}

__global__ void first_non_finite_kernel(const float* x, int64_t n, unsigned long long* first) {
  FASTANN_GRID_STRIDE(i, n) {
    if (!isfinite(x[i])) atomicMin(first, static_cast<unsigned long long>(i));
  }
}

}  // namespace

std::shared_ptr<void> upload_int64(int device, const int64_t* host, int64_t n) {
  const size_t bytes = static_cast<size_t>(n > 0 ? n : 1) * sizeof(int64_t);
  std::shared_ptr<void> d = allocate(bytes, device);
  if (n > 0) {
    FASTANN_CUDA_CHECK(cudaMemcpyAsync(d.get(), host, static_cast<size_t>(n) * sizeof(int64_t),
                                       cudaMemcpyHostToDevice, stream()));
  }
  return d;
}

void fill(int device, float* p, int64_t n, float value) {
  if (n <= 0) return;
  DeviceGuard g(device);
  fill_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(p, n, value);
  FASTANN_CUDA_CHECK_LAUNCH("fill");
}

void column_sum(int device, const float* dz, float* db, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  DeviceGuard g(device);
  // Up to a few thousand rows, one thread per column adds the rows in order (the CPU's order: bitwise its result).
  // Longer columns (the bias gradient at a large batch: 64 columns of 65536 rows) would leave all but a block or two
  // of the GPU idle behind one long serial loop, so they are summed in chunks of kColChunk rows by a 2-D grid, and
  // the chunk sums then in order: a different (pairwise-like, more accurate) order than the CPU's, deterministic.
  if (rows < 8 * kColChunk) {
    column_sum_kernel<<<blocks_for(cols, 128), 128, 0, stream()>>>(dz, db, rows, cols);
    FASTANN_CUDA_CHECK_LAUNCH("bias_grad");
    return;
  }
  const int64_t chunk = std::max<int64_t>(kColChunk, (rows + 65534) / 65535);  // grid.y <= 65535
  const int64_t chunks = (rows + chunk - 1) / chunk;
  const int64_t col_blocks = (cols + 31) / 32;
  const std::shared_ptr<void> ws = allocate(static_cast<size_t>(chunks * cols) * sizeof(float), device);
  auto* partial = static_cast<float*>(ws.get());
  column_chunk_sum_kernel<<<dim3(static_cast<unsigned>(col_blocks), static_cast<unsigned>(chunks)), dim3(32, 8), 0,
                            stream()>>>(dz, partial, rows, cols, chunk);
  FASTANN_CUDA_CHECK_LAUNCH("bias_grad (chunks)");
  column_sum_kernel<<<blocks_for(cols, 128), 128, 0, stream()>>>(partial, db, chunks, cols);
  FASTANN_CUDA_CHECK_LAUNCH("bias_grad");
}

void gather_rows_device_index(int device, const float* src, const int64_t* idx, int64_t n, int64_t cols,
                              float* dst) {
  if (n <= 0 || cols <= 0) return;
  DeviceGuard g(device);
  gather_kernel<<<blocks_for(n * cols, kThreads), kThreads, 0, stream()>>>(src, idx, n, cols, dst);
  FASTANN_CUDA_CHECK_LAUNCH("gather_rows");
}

void gather_rows(int device, const float* src, const int64_t* idx, int64_t n, int64_t cols, float* dst) {
  if (n <= 0 || cols <= 0) return;
  DeviceGuard g(device);
  const std::shared_ptr<void> d_idx = upload_int64(device, idx, n);
  gather_rows_device_index(device, src, static_cast<const int64_t*>(d_idx.get()), n, cols, dst);
}

std::shared_ptr<void> upload_indices(int device, const int64_t* idx, int64_t n) {
  DeviceGuard g(device);
  return upload_int64(device, idx, n);
}

int64_t first_non_finite(int device, const float* x, int64_t n) {
  if (n <= 0) return -1;
  DeviceGuard g(device);
  std::shared_ptr<void> d = allocate(sizeof(unsigned long long), device);
  auto* first = static_cast<unsigned long long*>(d.get());
  const unsigned long long none = ~0ULL;
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(first, &none, sizeof(none), cudaMemcpyHostToDevice, stream()));
  first_non_finite_kernel<<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(x, n, first);
  FASTANN_CUDA_CHECK_LAUNCH("first_non_finite");
  unsigned long long h = none;
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(&h, first, sizeof(h), cudaMemcpyDeviceToHost, stream()));
  FASTANN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  return h == none ? -1 : static_cast<int64_t>(h);
}

}  // namespace fastann::cuda

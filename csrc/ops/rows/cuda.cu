// The row ops' CUDA kernels (float32): grid-stride loops over int64 indices.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "backends/cuda/internal.hpp"
#include "ops/rows/rows.hpp"
#include "runtime/backend.hpp"

namespace fastann::ops::rows_kernels {

namespace {

constexpr int kThreads = 256;

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

void column_sum_f32(const Tensor& dz_t, Tensor& db_t, int64_t rows, int64_t cols) {
  const int device = dz_t.device().index;
  cuda::DeviceGuard guard(device);
  const float* dz = dz_t.data<float>();
  float* db = db_t.data<float>();
  // Up to a few thousand rows, one thread per column adds the rows in order (the CPU's order: bitwise its result).
  // Longer columns (the bias gradient at a large batch: 64 columns of 65536 rows) would leave all but a block or two
  // of the GPU idle behind one long serial loop, so they are summed in chunks of kColChunk rows by a 2-D grid, and
  // the chunk sums then in order: a different (pairwise-like, more accurate) order than the CPU's, deterministic.
  if (rows < 8 * kColChunk) {
    column_sum_kernel<<<cuda::blocks_for(cols, 128), 128, 0, cuda::stream()>>>(dz, db, rows, cols);
    FASTANN_CUDA_CHECK_LAUNCH("bias_grad");
    return;
  }
  const int64_t chunk = std::max<int64_t>(kColChunk, (rows + 65534) / 65535);  // grid.y <= 65535
  const int64_t chunks = (rows + chunk - 1) / chunk;
  const int64_t col_blocks = (cols + 31) / 32;
  const std::shared_ptr<void> ws =
      runtime::backend(dz_t.device()).allocate(static_cast<size_t>(chunks * cols) * sizeof(float), device);
  auto* partial = static_cast<float*>(ws.get());
  column_chunk_sum_kernel<<<dim3(static_cast<unsigned>(col_blocks), static_cast<unsigned>(chunks)), dim3(32, 8), 0,
                            cuda::stream()>>>(dz, partial, rows, cols, chunk);
  FASTANN_CUDA_CHECK_LAUNCH("bias_grad (chunks)");
  column_sum_kernel<<<cuda::blocks_for(cols, 128), 128, 0, cuda::stream()>>>(partial, db, chunks, cols);
  FASTANN_CUDA_CHECK_LAUNCH("bias_grad");
}

void gather_f32(const Tensor& src, const int64_t* idx, int64_t n, int64_t cols, Tensor& dst) {
  cuda::DeviceGuard guard(src.device().index);
  gather_kernel<<<cuda::blocks_for(n * cols, kThreads), kThreads, 0, cuda::stream()>>>(src.data<float>(), idx, n, cols,
                                                                                       dst.data<float>());
  FASTANN_CUDA_CHECK_LAUNCH("gather_rows");
}

int64_t first_non_finite_f32(const Tensor& t) {
  const int device = t.device().index;
  const int64_t n = t.numel();
  cuda::DeviceGuard guard(device);
  const std::shared_ptr<void> d = runtime::backend(t.device()).allocate(sizeof(unsigned long long), device);
  auto* first = static_cast<unsigned long long*>(d.get());
  const unsigned long long none = ~0ULL;
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(first, &none, sizeof(none), cudaMemcpyHostToDevice, cuda::stream()));
  first_non_finite_kernel<<<cuda::blocks_for(n, kThreads), kThreads, 0, cuda::stream()>>>(t.data<float>(), n, first);
  FASTANN_CUDA_CHECK_LAUNCH("first_non_finite");
  unsigned long long h = none;
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(&h, first, sizeof(h), cudaMemcpyDeviceToHost, cuda::stream()));
  FASTANN_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  return h == none ? -1 : static_cast<int64_t>(h);
}

}  // namespace

void register_cuda(Tables& t) {
  t.column_sum.add(DeviceType::CUDA, DType::float32, &column_sum_f32);
  t.gather.add(DeviceType::CUDA, DType::float32, &gather_f32);
  t.first_non_finite.add(DeviceType::CUDA, DType::float32, &first_non_finite_f32);
}

}  // namespace fastann::ops::rows_kernels

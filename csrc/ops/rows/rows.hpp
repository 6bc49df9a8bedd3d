// The row ops of the layers and the fit loop: the bias gradient (column sums), the row gather that assembles a batch,
// and the finite check of the inputs. rows.cpp checks the operands and runs the kernel registered for their
// (device, dtype): cpu.cpp, cuda.cu (or the test-only CUDA emulator). A (device, dtype) with no kernel is an
// UnavailableError naming all three.
#pragma once

#include <cstdint>
#include <memory>

#include "core/registry.hpp"
#include "fastann/tensor.hpp"

namespace fastann::ops {

// db = sum over rows of dz; dz (rows, cols), db (cols). Each column is added in row order on the CPU (independent of
// the thread count).
void bias_grad(const Tensor& dz, Tensor& db);
// dst rows = src rows idx[0..n) (idx in host memory); dst has >= n rows. A CPU source may feed a CUDA destination
// (a dataset too large for the GPU: gathered into page-locked memory, then one copy).
void gather_rows(const Tensor& src, const int64_t* idx, int64_t n, Tensor& dst);

// Row indices where a device's gathers read them: on a CUDA device a copy made once (e.g. an epoch's order, used by
// all of its batches: no upload per batch); on the CPU the caller's array itself, which must outlive the use.
class RowIndex {
 public:
  void assign(const int64_t* idx, int64_t n, Device device);
  const int64_t* data() const { return data_; }
  int64_t size() const { return n_; }
  Device device() const { return device_; }

 private:
  std::shared_ptr<void> mem_;  // the device copy
  const int64_t* data_ = nullptr;
  int64_t n_ = 0;
  Device device_;
};
// dst rows = src rows idx[begin .. begin + n); src, dst and idx on one device.
void gather_rows(const Tensor& src, const RowIndex& idx, int64_t begin, int64_t n, Tensor& dst);

// Index of the first NaN or infinity in t (flat, row-major), or -1 when every element is finite.
int64_t first_non_finite(const Tensor& t);

namespace rows_kernels {

// Kernels with the ops' arguments, checked, on the kernel's device: dz (rows, cols) with cols > 0; the gather's idx
// (n > 0 entries, each a valid row of src) in the kernel's device memory; t non-empty.
using ColumnSum = void (*)(const Tensor& dz, Tensor& db, int64_t rows, int64_t cols);
using Gather = void (*)(const Tensor& src, const int64_t* idx, int64_t n, int64_t cols, Tensor& dst);
using FirstNonFinite = int64_t (*)(const Tensor& t);

struct Tables {
  KernelTable<ColumnSum> column_sum{"bias_grad"};
  KernelTable<Gather> gather{"gather_rows"};
  KernelTable<FirstNonFinite> first_non_finite{"first_non_finite"};
};

// The registrations (ops/kernel_tables.hpp): cpu.cpp; cuda.cu (or the test-only CUDA emulator).
void register_cpu(Tables& t);
void register_cuda(Tables& t);

// The CPU kernels on raw float32 buffers (threaded; the emulator runs them on the host).
void cpu_column_sum(const float* dz, float* db, int64_t rows, int64_t cols);
void cpu_gather(const float* src, const int64_t* idx, int64_t n, int64_t cols, float* dst);
int64_t cpu_first_non_finite(const float* x, int64_t n);

}  // namespace rows_kernels

}  // namespace fastann::ops

// The row ops: argument checks, then the kernel registered for the operands' (device, dtype).
#include "ops/rows/rows.hpp"

#include <algorithm>

#include "core/check.hpp"
#include "ops/device_check.hpp"
#include "ops/kernel_tables.hpp"
#include "runtime/backend.hpp"

namespace fastann::ops {

namespace {

const rows_kernels::Tables& kernels() { return kernel_tables<rows_kernels::Tables>(); }

// Elements per row of a gather's source (a 1-D source has rows of one element).
int64_t row_size(const Tensor& src) { return src.ndim() <= 1 ? 1 : src.numel() / std::max<int64_t>(1, src.dim(0)); }

// The checks every gather makes; returns the row size.
int64_t check_gather(const Tensor& src, const int64_t* idx, int64_t n, const Tensor& dst, bool idx_on_host) {
  FASTANN_CHECK_ARG(n >= 0, "gather_rows: negative row count " << n);
  FASTANN_CHECK_ARG(src.dtype() == dst.dtype(), "gather_rows: source is " << dtype_name(src.dtype())
                                                                          << " but destination is "
                                                                          << dtype_name(dst.dtype()));
  const int64_t cols = row_size(src);
  FASTANN_CHECK_ARG(dst.numel() >= n * cols, "gather_rows: destination of shape "
                                                 << shape_str(dst.shape()) << " is too small for " << n << " rows of "
                                                 << cols);
  if (idx_on_host) {  // device indices were checked when they were taken (RowIndex::assign callers' orders)
    const int64_t rows = src.ndim() == 0 ? 1 : src.dim(0);
    for (int64_t i = 0; i < n; ++i) {
      FASTANN_CHECK_ARG(idx[i] >= 0 && idx[i] < rows,
                        "gather_rows: index " << idx[i] << " at " << i << " is not a row of the " << rows);
    }
  }
  return cols;
}

}  // namespace

void bias_grad(const Tensor& dz, Tensor& db) {
  const DeviceCheck dc = devices("bias_grad", {&dz, &db});
  FASTANN_CHECK_ARG(dz.ndim() == 2 && db.numel() == dz.dim(1), "bias_grad: dz of shape "
                                                                   << shape_str(dz.shape()) << " and db of shape "
                                                                   << shape_str(db.shape()) << " do not match");
  FASTANN_CHECK_ARG(db.dtype() == dz.dtype(),
                    "bias_grad: dz is " << dtype_name(dz.dtype()) << " but db is " << dtype_name(db.dtype()));
  const auto kernel = kernels().column_sum.lookup(dc.dev.type, dz.dtype());
  if (dz.dim(1) == 0) return;
  kernel(dz, db, dz.dim(0), dz.dim(1));
}

void gather_rows(const Tensor& src, const int64_t* idx, int64_t n, Tensor& dst) {
  const int64_t cols = check_gather(src, idx, n, dst, true);
  if (!dst.is_cpu() && src.is_cpu()) {
    // Host source, device destination (a dataset too large for the GPU): gather into page-locked memory, then one
    // copy to the device.
    const auto gather = kernels().gather.lookup(DeviceType::CPU, src.dtype());
    if (n == 0 || cols == 0) return;
    const size_t bytes = static_cast<size_t>(n * cols) * src.itemsize();
    runtime::Backend& backend = runtime::backend(dst.device());
    const std::shared_ptr<void> pinned = backend.allocate_pinned(bytes);
    Tensor staged = Tensor::view_bytes(pinned.get(), {n, cols}, src.dtype());
    gather(src, idx, n, cols, staged);
    backend.copy(dst.raw_data(), dst.device().index, pinned.get(), -1, bytes);
    return;
  }
  const DeviceCheck dc = devices("gather_rows", {&src, &dst});
  if (dc.dev.type == DeviceType::CPU) {
    const auto gather = kernels().gather.lookup(DeviceType::CPU, src.dtype());
    if (n > 0 && cols > 0) gather(src, idx, n, cols, dst);
    return;
  }
  RowIndex on_device;  // host indices for a device gather: uploaded for this call
  on_device.assign(idx, n, dc.dev);
  gather_rows(src, on_device, 0, n, dst);
}

void RowIndex::assign(const int64_t* idx, int64_t n, Device device) {
  FASTANN_CHECK_ARG(n >= 0, "RowIndex: negative index count " << n);
  n_ = n;
  device_ = device;
  if (device.type == DeviceType::CPU) {
    mem_.reset();
    data_ = idx;
    return;
  }
  runtime::Backend& backend = runtime::backend(device);
  const size_t bytes = static_cast<size_t>(n) * sizeof(int64_t);
  mem_ = backend.allocate(std::max<size_t>(bytes, sizeof(int64_t)), device.index);
  backend.copy(mem_.get(), device.index, idx, -1, bytes);
  data_ = static_cast<const int64_t*>(mem_.get());
}

void gather_rows(const Tensor& src, const RowIndex& idx, int64_t begin, int64_t n, Tensor& dst) {
  FASTANN_CHECK_ARG(begin >= 0 && n >= 0 && begin + n <= idx.size(), "gather_rows: rows [" << begin << ", " << begin + n
                                                                                           << ") outside the "
                                                                                           << idx.size() << " indices");
  if (idx.device().type == DeviceType::CPU) return gather_rows(src, idx.data() + begin, n, dst);
  const DeviceCheck dc = devices("gather_rows", {&src, &dst});
  FASTANN_CHECK_ARG(src.device() == idx.device() && dst.device() == idx.device(),
                    "gather_rows: source on " << src.device().str() << ", destination on " << dst.device().str()
                                              << ", indices on " << idx.device().str());
  const int64_t cols = check_gather(src, nullptr, n, dst, false);
  const auto gather = kernels().gather.lookup(dc.dev.type, src.dtype());
  if (n > 0 && cols > 0) gather(src, idx.data() + begin, n, cols, dst);
}

int64_t first_non_finite(const Tensor& t) {
  const auto kernel = kernels().first_non_finite.lookup(t.device().type, t.dtype());
  return t.numel() == 0 ? -1 : kernel(t);
}

}  // namespace fastann::ops

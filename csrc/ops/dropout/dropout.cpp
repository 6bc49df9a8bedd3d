// The dropout op: argument checks, then the kernel registered for the operands' (device, dtype).
#include "ops/dropout/dropout.hpp"

#include <initializer_list>

#include "core/check.hpp"
#include "ops/device_check.hpp"
#include "ops/kernel_tables.hpp"

namespace fastann::ops {

namespace {

const dropout_kernels::Tables& kernels() { return kernel_tables<dropout_kernels::Tables>(); }

}  // namespace

void dropout_forward(double rate, uint64_t seed, const Tensor& x, Tensor& mask, Tensor& y) {
  const DeviceCheck dc = devices("dropout", {&x, &mask, &y});
  FASTANN_CHECK_ARG(rate >= 0.0 && rate < 1.0, "dropout: rate must be in [0, 1), got " << rate);
  FASTANN_CHECK_ARG(mask.numel() == x.numel() && y.numel() == x.numel(),
                    "dropout: x " << shape_str(x.shape()) << ", mask " << shape_str(mask.shape()) << " and y "
                                  << shape_str(y.shape()) << " differ in size");
  check_same_dtype("dropout", x, {&mask, &y});
  const auto kernel = kernels().forward.lookup(dc.dev.type, x.dtype());
  if (x.numel() == 0) return;
  kernel(rate, seed, x, mask, y);
}

void multiply(const Tensor& a, const Tensor& b, Tensor& out) {
  const DeviceCheck dc = devices("multiply", {&a, &b, &out});
  FASTANN_CHECK_ARG(a.numel() == b.numel() && out.numel() == a.numel(),
                    "multiply: operands " << shape_str(a.shape()) << ", " << shape_str(b.shape()) << " -> "
                                          << shape_str(out.shape()) << " differ in size");
  check_same_dtype("multiply", a, {&b, &out});
  const auto kernel = kernels().multiply.lookup(dc.dev.type, a.dtype());
  if (a.numel() == 0) return;
  kernel(a, b, out);
}

}  // namespace fastann::ops

// The activation op: argument checks, then the kernel registered for the operands' (device, dtype).
#include "ops/activation/activation.hpp"

#include "core/check.hpp"
#include "ops/device_check.hpp"
#include "ops/kernel_tables.hpp"

namespace fastann::ops {

namespace {

const activation_kernels::Tables& kernels() { return kernel_tables<activation_kernels::Tables>(); }

void check_dtypes(const char* op, const Tensor& a, const char* a_name, const Tensor& b, const char* b_name) {
  FASTANN_CHECK_ARG(
      !a.defined() || !b.defined() || a.dtype() == b.dtype(),
      op << ": " << a_name << " is " << dtype_name(a.dtype()) << " but " << b_name << " is " << dtype_name(b.dtype()));
}

}  // namespace

void activation_forward(const ActParams& p, const Tensor& x, Tensor& y) {
  const DeviceCheck dc = devices("activation", {&x, &y});
  FASTANN_CHECK_ARG(x.numel() == y.numel(), "activation: input " << shape_str(x.shape()) << " and output "
                                                                 << shape_str(y.shape()) << " differ in size");
  check_dtypes("activation", x, "x", y, "y");
  const auto kernel = kernels().forward.lookup(dc.dev.type, x.dtype());
  if (x.numel() == 0) return;
  kernel(p, x, y, rows_of(x), cols_of(x));
}

void activation_backward(const ActParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
  const bool from_out = act_grad_from_output(p);
  const Tensor& used = from_out ? y : x;
  FASTANN_CHECK_ARG(p.kind == Act::linear || (used.defined() && used.numel() == dy.numel()),
                    "activation_backward: " << act_name(p.kind) << " needs its " << (from_out ? "output" : "input")
                                            << " of the gradient's size");
  FASTANN_CHECK_ARG(dx.numel() == dy.numel(), "activation_backward: dx and dy differ in size");
  static const Tensor none;  // made once: constructing a Tensor zeroes its 128 bytes, and this runs every step
  const Tensor& x_used = p.kind != Act::linear && !from_out ? x : none;
  const Tensor& y_used = p.kind != Act::linear && from_out ? y : none;
  const DeviceCheck dc = devices("activation_backward", {&dy, &dx, &x_used, &y_used});
  check_dtypes("activation_backward", dy, "dy", dx, "dx");
  check_dtypes("activation_backward", dy, "dy", used, from_out ? "y" : "x");
  const auto kernel = kernels().backward.lookup(dc.dev.type, dy.dtype());
  if (dy.numel() == 0) return;
  kernel(p, x_used, y_used, dy, dx, rows_of(dy), cols_of(dy));
}

}  // namespace fastann::ops

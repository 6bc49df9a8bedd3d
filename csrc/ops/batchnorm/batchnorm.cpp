// The batch-norm op: argument checks, then the kernel registered for the operands' (device, dtype).
#include "ops/batchnorm/batchnorm.hpp"

#include <initializer_list>

#include "core/check.hpp"
#include "ops/device_check.hpp"
#include "ops/kernel_tables.hpp"

namespace fastann::ops {

namespace {

const batchnorm_kernels::Tables& kernels() { return kernel_tables<batchnorm_kernels::Tables>(); }

// Checks of the operands: x and y (rows, cols), every per-feature vector (cols,), all of x's device and dtype.
// Returns the device.
Device check_bn(const char* op, const Tensor& x, const Tensor& y, std::initializer_list<const Tensor*> vecs) {
  DeviceCheck dc = devices(op, {&x, &y});
  FASTANN_CHECK_ARG(x.ndim() == 2, op << ": x must be 2-D (rows, features), got " << shape_str(x.shape()));
  // Dimensions compared one by one: shape() makes a std::vector, and this runs in the training steady state.
  FASTANN_CHECK_ARG(y.ndim() == 2 && y.dim(0) == x.dim(0) && y.dim(1) == x.dim(1),
                    op << ": output " << shape_str(y.shape()) << " differs from x " << shape_str(x.shape()));
  FASTANN_CHECK_ARG(y.dtype() == x.dtype(),
                    op << ": x is " << dtype_name(x.dtype()) << " but its output is " << dtype_name(y.dtype()));
  for (const Tensor* v : vecs) {
    if (!v) continue;
    dc(*v);
    FASTANN_CHECK_ARG(v->numel() == x.dim(1), op << ": per-feature vectors must have " << x.dim(1) << " elements, got "
                                                 << shape_str(v->shape()));
    FASTANN_CHECK_ARG(v->dtype() == x.dtype(), op << ": x is " << dtype_name(x.dtype())
                                                  << " but a per-feature vector is " << dtype_name(v->dtype()));
  }
  return dc.dev;
}

}  // namespace

void batchnorm_forward_train(const Tensor& x, const Tensor* gamma, const Tensor* beta, float epsilon, float momentum,
                             float one_minus_momentum, Tensor& mean, Tensor& invstd, Tensor& moving_mean,
                             Tensor& moving_variance, Tensor& y) {
  const Device dev = check_bn("batchnorm", x, y, {gamma, beta, &mean, &invstd, &moving_mean, &moving_variance});
  FASTANN_CHECK_ARG(x.dim(0) > 0, "batchnorm: the batch is empty");
  const auto kernel = kernels().train.lookup(dev.type, x.dtype());
  if (x.dim(1) == 0) return;
  kernel(x, gamma, beta, epsilon, momentum, one_minus_momentum, mean, invstd, moving_mean, moving_variance, y);
}

void batchnorm_forward_infer(const Tensor& x, const Tensor* gamma, const Tensor* beta, const Tensor& mean,
                             const Tensor& variance, float epsilon, Tensor& y) {
  const Device dev = check_bn("batchnorm", x, y, {gamma, beta, &mean, &variance});
  const auto kernel = kernels().infer.lookup(dev.type, x.dtype());
  if (x.dim(1) == 0) return;
  kernel(x, gamma, beta, mean, variance, epsilon, y);
}

void batchnorm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor* gamma,
                        const Tensor& dy, Tensor* dgamma, Tensor* dbeta, Tensor* dx) {
  const Device dev = check_bn("batchnorm_backward", x, dy, {&mean, &invstd, gamma, dgamma, dbeta});
  if (dx) {
    FASTANN_CHECK_ARG(dx->ndim() == 2 && dx->dim(0) == x.dim(0) && dx->dim(1) == x.dim(1),
                      "batchnorm_backward: dx must have x's shape " << shape_str(x.shape()));
    devices("batchnorm_backward", {&x, dx});
    FASTANN_CHECK_ARG(dx->dtype() == x.dtype(),
                      "batchnorm_backward: x is " << dtype_name(x.dtype()) << " but dx is " << dtype_name(dx->dtype()));
  }
  const auto kernel = kernels().backward.lookup(dev.type, x.dtype());
  if (x.dim(1) == 0) return;  // an empty batch still writes dgamma = dbeta = 0
  kernel(x, mean, invstd, gamma, dy, dgamma, dbeta, dx);
}

}  // namespace fastann::ops

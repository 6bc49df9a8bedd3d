// The optimizer op: argument checks, then the kernel registered for the parameters' (device, dtype).
#include "ops/optimizer/optimizer.hpp"

#include <initializer_list>

#include "core/check.hpp"
#include "ops/device_check.hpp"
#include "ops/kernel_tables.hpp"

namespace fastann::ops {

namespace {

const optimizer_kernels::Tables& kernels() { return kernel_tables<optimizer_kernels::Tables>(); }

}  // namespace

void optimizer_step(const OptStep& s, Tensor& w, const Tensor& g, Tensor& s1, Tensor& s2, Tensor& s3) {
  const DeviceCheck dc = devices("optimizer", {&w, &g, &s1, &s2, &s3});
  FASTANN_CHECK_ARG(g.numel() == w.numel(), "optimizer: gradient and parameter sizes differ");
  for (const Tensor* t :
       {&g, static_cast<const Tensor*>(&s1), static_cast<const Tensor*>(&s2), static_cast<const Tensor*>(&s3)}) {
    FASTANN_CHECK_ARG(!t->defined() || t->dtype() == w.dtype(), "optimizer: parameters are " << dtype_name(w.dtype())
                                                                                             << " but an operand is "
                                                                                             << dtype_name(t->dtype()));
  }
  const auto kernel = kernels().step.lookup(dc.dev.type, w.dtype());
  if (w.numel() == 0) return;
  auto slot = [&](Tensor& t) { return t.defined() && t.numel() == w.numel() ? &t : nullptr; };
  kernel(s, w, g, slot(s1), slot(s2), slot(s3));
}

}  // namespace fastann::ops

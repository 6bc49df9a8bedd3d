// The matrix products: argument checks, then the kernel registered for the operands' (device, dtype).
#include "ops/gemm/gemm.hpp"

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "core/check.hpp"
#include "ops/activation/activation.hpp"
#include "ops/device_check.hpp"
#include "ops/kernel_tables.hpp"

namespace fastann::ops {

namespace {

const gemm_kernels::Tables& kernels() { return kernel_tables<gemm_kernels::Tables>(); }

}  // namespace

void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c,
          const Tensor* bias, const ActParams* act) {
  const DeviceCheck dc = devices("gemm", {&a, &b, &c, bias});
  check_same_dtype("gemm", a, {&b, &c, bias});
  FASTANN_CHECK_ARG(a.ndim() == 2 && b.ndim() == 2 && c.ndim() == 2,
                    "gemm: operands must be 2-D, got " << shape_str(a.shape()) << ", " << shape_str(b.shape()) << " -> "
                                                       << shape_str(c.shape()));
  const int64_t m = trans_a ? a.dim(1) : a.dim(0);
  const int64_t k = trans_a ? a.dim(0) : a.dim(1);
  const int64_t kb = trans_b ? b.dim(1) : b.dim(0);
  const int64_t n = trans_b ? b.dim(0) : b.dim(1);
  FASTANN_CHECK_ARG(k == kb && c.dim(0) == m && c.dim(1) == n, "gemm: shapes do not match: op(a) is ("
                                                                   << m << ", " << k << "), op(b) is (" << kb << ", "
                                                                   << n << "), c is " << shape_str(c.shape()));
  if (bias) {
    FASTANN_CHECK_ARG(bias->numel() == n, "gemm: bias has " << bias->numel() << " elements, expected " << n);
  }
  // The epilogue fuses the bias and an element-wise activation into the GEMM; softmax (a row op) runs afterwards.
  const bool softmax = act && act->kind == Act::softmax;
  const ActParams* fused = act && act->kind != Act::linear && !softmax ? act : nullptr;
  const auto kernel = kernels().gemm.lookup(dc.dev.type, a.dtype());
  if (m == 0 || n == 0) return;
  kernel(trans_a, trans_b, m, n, k, alpha, a, b, beta, c, bias, fused);
  if (softmax) activation_forward(*act, c, c);
}

std::string gemm_plan(Device device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t* splits) {
  FASTANN_CHECK_ARG(device.type == DeviceType::CUDA,
                    "gemm_plan: a CUDA device is required, got '" << device.str() << "'");
  return kernels().plan.lookup(device.type, DType::float32)(device.index, trans_a, trans_b, m, n, k, splits);
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const DeviceCheck dc = devices("matmul", {&a_in, &b_in});
  check_same_dtype("matmul", a_in, {&b_in});
  FASTANN_CHECK_ARG(a_in.ndim() >= 1 && b_in.ndim() >= 1, "matmul: operands must have at least 1 dimension, got "
                                                              << shape_str(a_in.shape()) << " and "
                                                              << shape_str(b_in.shape()));
  // Promote 1-D operands as NumPy does: a (k,) -> (1, k), b (k,) -> (k, 1); the axis is dropped afterwards.
  Shape as = a_in.shape(), bs = b_in.shape();
  const bool a_vec = as.size() == 1, b_vec = bs.size() == 1;
  if (a_vec) as.insert(as.begin(), 1);
  if (b_vec) bs.push_back(1);
  const int64_t m = as[as.size() - 2], k = as.back(), kb = bs[bs.size() - 2], n = bs.back();
  FASTANN_CHECK_ARG(k == kb, "matmul: shapes " << shape_str(a_in.shape()) << " and " << shape_str(b_in.shape())
                                               << " are not aligned: " << k << " (dim " << as.size() - 1
                                               << " of a) != " << kb << " (dim " << bs.size() - 2 << " of b)");
  // Broadcast the batch dimensions.
  const size_t nb = std::max(as.size(), bs.size()) - 2;
  Shape batch(nb, 1);
  std::vector<int64_t> astride(nb, 0), bstride(nb, 0);  // in matrices, 0 where broadcast
  {
    int64_t sa = 1, sb = 1;
    for (size_t i = 0; i < nb; ++i) {
      const size_t r = nb - 1 - i;  // from the innermost batch dim outwards
      const int64_t da = i < as.size() - 2 ? as[as.size() - 3 - i] : 1;
      const int64_t db = i < bs.size() - 2 ? bs[bs.size() - 3 - i] : 1;
      FASTANN_CHECK_ARG(da == db || da == 1 || db == 1, "matmul: batch dimensions of "
                                                            << shape_str(a_in.shape()) << " and "
                                                            << shape_str(b_in.shape()) << " cannot be broadcast");
      batch[r] = da == 1 ? db : da;  // a size-0 dim broadcasts against 1 to 0, as NumPy does
      astride[r] = da == 1 ? 0 : sa;
      bstride[r] = db == 1 ? 0 : sb;
      sa *= da;
      sb *= db;
    }
  }
  Shape out_shape = batch;
  if (!a_vec) out_shape.push_back(m);
  if (!b_vec) out_shape.push_back(n);
  const auto batched = kernels().batched.lookup(dc.dev.type, a_in.dtype());
  const auto single = kernels().gemm.lookup(dc.dev.type, a_in.dtype());
  Tensor out = Tensor::empty(out_shape, dc.set ? dc.dev : Device::cpu(), a_in.dtype());
  int64_t count = 1;
  for (int64_t d : batch) count *= d;
  if (out.numel() == 0) return out;
  if (k == 0) {
    out.fill(0.0f);
    return out;
  }
  // Element offsets of each product's operands, walking the broadcast batch index like an odometer (c_t is
  // contiguous at t * m * n).
  std::vector<int64_t> oa(static_cast<size_t>(count)), ob(static_cast<size_t>(count));
  {
    std::vector<int64_t> ix(nb, 0);
    for (int64_t t = 0; t < count; ++t) {
      int64_t ia = 0, ib = 0;
      for (size_t d = 0; d < nb; ++d) {
        ia += ix[d] * astride[d];
        ib += ix[d] * bstride[d];
      }
      oa[static_cast<size_t>(t)] = ia * m * k;
      ob[static_cast<size_t>(t)] = ib * k * n;
      for (size_t d = nb; d-- > 0;) {
        if (++ix[d] < batch[d]) break;
        ix[d] = 0;
      }
    }
  }
  if (count == 1) {
    single(false, false, m, n, k, 1.0f, a_in, b_in, 0.0f, out, nullptr, nullptr);  // the kernels read (m, k), (k, n)
  } else {
    batched(m, n, k, a_in, oa.data(), b_in, ob.data(), out, count);
  }
  return out;
}

}  // namespace fastann::ops

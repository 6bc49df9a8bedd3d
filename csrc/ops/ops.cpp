// Op routing and argument checks (see ops.hpp).
#include "ops/ops.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <vector>

#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/gemm/sgemm.hpp"
#include "backends/cpu/threadpool.hpp"
#include "core/check.hpp"
#include "cpu/ops/kernels.hpp"
#include "cuda/backend.hpp"
#include "ops/device_check.hpp"
#include "runtime/backend.hpp"

namespace fastann::ops {

namespace {

// Host copies for the ops the CUDA backend runs on the CPU (metrics other than the sample means, class weights):
// correct, and small next to a layer's GEMMs, but a synchronising round trip.
Tensor host(const Tensor& t) { return t.defined() && !t.is_cpu() ? t.to(Device::cpu()) : t; }

void check_weights(const Tensor* w, int64_t rows, const char* what) {
  if (!w) return;
  FASTANN_CHECK_ARG(w->numel() == rows,
                    what << ": expected " << rows << " sample weights, got shape " << shape_str(w->shape()));
}

}  // namespace

void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c,
          const Tensor* bias, const ActParams* act) {
  const cpu::FlushDenormalsScope flush;
  const DeviceCheck dc = devices("gemm", {&a, &b, &c, bias});
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
  if (dc.cuda()) {
    cuda::gemm(dc.dev.index, trans_a, trans_b, m, n, k, alpha, a.data(), std::max<int64_t>(1, a.dim(1)), b.data(),
               std::max<int64_t>(1, b.dim(1)), beta, c.data(), n, bias ? bias->data() : nullptr, fused);
  } else if (m > 0 && n > 0) {
    cpu::GemmEpilogue ep;
    ep.bias = bias ? bias->data() : nullptr;
    if (fused) {
      ep.block_fn = &activation_kernels::cpu_block;
      ep.ctx = fused;
    }
    // Leading dimensions of empty operands are 0; the kernel's contract wants at least 1.
    cpu::sgemm(trans_a, trans_b, m, n, k, alpha, a.data(), std::max<int64_t>(1, a.dim(1)), b.data(),
               std::max<int64_t>(1, b.dim(1)), beta, c.data(), n, (ep.bias || ep.block_fn) ? &ep : nullptr);
  }
  if (softmax && m > 0 && n > 0) activation_forward(*act, c, c);
}

std::string gemm_plan(Device device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t* splits) {
  FASTANN_CHECK_ARG(device.type == DeviceType::CUDA,
                    "gemm_plan: a CUDA device is required, got '" << device.str() << "'");
  return cuda::gemm_plan(device.index, trans_a, trans_b, m, n, k, splits);
}

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const cpu::FlushDenormalsScope flush;
  const DeviceCheck dc = devices("matmul", {&a_in, &b_in});
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
  Tensor out = Tensor::empty(out_shape, dc.set ? dc.dev : Device::cpu());
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
  if (dc.cuda()) {
    if (count == 1) {
      cuda::gemm(dc.dev.index, false, false, m, n, k, 1.0f, a_in.data() + oa[0], k, b_in.data() + ob[0], n, 0.0f,
                 out.data(), n, nullptr, nullptr);
    } else {
      cuda::gemm_batched(dc.dev.index, m, n, k, a_in.data(), oa.data(), b_in.data(), ob.data(), out.data(), count);
    }
    return out;
  }
  std::vector<const float*> pa(static_cast<size_t>(count)), pb(static_cast<size_t>(count));
  std::vector<float*> pc(static_cast<size_t>(count));
  for (int64_t t = 0; t < count; ++t) {
    const auto i = static_cast<size_t>(t);
    pa[i] = a_in.data() + oa[i];
    pb[i] = b_in.data() + ob[i];
    pc[i] = out.data() + t * m * n;
  }
  if (count == 1) {
    cpu::sgemm(false, false, m, n, k, 1.0f, pa[0], k, pb[0], n, 0.0f, pc[0], n);
  } else {
    cpu::sgemm_batched(false, false, m, n, k, 1.0f, pa.data(), k, pb.data(), n, 0.0f, pc.data(), n, count);
  }
  return out;
}

namespace {

// The checks of loss(); returns the operands' device.
DeviceCheck check_loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
                       const Tensor* weights) {
  const DeviceCheck dc = devices("loss", {&pred, &y_true, grad, probs, weights});
  const int64_t rows = rows_of(pred);
  if (p.kind == Loss::scce) {
    FASTANN_CHECK_ARG(y_true.numel() == rows, "sparse_categorical_crossentropy: expected "
                                                  << rows << " class indices, got y of shape "
                                                  << shape_str(y_true.shape()));
  } else {
    FASTANN_CHECK_ARG(y_true.numel() == pred.numel(), loss_name(p.kind)
                                                          << ": y_true of shape " << shape_str(y_true.shape())
                                                          << " does not match y_pred " << shape_str(pred.shape()));
  }
  if (grad) FASTANN_CHECK_ARG(grad->numel() == pred.numel(), "loss: gradient buffer has the wrong size");
  if (probs) FASTANN_CHECK_ARG(probs->numel() == pred.numel(), "loss: probability buffer has the wrong size");
  check_weights(weights, rows, "loss");
  return dc;
}

// The checks of regularizer; returns the operands' device.
DeviceCheck check_regularizer(float l1, float l2, const Tensor& w, const Tensor* g) {
  const DeviceCheck dc = devices("regularizer", {&w, g});
  FASTANN_CHECK_ARG(l1 >= 0.0f && l2 >= 0.0f && std::isfinite(l1) && std::isfinite(l2),
                    "regularizer: l1 and l2 must be finite and >= 0, got " << l1 << " and " << l2);
  if (g) {
    FASTANN_CHECK_ARG(g->numel() == w.numel(), "regularizer: gradient and weight sizes differ");
  }
  return dc;
}

// The checks of metric_update; returns the operands' device.
DeviceCheck check_metric(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights) {
  const DeviceCheck dc = devices("metric", {&pred, &y_true, weights});
  const int64_t rows = rows_of(pred);
  if (metric_is_sparse(p.kind)) {
    FASTANN_CHECK_ARG(y_true.numel() == rows, metric_name(p.kind)
                                                  << ": expected " << rows << " class indices, got y of shape "
                                                  << shape_str(y_true.shape()));
  } else {
    FASTANN_CHECK_ARG(y_true.numel() == pred.numel(), metric_name(p.kind)
                                                          << ": y_true of shape " << shape_str(y_true.shape())
                                                          << " does not match y_pred " << shape_str(pred.shape()));
  }
  FASTANN_CHECK_ARG(p.kind != Metric::auc || p.num_thresholds > 1,
                    "auc: num_thresholds must be > 1, got " << p.num_thresholds);
  check_weights(weights, rows, "metric");
  return dc;
}

}  // namespace

double loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
            float grad_scale, const Tensor* weights) {
  const cpu::FlushDenormalsScope flush;
  const DeviceCheck dc = check_loss(p, pred, y_true, grad, probs, weights);
  const int64_t cols = pred.ndim() == 0 ? 1 : pred.dim(-1);
  const int64_t rows = rows_of(pred);
  if (dc.cuda()) {
    return cuda::loss(dc.dev.index, p, pred.data(), y_true.data(), rows, cols, grad ? grad->data() : nullptr,
                      probs && p.from_logits ? probs->data() : nullptr, grad_scale,
                      weights ? weights->data() : nullptr);
  }
  return cpu::loss(p, pred.data(), y_true.data(), rows, cols, grad ? grad->data() : nullptr,
                   probs && p.from_logits ? probs->data() : nullptr, grad_scale, weights ? weights->data() : nullptr);
}

void StateSums::reset(Device device, int64_t size) {
  FASTANN_CHECK_ARG(size >= 1, "StateSums: size must be >= 1, got " << size);
  if (device != device_ || size != size_) acc_.reset();
  device_ = device;
  size_ = size;
  host_.assign(static_cast<size_t>(size), 0.0);
  first_bad_ = -1;
  if (device.type != DeviceType::CUDA) return;
  const size_t bytes = static_cast<size_t>(size + 1) * sizeof(double);
  runtime::Backend& backend = runtime::backend(device);
  if (!acc_) acc_ = backend.allocate(bytes, device.index);
  staged_.assign(static_cast<size_t>(size + 1), 0.0);
  staged_.back() = -1.0;
  backend.copy(acc_.get(), device.index, staged_.data(), -1, bytes);
}

void StateSums::add_loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
                         float grad_scale, const Tensor* weights, int64_t step) {
  if (device_.type != DeviceType::CUDA) {
    const double l = loss(p, pred, y_true, grad, probs, grad_scale, weights);
    host_[0] += l;
    if (first_bad_ < 0 && !std::isfinite(l)) first_bad_ = step;
    return;
  }
  const DeviceCheck dc = check_loss(p, pred, y_true, grad, probs, weights);
  FASTANN_CHECK_ARG(dc.dev == device_, "loss: operands on " << dc.dev.str() << ", the sums on " << device_.str());
  auto* acc = static_cast<double*>(acc_.get());
  cuda::loss_accumulate(device_.index, p, pred.data(), y_true.data(), rows_of(pred),
                        pred.ndim() == 0 ? 1 : pred.dim(-1), grad ? grad->data() : nullptr,
                        probs && p.from_logits ? probs->data() : nullptr, grad_scale,
                        weights ? weights->data() : nullptr, acc, acc + size_, step);
}

void StateSums::add_regularizer(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale, double factor) {
  if (device_.type != DeviceType::CUDA) {
    host_[0] += factor * regularizer(l1, l2, w, g, grad_scale);
    return;
  }
  const DeviceCheck dc = check_regularizer(l1, l2, w, g);
  FASTANN_CHECK_ARG(dc.dev == device_,
                    "regularizer: operands on " << dc.dev.str() << ", the sums on " << device_.str());
  cuda::regularizer_accumulate(device_.index, l1, l2, w.data(), g ? g->data() : nullptr, grad_scale, w.numel(),
                               static_cast<double*>(acc_.get()), factor);
}

void StateSums::add_metric(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights,
                           int64_t offset) {
  FASTANN_CHECK_ARG(offset >= 0 && offset + metric_state_size(p) <= size_,
                    "StateSums: metric state [" << offset << ", " << offset + metric_state_size(p) << ") outside the "
                                                << size_ << " sums");
  const DeviceCheck dc = check_metric(p, pred, y_true, weights);
  if (device_.type != DeviceType::CUDA || !dc.cuda() || !metric_is_sample_mean(p.kind)) {
    metric_update(p, pred, y_true, weights, host_.data() + offset);
    return;
  }
  FASTANN_CHECK_ARG(dc.dev == device_, "metric: operands on " << dc.dev.str() << ", the sums on " << device_.str());
  const int64_t rows = rows_of(pred), cols = pred.ndim() == 0 ? 1 : pred.dim(-1);
  cuda::metric_accumulate(device_.index, p, pred.data(), y_true.data(), weights ? weights->data() : nullptr, rows, cols,
                          static_cast<double*>(acc_.get()) + offset);
}

int64_t StateSums::take(double* state) {
  int64_t bad = first_bad_;
  if (device_.type == DeviceType::CUDA) {
    const size_t bytes = static_cast<size_t>(size_ + 1) * sizeof(double);
    runtime::Backend& backend = runtime::backend(device_);
    backend.copy(staged_.data(), -1, acc_.get(), device_.index, bytes);  // waits for the queued batches
    for (int64_t k = 0; k < size_; ++k) state[k] += staged_[static_cast<size_t>(k)];
    if (bad < 0 && staged_.back() >= 0.0) bad = static_cast<int64_t>(staged_.back());
    std::fill(staged_.begin(), staged_.end(), 0.0);
    staged_.back() = -1.0;
    backend.copy(acc_.get(), device_.index, staged_.data(), -1, bytes);
  }
  for (int64_t k = 0; k < size_; ++k) {
    state[k] += host_[static_cast<size_t>(k)];
    host_[static_cast<size_t>(k)] = 0.0;
  }
  first_bad_ = -1;
  return bad;
}

void class_sample_weights(const Tensor& y_true, const std::vector<float>& class_weight, Tensor& w) {
  devices("class_weight", {&y_true, &w});
  if (!w.is_cpu()) {  // on the host (see host())
    Tensor hw = Tensor::empty(w.shape());
    class_sample_weights(host(y_true), class_weight, hw);
    w.copy_from(hw);
    return;
  }
  const int64_t cols = y_true.ndim() <= 1 ? 1 : y_true.dim(-1);
  const int64_t rows = y_true.ndim() == 0 ? 1 : y_true.numel() / std::max<int64_t>(cols, 1);
  FASTANN_CHECK_ARG(w.numel() == rows,
                    "class_weight: expected a weight buffer of " << rows << " elements, got " << shape_str(w.shape()));
  cpu::class_sample_weights(y_true.data(), rows, cols, class_weight.data(), static_cast<int64_t>(class_weight.size()),
                            w.data());
}

void metric_update(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights,
                   double* state) {
  const cpu::FlushDenormalsScope flush;
  const DeviceCheck dc = check_metric(p, pred, y_true, weights);
  if (dc.cuda()) {  // on the host (see host())
    const Tensor hw = weights ? host(*weights) : Tensor();
    return metric_update(p, host(pred), host(y_true), weights ? &hw : nullptr, state);
  }
  const int64_t cols = pred.ndim() == 0 ? 1 : pred.dim(-1);
  const int64_t rows = rows_of(pred);
  cpu::metric_update(p, pred.data(), y_true.data(), weights ? weights->data() : nullptr, rows, cols, state);
}

double regularizer(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale) {
  const cpu::FlushDenormalsScope flush;
  const DeviceCheck dc = check_regularizer(l1, l2, w, g);
  if (dc.cuda()) {  // the penalty is read back at once (StateSums::add_regularizer does not wait)
    StateSums sums;
    sums.reset(dc.dev, 1);
    sums.add_regularizer(l1, l2, w, g, grad_scale, 1.0);
    double r = 0.0;
    sums.take(&r);
    return r;
  }
  return cpu::regularizer(l1, l2, w.data(), g ? g->data() : nullptr, grad_scale, w.numel());
}

}  // namespace fastann::ops

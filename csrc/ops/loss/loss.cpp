// The loss op, the metric states, the regularizer and StateSums: argument checks, then the kernel registered for the
// operands' (device, dtype).
#include "ops/loss/loss.hpp"

#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "core/check.hpp"
#include "ops/device_check.hpp"
#include "ops/kernel_tables.hpp"
#include "runtime/backend.hpp"

namespace fastann::ops {

namespace {

const loss_kernels::Tables& kernels() { return kernel_tables<loss_kernels::Tables>(); }

// Host copies for what a device computes on the host (metrics other than the sample means, class weights): correct,
// and small next to a layer's GEMMs, but a synchronising round trip.
Tensor host(const Tensor& t) { return t.defined() && !t.is_cpu() ? t.to(Device::cpu()) : t; }

void check_weights(const Tensor* w, int64_t rows, const char* what) {
  if (!w) return;
  FASTANN_CHECK_ARG(w->numel() == rows,
                    what << ": expected " << rows << " sample weights, got shape " << shape_str(w->shape()));
}

// The checks of loss(); returns the operands' device.
DeviceCheck check_loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
                       const Tensor* weights) {
  const DeviceCheck dc = devices("loss", {&pred, &y_true, grad, probs, weights});
  check_same_dtype(loss_name(p.kind), pred, {&y_true, grad, probs, weights});
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
  check_same_dtype("regularizer", w, {g});
  return dc;
}

// The checks of metric_update; returns the operands' device.
DeviceCheck check_metric(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights) {
  const DeviceCheck dc = devices("metric", {&pred, &y_true, weights});
  check_same_dtype(metric_name(p.kind), pred, {&y_true, weights});
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

// probs is only written from logits.
Tensor* probs_of(const LossParams& p, Tensor* probs) { return p.from_logits ? probs : nullptr; }

}  // namespace

double loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
            float grad_scale, const Tensor* weights) {
  const DeviceCheck dc = check_loss(p, pred, y_true, grad, probs, weights);
  const auto kernel = kernels().loss.lookup(dc.dev.type, pred.dtype());
  const int64_t rows = rows_of(pred);
  if (rows == 0) return 0.0;
  return kernel(p, pred, y_true, grad, probs_of(p, probs), grad_scale, weights, rows, cols_of(pred));
}

void StateSums::reset(Device device, int64_t size) {
  FASTANN_CHECK_ARG(size >= 1, "StateSums: size must be >= 1, got " << size);
  if (device != device_ || size != size_) acc_.reset();
  device_ = device;
  size_ = size;
  host_.assign(static_cast<size_t>(size), 0.0);
  first_bad_ = -1;
  if (device.type == DeviceType::CPU) return;
  const size_t bytes = static_cast<size_t>(size + 1) * sizeof(double);
  runtime::Backend& backend = runtime::backend(device);
  if (!acc_) acc_ = backend.allocate(bytes, device.index);
  staged_.assign(static_cast<size_t>(size + 1), 0.0);
  staged_.back() = -1.0;
  backend.copy(acc_.get(), device.index, staged_.data(), -1, bytes);
}

void StateSums::add_loss(const LossParams& p, const Tensor& pred, const Tensor& y_true, Tensor* grad, Tensor* probs,
                         float grad_scale, const Tensor* weights, int64_t step) {
  if (device_.type == DeviceType::CPU) {
    const double l = loss(p, pred, y_true, grad, probs, grad_scale, weights);
    host_[0] += l;
    if (first_bad_ < 0 && !std::isfinite(l)) first_bad_ = step;
    return;
  }
  const DeviceCheck dc = check_loss(p, pred, y_true, grad, probs, weights);
  FASTANN_CHECK_ARG(dc.dev == device_, "loss: operands on " << dc.dev.str() << ", the sums on " << device_.str());
  const auto kernel = kernels().loss_accumulate.lookup(device_.type, pred.dtype());
  const int64_t rows = rows_of(pred);
  if (rows == 0) return;
  auto* acc = static_cast<double*>(acc_.get());
  kernel(p, pred, y_true, grad, probs_of(p, probs), grad_scale, weights, rows, cols_of(pred), acc, acc + size_, step);
}

void StateSums::add_regularizer(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale, double factor) {
  if (device_.type == DeviceType::CPU) {
    host_[0] += factor * regularizer(l1, l2, w, g, grad_scale);
    return;
  }
  const DeviceCheck dc = check_regularizer(l1, l2, w, g);
  FASTANN_CHECK_ARG(dc.dev == device_,
                    "regularizer: operands on " << dc.dev.str() << ", the sums on " << device_.str());
  const auto kernel = kernels().regularizer_accumulate.lookup(device_.type, w.dtype());
  if (w.numel() == 0) return;
  kernel(l1, l2, w, g, grad_scale, static_cast<double*>(acc_.get()), factor);
}

void StateSums::add_metric(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights,
                           int64_t offset) {
  FASTANN_CHECK_ARG(offset >= 0 && offset + metric_state_size(p) <= size_,
                    "StateSums: metric state [" << offset << ", " << offset + metric_state_size(p) << ") outside the "
                                                << size_ << " sums");
  const DeviceCheck dc = check_metric(p, pred, y_true, weights);
  if (device_.type == DeviceType::CPU || dc.dev.type == DeviceType::CPU || !metric_is_sample_mean(p.kind)) {
    metric_update(p, pred, y_true, weights, host_.data() + offset);
    return;
  }
  FASTANN_CHECK_ARG(dc.dev == device_, "metric: operands on " << dc.dev.str() << ", the sums on " << device_.str());
  const auto kernel = kernels().metric.lookup(device_.type, pred.dtype());
  const int64_t rows = rows_of(pred);
  if (rows == 0) return;
  kernel(p, pred, y_true, weights, rows, cols_of(pred), static_cast<double*>(acc_.get()) + offset);
}

int64_t StateSums::take(double* state) {
  int64_t bad = first_bad_;
  if (device_.type != DeviceType::CPU) {
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
    Tensor hw = Tensor::empty(w.shape(), Device::cpu(), w.dtype());
    class_sample_weights(host(y_true), class_weight, hw);
    w.copy_from(hw);
    return;
  }
  FASTANN_CHECK_ARG(w.dtype() == y_true.dtype(), "class_weight: y is " << dtype_name(y_true.dtype())
                                                                       << " but the weights are "
                                                                       << dtype_name(w.dtype()));
  const int64_t cols = y_true.ndim() <= 1 ? 1 : y_true.dim(-1);
  const int64_t rows = y_true.ndim() == 0 ? 1 : y_true.numel() / std::max<int64_t>(cols, 1);
  FASTANN_CHECK_ARG(w.numel() == rows,
                    "class_weight: expected a weight buffer of " << rows << " elements, got " << shape_str(w.shape()));
  const auto kernel = kernels().class_weights.lookup(DeviceType::CPU, y_true.dtype());
  if (rows == 0) return;
  kernel(y_true, rows, cols, class_weight.data(), static_cast<int64_t>(class_weight.size()), w);
}

void metric_update(const MetricParams& p, const Tensor& pred, const Tensor& y_true, const Tensor* weights,
                   double* state) {
  const DeviceCheck dc = check_metric(p, pred, y_true, weights);
  if (dc.dev.type != DeviceType::CPU) {  // on the host (see host())
    const Tensor hw = weights ? host(*weights) : Tensor();
    return metric_update(p, host(pred), host(y_true), weights ? &hw : nullptr, state);
  }
  const auto kernel = kernels().metric.lookup(DeviceType::CPU, pred.dtype());
  const int64_t rows = rows_of(pred);
  if (rows == 0) return;
  kernel(p, pred, y_true, weights, rows, cols_of(pred), state);
}

double regularizer(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale) {
  const DeviceCheck dc = check_regularizer(l1, l2, w, g);
  if (dc.dev.type != DeviceType::CPU) {  // the penalty is read back at once (StateSums::add_regularizer does not wait)
    StateSums sums;
    sums.reset(dc.dev, 1);
    sums.add_regularizer(l1, l2, w, g, grad_scale, 1.0);
    double r = 0.0;
    sums.take(&r);
    return r;
  }
  const auto kernel = kernels().regularizer.lookup(DeviceType::CPU, w.dtype());
  return w.numel() == 0 ? 0.0 : kernel(l1, l2, w, g, grad_scale);
}

}  // namespace fastann::ops

// The data adapter: checks of x, y and sample weights against the model, class weights, and the placement of data on
// the model's device (copied once, or staged batch by batch).
#include "nn/train/model_impl.hpp"

namespace fastann {

void Sequential::Impl::check_x(const Tensor& x, const char* what) const {
  if (input_shape.size() == 1) {
    FASTANN_CHECK_ARG(x.ndim() == 2, what << ": x must be 2-D (samples, features), got shape " << shape_str(x.shape()));
    FASTANN_CHECK_ARG(x.dim(1) == input_dim, what << ": x has " << x.dim(1) << " features but the model expects "
                                                  << input_dim << " (x shape " << shape_str(x.shape()) << ")");
    return;
  }
  FASTANN_CHECK_ARG(x.ndim() >= 1 && has_batch_shape(x, x.dim(0), input_shape),
                    what << ": x must have shape (samples, " << shape_str(input_shape).substr(1)
                         << " to match the model's input, got " << shape_str(x.shape()));
}

void Sequential::Impl::check_xy(const Tensor& x, const Tensor& y, const char* what) const {
  check_x(x, what);
  const int64_t n = x.dim(0);
  FASTANN_CHECK_ARG(n > 0, what << ": x is empty");
  FASTANN_CHECK_ARG(output_shape().size() == 1,
                    what << ": the model's output has shape " << shape_str(output_shape())
                         << " per sample; training and evaluating need one output axis (end the model with "
                            "Flatten or Dense)");
  FASTANN_CHECK_ARG(y.ndim() >= 1 && y.dim(0) == n, what << ": x and y have different numbers of samples: " << n
                                                         << " and " << (y.ndim() ? y.dim(0) : 0));
  if (loss.kind == ops::Loss::scce) {
    FASTANN_CHECK_ARG(y.numel() == n, what << ": sparse_categorical_crossentropy expects y of shape (" << n
                                           << ",) with class indices, got " << shape_str(y.shape()));
    // Checked here, over the whole data, so the row named is the caller's (the loss sees shuffled batches).
    const float classes = static_cast<float>(output_dim());
    const Tensor yh = on_host(y);
    for (int64_t i = 0; i < n; ++i) {
      const float v = yh.data()[i];
      FASTANN_CHECK_ARG(v >= 0.0f && v < classes && v == std::floor(v),
                        what << ": sparse_categorical_crossentropy: label " << v << " at row " << i
                             << " is not a class index in [0, " << output_dim() << ")");
    }
  } else {
    FASTANN_CHECK_ARG(y.ndim() == 2 && y.dim(1) == output_dim(),
                      what << ": y must have shape (" << n << ", " << output_dim()
                           << ") to match the model's output, got " << shape_str(y.shape()));
  }
  if (get_check_finite()) {
    check_finite(x, what, "x");
    check_finite(y, what, "y");
  }
}

Tensor Sequential::Impl::on_host(const Tensor& t) { return t.is_cpu() ? t : t.to(Device::cpu()); }

void Sequential::Impl::check_finite(const Tensor& t, const char* what, const char* arg) {
  const int64_t i = ops::first_non_finite(t);
  if (i < 0) return;
  const int64_t cols = t.ndim() >= 2 ? t.numel() / t.dim(0) : 1;
  const float v = on_host(Tensor::view(const_cast<float*>(t.data()) + i, {1}, t.device())).data()[0];
  throw ValueError(std::string(what) + ": " + arg + " contains " + (std::isnan(v) ? "NaN" : "infinity") + " at row " +
                   std::to_string(i / cols) + ", column " + std::to_string(i % cols) +
                   "; clean the data, or call fastann.set_check_finite(False) (C++: fastann::set_check_finite) "
                   "to use it as given");
}

Tensor Sequential::Impl::stage(const Tensor& src, const Tensor& ws) const {
  if (src.device() == device) return src;
  const int64_t rows = src.ndim() == 0 ? 1 : src.dim(0);
  Tensor dst = ws.rows(0, rows);
  dst.copy_from(src);
  return src.ndim() == dst.ndim() ? dst : dst.reshape(src.shape());
}

bool Sequential::Impl::place_data(std::initializer_list<Tensor*> data) const {
  if (device.type != DeviceType::CUDA) {  // a CPU model given device tensors (C++): host copies
    for (Tensor* t : data) {
      if (t->defined() && !t->is_cpu()) *t = t->to(Device::cpu());
    }
    return true;
  }
  int64_t bytes = 0;
  for (const Tensor* t : data) {
    if (t->defined() && t->device() != device) bytes += t->numel() * static_cast<int64_t>(sizeof(float));
  }
  if (bytes == 0) return true;
  int64_t limit = dataset_memory_limit();
  if (limit < 0) {
    size_t free_bytes = 0, total_bytes = 0;
    runtime::backend(device).mem_info(device.index, &free_bytes, &total_bytes);
    limit = static_cast<int64_t>(free_bytes / 2);
  }
  if (bytes > limit) return false;
  std::vector<Tensor> moved;
  try {
    for (const Tensor* t : data) moved.push_back(t->defined() ? t->to(device) : Tensor());
  } catch (const OutOfMemoryError&) {
    return false;  // the copies made so far are freed; batches are staged instead
  }
  size_t i = 0;
  for (Tensor* t : data) *t = std::move(moved[i++]);
  return true;
}

void Sequential::Impl::check_sample_weight(const Tensor& w, int64_t n, const char* what, const char* arg) {
  FASTANN_CHECK_ARG((w.ndim() == 1 || (w.ndim() == 2 && w.dim(1) == 1)) && w.dim(0) == n,
                    what << ": " << arg << " must have shape (" << n << ",), one weight per sample, got shape "
                         << shape_str(w.shape()));
  const Tensor wh = on_host(w);
  for (int64_t i = 0; i < n; ++i) {
    const float v = wh.data()[i];
    FASTANN_CHECK_ARG(std::isfinite(v) && v >= 0.0f,
                      what << ": " << arg << " must hold finite weights >= 0, got " << v << " at row " << i);
  }
}

int64_t Sequential::Impl::num_classes() const {
  return loss.kind == ops::Loss::scce || output_dim() > 1 ? output_dim() : 2;
}

Tensor Sequential::Impl::class_sample_weights(const Tensor& y, const std::vector<float>& cw, const char* what) const {
  const int64_t classes = num_classes();
  FASTANN_CHECK_ARG(static_cast<int64_t>(cw.size()) <= classes, what << ": class_weight has " << cw.size()
                                                                     << " entries but the model has " << classes
                                                                     << " classes (indices 0.." << classes - 1 << ")");
  for (size_t k = 0; k < cw.size(); ++k) {
    FASTANN_CHECK_ARG(std::isfinite(cw[k]) && cw[k] >= 0.0f,
                      what << ": class_weight for class " << k << " must be finite and >= 0, got " << cw[k]);
  }
  const int64_t n = y.dim(0);
  Tensor w = Tensor::empty({n}, y.device());
  ops::class_sample_weights(y.reshape({n, y.numel() / std::max<int64_t>(n, 1)}), cw, w);
  return w;
}

Tensor Sequential::Impl::batch_weights(const Tensor& y, const Tensor& sample_weight,
                                       const std::vector<float>& class_weight, const char* what) const {
  const int64_t n = y.dim(0);
  FASTANN_CHECK_ARG(!sample_weight.defined() || class_weight.empty(),
                    what << ": class_weight and sample_weight cannot be given together (pass one of them)");
  if (sample_weight.defined()) {
    check_sample_weight(sample_weight, n, what, "sample_weight");
    return sample_weight.ndim() == 1 ? sample_weight : sample_weight.reshape({n});
  }
  if (!class_weight.empty()) return class_sample_weights(y, class_weight, what);
  return Tensor();
}

}  // namespace fastann

// Tensor storage and views (see include/fastann/tensor.hpp).
#include "fastann/tensor.hpp"

#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>
#include <string>

#include "core/check.hpp"
#include "runtime/backend.hpp"

namespace fastann {

namespace {

constexpr size_t kAlign = 64;

int64_t checked_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    FASTANN_CHECK_ARG(d >= 0, "tensor dimensions must be >= 0, got shape " << shape_str(shape));
    if (d != 0 && n > INT64_MAX / d) throw ValueError("tensor shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  return n;
}

std::shared_ptr<void> allocate(int64_t numel, Device device) {
  runtime::Backend& backend = runtime::backend(device);  // UnavailableError: a device type this build lacks
  if (device.type == DeviceType::CUDA) {
    if (numel > static_cast<int64_t>(SIZE_MAX / sizeof(float)) - 64) {
      throw OutOfMemoryError("out of GPU memory: cannot allocate a tensor of " + std::to_string(numel) + " floats");
    }
    return backend.allocate(static_cast<size_t>(numel) * sizeof(float), device.index);  // checks the device
  }
  const auto out_of_memory = [numel] {
    std::ostringstream os;
    os << "out of memory: cannot allocate a tensor of " << numel << " floats ("
       << static_cast<double>(numel) * sizeof(float) / (1u << 30) << " GiB)";
    return OutOfMemoryError(os.str());
  };
  if (numel > static_cast<int64_t>((SIZE_MAX - kAlign) / sizeof(float))) throw out_of_memory();
  try {
    return backend.allocate(static_cast<size_t>(numel) * sizeof(float), 0);  // 64-byte aligned
  } catch (const OutOfMemoryError&) {
    throw out_of_memory();
  }
}

}  // namespace

Device Device::parse(const std::string& name) {
  if (name == "cpu") return cpu();
  if (name == "cuda") return cuda(0);
  if (name.rfind("cuda:", 0) == 0 && name.size() > 5) {
    int index = 0;
    for (size_t i = 5; i < name.size(); ++i) {
      if (name[i] < '0' || name[i] > '9' || index > 100000) {
        throw ValueError("invalid device '" + name + "': expected 'cpu', 'cuda' or 'cuda:N'");
      }
      index = index * 10 + (name[i] - '0');
    }
    return cuda(index);
  }
  throw ValueError("invalid device '" + name + "': expected 'cpu', 'cuda' or 'cuda:N'");
}

std::string Device::str() const {
  return type == DeviceType::CPU ? std::string("cpu") : "cuda:" + std::to_string(index);
}

std::string shape_str(const Shape& shape) {
  std::ostringstream os;
  os << '(';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  if (shape.size() == 1) os << ',';
  os << ')';
  return os.str();
}

void Tensor::set_shape(const Shape& shape) {
  if (shape.size() > static_cast<size_t>(kMaxDims)) {
    FASTANN_THROW(ValueError, "tensors have at most " << kMaxDims << " dimensions, got shape " << shape_str(shape));
  }
  numel_ = checked_numel(shape);
  ndim_ = static_cast<int>(shape.size());
  for (int i = 0; i < ndim_; ++i) dims_[i] = shape[static_cast<size_t>(i)];
}

Tensor::Tensor(Shape shape, Device device) : Tensor(empty(std::move(shape), device)) { fill(0.0f); }

Tensor Tensor::empty(Shape shape, Device device) {
  Tensor t;
  t.set_shape(shape);
  t.device_ = device;
  t.storage_ = allocate(t.numel_, device);
  t.data_ = static_cast<float*>(t.storage_.get());
  t.defined_ = true;
  return t;
}

Tensor Tensor::from_data(const float* data, Shape shape) {
  Tensor t = empty(std::move(shape));
  if (t.numel_ > 0) std::memcpy(t.data_, data, static_cast<size_t>(t.numel_) * sizeof(float));
  return t;
}

Tensor Tensor::view(float* data, Shape shape, Device device, std::shared_ptr<void> keep_alive) {
  Tensor t;
  t.set_shape(shape);
  FASTANN_CHECK_ARG(data != nullptr || t.numel_ == 0, "Tensor::view of a null pointer");
  t.device_ = device;
  t.storage_ = std::move(keep_alive);
  t.data_ = data;
  t.defined_ = true;
  return t;
}

int64_t Tensor::dim(int i) const {
  const int n = ndim();
  if (i < 0) i += n;
  FASTANN_CHECK_ARG(i >= 0 && i < n, "dimension index out of range for a tensor of shape " << shape_str(shape()));
  return dims_[i];
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  FASTANN_CHECK_ARG(ndim_ >= 1, "rows() of a 0-d tensor");
  FASTANN_CHECK_ARG(0 <= begin && begin <= end && end <= dims_[0],
                    "rows [" << begin << ", " << end << ") out of range for shape " << shape_str(shape()));
  int64_t row = 1;
  for (int i = 1; i < ndim_; ++i) row *= dims_[i];
  Tensor t = *this;
  t.dims_[0] = end - begin;
  t.numel_ = row * (end - begin);
  t.data_ = data_ + begin * row;
  return t;
}

Tensor Tensor::reshape(Shape shape) const {
  Tensor t = *this;
  t.set_shape(shape);
  FASTANN_CHECK_ARG(t.numel_ == numel_, "cannot reshape a tensor of shape " << shape_str(this->shape()) << " into "
                                                                           << shape_str(shape));
  return t;
}

Tensor Tensor::clone() const {
  if (is_cpu()) return from_data(data_, shape());
  return to(device_, /*copy=*/true);
}

Tensor Tensor::to(Device device, bool copy) const {
  FASTANN_CHECK_STATE(defined_, "to(" << device.str() << ") of an undefined tensor");
  if (device == device_ && !copy) return *this;
  Tensor t = empty(shape(), device);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  FASTANN_CHECK_ARG(src.numel_ == numel_, "copy_from: size mismatch, " << shape_str(src.shape()) << " into "
                                                                         << shape_str(shape()));
  if (numel_ == 0 || (src.data_ == data_ && src.device_ == device_)) return;
  const size_t bytes = static_cast<size_t>(numel_) * sizeof(float);
  if (is_cpu() && src.is_cpu()) {
    std::memmove(data_, src.data_, bytes);
    return;
  }
  // At least one side is on a CUDA device (host <-> device, or device <-> device).
  runtime::backend(is_cpu() ? src.device_ : device_)
      .copy(data_, is_cpu() ? -1 : device_.index, src.data_, src.is_cpu() ? -1 : src.device_.index, bytes);
}

void Tensor::fill(float value) {
  if (!is_cpu()) {
    runtime::backend(device_).fill(device_.index, data_, numel_, value);
    return;
  }
  for (int64_t i = 0; i < numel_; ++i) data_[i] = value;
}

}  // namespace fastann

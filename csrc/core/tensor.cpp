// Tensor storage and views (see include/fastann/tensor.hpp).
#include "fastann/tensor.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <sstream>
#include <string>
#include <type_traits>

#include "core/check.hpp"
#include "core/fault.hpp"
#include "runtime/backend.hpp"

namespace fastann {

namespace {

constexpr size_t kAlign = 64;

// The element count of `shape`, checked: negative dimensions, and an element count or a byte size (for elements of
// `itemsize` bytes, rounded up to the allocation alignment) past what the machine can address, raise ValueError.
int64_t checked_numel(const Shape& shape, size_t itemsize) {
  int64_t n = 1;
  for (int64_t d : shape) {
    FASTANN_CHECK_ARG(d >= 0, "tensor dimensions must be >= 0, got shape " << shape_str(shape));
    if (d != 0 && n > INT64_MAX / d) throw ValueError("tensor shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  const uint64_t max_bytes = std::min<uint64_t>(SIZE_MAX, INT64_MAX) - kAlign;
  if (static_cast<uint64_t>(n) > max_bytes / itemsize) {
    throw ValueError("tensor shape " + shape_str(shape) + " is too large: " + std::to_string(n) + " elements of " +
                     std::to_string(itemsize) + " bytes overflow the address space");
  }
  return n;
}

std::shared_ptr<void> allocate(const Shape& shape, int64_t numel, DType dtype, Device device) {
  fault::on_allocation("tensor");
  size_t bytes = static_cast<size_t>(numel) * dtype_size(dtype);  // no overflow: checked by checked_numel
  runtime::Backend& backend = runtime::backend(device);           // UnavailableError: a device type this build lacks
  if (device.type == DeviceType::CUDA) {
    return backend.allocate(bytes, device.index);  // checks the device
  }
  const auto out_of_memory = [&](const OutOfMemoryError& e) {
    std::ostringstream os;
    os << "out of memory: cannot allocate a tensor of " << numel
       << (dtype == DType::float32 ? std::string(" floats") : std::string(" ") + dtype_name(dtype) + " elements")
       << " (" << static_cast<double>(bytes) / (1u << 30) << " GiB) of shape " << shape_str(shape);
    const std::string why = e.what();
    const size_t only = why.find("only ");
    if (only != std::string::npos) os << ": " << why.substr(only);  // "only N GiB of memory are available"
    return OutOfMemoryError(os.str());
  };
  try {
    return backend.allocate(bytes, 0);  // 64-byte aligned
  } catch (const OutOfMemoryError& e) {
    throw out_of_memory(e);
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
  numel_ = checked_numel(shape, itemsize());
  ndim_ = static_cast<int>(shape.size());
  for (int i = 0; i < ndim_; ++i) dims_[i] = shape[static_cast<size_t>(i)];
}

Tensor::Tensor(const Shape& shape, Device device, DType dtype) : Tensor(empty(shape, device, dtype)) { fill(0.0f); }

Tensor Tensor::empty(const Shape& shape, Device device, DType dtype) {
  Tensor t;
  t.dtype_ = dtype;
  t.set_shape(shape);
  t.device_ = device;
  t.storage_ = allocate(shape, t.numel_, dtype, device);
  t.data_ = t.storage_.get();
  t.defined_ = true;
  return t;
}

Tensor Tensor::from_data(const float* data, const Shape& shape) { return from_bytes(data, shape, DType::float32); }

Tensor Tensor::from_bytes(const void* data, const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.numel_ > 0) std::memcpy(t.data_, data, t.nbytes());
  return t;
}

Tensor Tensor::view(float* data, const Shape& shape, Device device, std::shared_ptr<void> keep_alive) {
  return view_bytes(data, shape, DType::float32, device, std::move(keep_alive));
}

Tensor Tensor::view_bytes(void* data, const Shape& shape, DType dtype, Device device,
                          std::shared_ptr<void> keep_alive) {
  Tensor t;
  t.dtype_ = dtype;
  t.set_shape(shape);
  FASTANN_CHECK_ARG(data != nullptr || t.numel_ == 0, "Tensor::view of a null pointer");
  t.device_ = device;
  t.storage_ = std::move(keep_alive);
  t.data_ = data;
  t.defined_ = true;
  return t;
}

void Tensor::dtype_mismatch(DType want) const {
  FASTANN_THROW(TypeError, "tensor of dtype " << dtype_name(dtype_) << " and shape " << shape_str(shape())
                                              << " used where a " << dtype_name(want) << " tensor is expected");
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
  t.data_ = static_cast<char*>(data_) + static_cast<size_t>(begin * row) * itemsize();
  return t;
}

Tensor Tensor::reshape(const Shape& shape) const {
  Tensor t = *this;
  t.set_shape(shape);
  FASTANN_CHECK_ARG(t.numel_ == numel_,
                    "cannot reshape a tensor of shape " << shape_str(this->shape()) << " into " << shape_str(shape));
  return t;
}

Tensor Tensor::as_matrix() const {
  FASTANN_CHECK_ARG(ndim_ >= 1, "as_matrix() of a 0-d tensor");
  if (ndim_ == 2) return *this;
  Tensor t = *this;
  const int64_t cols = dims_[ndim_ - 1];
  t.ndim_ = 2;
  int64_t rows = 1;
  for (int i = 0; i + 1 < ndim_; ++i) rows *= dims_[i];
  t.dims_[0] = rows;
  t.dims_[1] = cols;
  for (int i = 2; i < kMaxDims; ++i) t.dims_[i] = 0;
  return t;
}

Tensor Tensor::clone() const {
  if (is_cpu()) return from_bytes(data_, shape(), dtype_);
  return to(device_, /*copy=*/true);
}

Tensor Tensor::to(Device device, bool copy) const {
  FASTANN_CHECK_STATE(defined_, "to(" << device.str() << ") of an undefined tensor");
  if (device == device_ && !copy) return *this;
  Tensor t = empty(shape(), device, dtype_);
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  FASTANN_CHECK_ARG(src.numel_ == numel_,
                    "copy_from: size mismatch, " << shape_str(src.shape()) << " into " << shape_str(shape()));
  FASTANN_CHECK_ARG(src.dtype_ == dtype_, "copy_from: dtype mismatch, " << dtype_name(src.dtype_) << " into "
                                                                        << dtype_name(dtype_) << " (use astype)");
  if (numel_ == 0 || (src.data_ == data_ && src.device_ == device_)) return;
  const size_t bytes = nbytes();
  if (is_cpu() && src.is_cpu()) {
    std::memmove(data_, src.data_, bytes);
    return;
  }
  // At least one side is on a CUDA device (host <-> device, or device <-> device).
  runtime::backend(is_cpu() ? src.device_ : device_)
      .copy(data_, is_cpu() ? -1 : device_.index, src.data_, src.is_cpu() ? -1 : src.device_.index, bytes);
}

namespace {

template <typename T>
T convert(float v) {
  if constexpr (std::is_same_v<T, float>) {
    return v;
  } else if constexpr (std::is_same_v<T, bfloat16>) {
    return bfloat16(v);
  } else {
    FASTANN_CHECK_ARG(std::isfinite(v) && v >= static_cast<float>(std::numeric_limits<T>::min()) &&
                          v < -static_cast<float>(std::numeric_limits<T>::min()),
                      "cannot convert " << v << " to an integer dtype");
    return static_cast<T>(v);
  }
}

template <typename T>
float to_float(T v) {
  return static_cast<float>(v);
}

template <typename T>
void fill_as(void* data, int64_t n, float value) {
  const T v = convert<T>(value);
  T* p = static_cast<T*>(data);
  for (int64_t i = 0; i < n; ++i) p[i] = v;
}

// Calls f(T{}) with T the C++ type of dtype.
// v as the integer type To; ValueError when it does not fit. (A function template of To, so that its body is only
// compiled for the integer pairs that call it.)
template <typename To, typename From>
To narrow_integer(From v, DType to) {
  FASTANN_CHECK_ARG(v >= std::numeric_limits<To>::min() && v <= std::numeric_limits<To>::max(),
                    "astype: " << v << " does not fit in " << dtype_name(to));
  return static_cast<To>(v);
}

template <typename F>
void visit_dtype(DType dtype, F&& f) {
  switch (dtype) {
    case DType::float32:
      return f(float{});
    case DType::bfloat16:
      return f(bfloat16{});
    case DType::int32:
      return f(int32_t{});
    case DType::int64:
      return f(int64_t{});
  }
}

}  // namespace

void Tensor::fill(float value) {
  if (!is_cpu()) {
    FASTANN_CHECK_ARG(dtype_ == DType::float32, "fill of a " << dtype_name(dtype_) << " tensor on " << device_.str()
                                                             << ": only float32 device tensors can be filled");
    runtime::backend(device_).fill(device_.index, static_cast<float*>(data_), numel_, value);
    return;
  }
  visit_dtype(dtype_, [&](auto tag) { fill_as<decltype(tag)>(data_, numel_, value); });
}

Tensor Tensor::astype(DType dtype) const {
  FASTANN_CHECK_STATE(defined_, "astype(" << dtype_name(dtype) << ") of an undefined tensor");
  FASTANN_CHECK_ARG(is_cpu(), "astype: the tensor is on " << device_.str() << "; convert it on the host");
  Tensor out = empty(shape(), dtype);
  const int64_t n = numel_;
  const void* src = data_;
  visit_dtype(dtype_, [&](auto from_tag) {
    using From = decltype(from_tag);
    const From* s = static_cast<const From*>(src);
    visit_dtype(dtype, [&](auto to_tag) {
      using To = decltype(to_tag);
      To* d = static_cast<To*>(out.data_);
      if constexpr (std::is_same_v<From, To>) {
        std::memcpy(d, s, static_cast<size_t>(n) * sizeof(To));
      } else if constexpr (std::is_integral_v<From> && std::is_integral_v<To>) {
        for (int64_t i = 0; i < n; ++i) d[i] = narrow_integer<To>(s[i], dtype);
      } else {
        for (int64_t i = 0; i < n; ++i) d[i] = convert<To>(to_float(s[i]));
      }
    });
  });
  return out;
}

}  // namespace fastann

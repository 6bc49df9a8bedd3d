// Tensor: a dense, row-major (C-contiguous) N-D array with a dtype (float32 by default; bfloat16, int32, int64), a
// shape and a device. It either owns a 64-byte aligned buffer (shared between copies of the Tensor object, like a NumPy
// array and its views) or is a view of memory owned by someone else (e.g. the caller's buffer: no copy is made for
// predict input).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "fastann/dtype.hpp"
#include "fastann/export.hpp"

namespace fastann {

using Shape = std::vector<int64_t>;

enum class DeviceType { CPU = 0, CUDA = 1 };

struct FASTANN_API Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  // Parses "cpu", "cuda", "cuda:N"; throws ValueError otherwise.
  static Device parse(const std::string& name);
  std::string str() const;
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

FASTANN_API std::string shape_str(const Shape& shape);  // "(2, 3)"

// A Tensor keeps its dimensions inline (no heap allocation), so views and row slices are cheap enough to make in
// the training loop's steady state.
class FASTANN_API Tensor {
 public:
  static constexpr int kMaxDims = 8;

  Tensor() = default;
  // Owning tensor filled with zeros. A shape whose element count or byte size overflows raises ValueError before
  // anything is allocated; memory that cannot be had raises OutOfMemoryError naming the size.
  explicit Tensor(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::float32);
  Tensor(std::initializer_list<int64_t> shape) : Tensor(Shape(shape)) {}

  // Owning tensor with unspecified contents.
  static Tensor empty(const Shape& shape, Device device = Device::cpu(), DType dtype = DType::float32);
  static Tensor empty(const Shape& shape, DType dtype) { return empty(shape, Device::cpu(), dtype); }
  // Owning CPU tensor holding a copy of data[0 .. numel).
  static Tensor from_data(const float* data, const Shape& shape);
  template <typename T>
  static Tensor from_values(const T* data, const Shape& shape) {
    return from_bytes(data, shape, dtype_of<T>::value);
  }
  // Owning CPU tensor of `dtype` holding a copy of numel * dtype_size(dtype) bytes at `data`.
  static Tensor from_bytes(const void* data, const Shape& shape, DType dtype);
  // Non-owning view of caller memory (must stay valid and unchanged in size while the view is used).
  // `keep_alive`, when given, is held by the view and its copies.
  static Tensor view(float* data, const Shape& shape, Device device = Device::cpu(),
                     std::shared_ptr<void> keep_alive = nullptr);
  static Tensor view(const float* data, const Shape& shape) { return view(const_cast<float*>(data), shape); }
  // A view of memory holding elements of `dtype`.
  static Tensor view_bytes(void* data, const Shape& shape, DType dtype, Device device = Device::cpu(),
                           std::shared_ptr<void> keep_alive = nullptr);

  // False for a default-constructed Tensor.
  bool defined() const { return defined_; }
  Shape shape() const { return Shape(dims_, dims_ + ndim_); }
  int ndim() const { return ndim_; }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return numel_; }
  Device device() const { return device_; }
  bool is_cpu() const { return device_.type == DeviceType::CPU; }
  DType dtype() const { return dtype_; }
  size_t itemsize() const { return dtype_size(dtype_); }
  // numel() * itemsize() (cannot overflow: checked when the shape was set).
  size_t nbytes() const { return static_cast<size_t>(numel_) * itemsize(); }

  // The elements (device memory for a CUDA tensor: not readable on the host). data() is the float32 view, the
  // type of every kernel's master copy; data<T>() checks that T is the tensor's dtype (TypeError otherwise).
  float* data() { return data<float>(); }
  const float* data() const { return data<float>(); }
  template <typename T>
  T* data() {
    check_dtype(dtype_of<T>::value);
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    check_dtype(dtype_of<T>::value);
    return static_cast<const T*>(data_);
  }
  // The first byte, whatever the dtype.
  void* raw_data() { return data_; }
  const void* raw_data() const { return data_; }

  // A view of rows [begin, end) of the leading dimension (shares memory).
  Tensor rows(int64_t begin, int64_t end) const;
  // A view with another shape of the same number of elements (shares memory).
  Tensor reshape(const Shape& shape) const;
  // A 2-D view (elements / last dim, last dim): every leading axis becomes rows (shares memory, allocates nothing;
  // a 2-D tensor is returned as it is). For ops that work on rows of the last axis.
  Tensor as_matrix() const;
  // A deep copy in a new owning buffer (on the same device).
  Tensor clone() const;
  // This tensor on `device`: itself when it is there already (unless copy), else a new owning copy there.
  Tensor to(Device device, bool copy = false) const;
  // Copies src's elements into this tensor (same numel and dtype required); either may be on a CUDA device.
  void copy_from(const Tensor& src);
  // Every element = value converted to the dtype (rounded to nearest even for bfloat16, truncated toward zero for
  // the integer types). On a CUDA device: float32 only.
  void fill(float value);
  // A new owning tensor of `dtype` holding this CPU tensor's values converted (float32 <-> bfloat16 rounds to
  // nearest even; to an integer type truncates toward zero; NaN to an integer type raises ValueError).
  Tensor astype(DType dtype) const;

 private:
  void set_shape(const Shape& shape);   // validates, sets dims_, ndim_ and numel_ (checks the byte size for dtype_)
  void check_dtype(DType want) const {  // TypeError unless dtype_ == want
    if (want != dtype_) dtype_mismatch(want);
  }
  [[noreturn]] void dtype_mismatch(DType want) const;

  std::shared_ptr<void> storage_;  // owner of the memory (null for an unowned view)
  void* data_ = nullptr;
  int64_t dims_[kMaxDims] = {};
  int ndim_ = 0;
  int64_t numel_ = 0;
  Device device_;
  DType dtype_ = DType::float32;
  bool defined_ = false;
};

}  // namespace fastann

// Tensor: a dense, row-major (C-contiguous) float32 array with a shape and a device. It either owns a 64-byte
// aligned buffer (shared between copies of the Tensor object, like a NumPy array and its views) or is a view of
// memory owned by someone else (e.g. the caller's buffer: no copy is made for predict input).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

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
  // Owning tensor filled with zeros.
  explicit Tensor(Shape shape, Device device = Device::cpu());
  Tensor(std::initializer_list<int64_t> shape) : Tensor(Shape(shape)) {}

  // Owning tensor with unspecified contents.
  static Tensor empty(Shape shape, Device device = Device::cpu());
  // Owning CPU tensor holding a copy of data[0 .. numel).
  static Tensor from_data(const float* data, Shape shape);
  // Non-owning view of caller memory (must stay valid and unchanged in size while the view is used).
  // `keep_alive`, when given, is held by the view and its copies.
  static Tensor view(float* data, Shape shape, Device device = Device::cpu(),
                     std::shared_ptr<void> keep_alive = nullptr);
  static Tensor view(const float* data, Shape shape) { return view(const_cast<float*>(data), std::move(shape)); }

  // False for a default-constructed Tensor.
  bool defined() const { return defined_; }
  Shape shape() const { return Shape(dims_, dims_ + ndim_); }
  int ndim() const { return ndim_; }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return numel_; }
  Device device() const { return device_; }
  bool is_cpu() const { return device_.type == DeviceType::CPU; }

  // The elements (device memory for a CUDA tensor: not readable on the host).
  float* data() { return data_; }
  const float* data() const { return data_; }

  // A view of rows [begin, end) of the leading dimension (shares memory).
  Tensor rows(int64_t begin, int64_t end) const;
  // A view with another shape of the same number of elements (shares memory).
  Tensor reshape(Shape shape) const;
  // A deep copy in a new owning buffer (on the same device).
  Tensor clone() const;
  // This tensor on `device`: itself when it is there already (unless copy), else a new owning copy there.
  Tensor to(Device device, bool copy = false) const;
  // Copies src's elements into this tensor (same numel required); either may be on a CUDA device.
  void copy_from(const Tensor& src);
  void fill(float value);

 private:
  void set_shape(const Shape& shape);  // validates, sets dims_, ndim_ and numel_

  std::shared_ptr<void> storage_;  // owner of the memory (null for an unowned view)
  float* data_ = nullptr;
  int64_t dims_[kMaxDims] = {};
  int ndim_ = 0;
  int64_t numel_ = 0;
  Device device_;
  bool defined_ = false;
};

}  // namespace fastann

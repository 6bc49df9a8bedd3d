// NumPy <-> Tensor conversion for every Tensor dtype (numpy.hpp says how each dtype maps).
#include "bindings/numpy.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fastann/error.hpp"

namespace fastann::bindings {

namespace {

Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

// ml_dtypes' bfloat16 (a NumPy extension dtype), recognised by name so that ml_dtypes need not be imported.
bool is_ml_dtypes_bfloat16(const py::array& a) {
  const py::dtype d = a.dtype();
  return d.itemsize() == 2 && d.kind() == 'V' && py::str(d.attr("name")).cast<std::string>() == "bfloat16";
}

std::string numpy_dtype_str(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

}  // namespace

py::dtype numpy_dtype(DType dtype) {
  switch (dtype) {
    case DType::float32:
      return py::dtype::of<float>();
    case DType::bfloat16:
      return py::dtype::of<uint16_t>();
    case DType::int32:
      return py::dtype::of<int32_t>();
    case DType::int64:
      return py::dtype::of<int64_t>();
  }
  throw TypeError("numpy_dtype: unknown dtype " + std::to_string(static_cast<int>(dtype)));
}

Tensor as_tensor(const FArray& a) {
  fastann::Shape shape(a.shape(), a.shape() + a.ndim());
  return Tensor::view(const_cast<float*>(a.data()), shape);
}

Tensor array_view(const py::array& a, std::optional<DType> as) {
  std::optional<DType> dtype;
  if (py::isinstance<py::array_t<float>>(a))
    dtype = DType::float32;
  else if (py::isinstance<py::array_t<int32_t>>(a))
    dtype = DType::int32;
  else if (py::isinstance<py::array_t<int64_t>>(a))
    dtype = DType::int64;
  else if (is_ml_dtypes_bfloat16(a))
    dtype = DType::bfloat16;
  else if (as == DType::bfloat16 && py::isinstance<py::array_t<uint16_t>>(a))
    dtype = DType::bfloat16;
  if (!dtype || (as && *as != *dtype)) {
    const std::string want = as ? std::string(dtype_name(*as)) + (*as == DType::bfloat16 ? " (or uint16 bits)" : "")
                                : std::string("float32, int32, int64 or bfloat16");
    throw TypeError("expected an array of " + want + ", got dtype " + numpy_dtype_str(a));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw ValueError("expected a C-contiguous array (numpy.ascontiguousarray makes one), got strides that are not");
  }
  return Tensor::view_bytes(const_cast<void*>(a.data()), shape_of(a), *dtype);
}

py::array to_numpy(Tensor t) {
  if (t.defined() && !t.is_cpu()) t = t.to(Device::cpu(), /*copy=*/true);
  auto holder = std::make_unique<Tensor>(std::move(t));
  py::capsule owner(holder.get(), [](void* p) { delete static_cast<Tensor*>(p); });
  Tensor* h = holder.release();  // the capsule owns it now
  const fastann::Shape s = h->shape();
  std::vector<py::ssize_t> shape(s.begin(), s.end());
  return py::array(numpy_dtype(h->dtype()), shape, h->raw_data(), owner);
}

FResult to_numpy_f32(Tensor t) {
  if (t.dtype() != DType::float32) {
    throw TypeError(std::string("expected a float32 result, got ") + dtype_name(t.dtype()));
  }
  return py::reinterpret_steal<FResult>(to_numpy(std::move(t)).release());
}

py::typing::List<py::array> to_numpy_list(std::vector<Tensor> ts) {
  py::typing::List<py::array> out;
  for (Tensor& t : ts) out.append(to_numpy(std::move(t)));
  return out;
}

std::vector<Tensor> to_tensors(const std::vector<FArray>& arrays) {
  std::vector<Tensor> out;
  for (const FArray& a : arrays) out.push_back(as_tensor(a));
  return out;
}

}  // namespace fastann::bindings

// NumPy <-> Tensor conversion (numpy.hpp).
#include "bindings/numpy.hpp"

#include <memory>
#include <utility>
#include <vector>

namespace fastann::bindings {

Tensor as_tensor(const FArray& a) {
  fastann::Shape shape(a.shape(), a.shape() + a.ndim());
  return Tensor::view(const_cast<float*>(a.data()), shape);
}

// Hands the Tensor's buffer to NumPy without a copy.
py::array to_numpy(Tensor t) {
  auto* holder = new Tensor(std::move(t));
  py::capsule owner(holder, [](void* p) { delete static_cast<Tensor*>(p); });
  const fastann::Shape s = holder->shape();
  std::vector<py::ssize_t> shape(s.begin(), s.end());
  return py::array_t<float>(shape, holder->data(), owner);
}

py::list to_numpy_list(std::vector<Tensor> ts) {
  py::list out;
  for (Tensor& t : ts) out.append(to_numpy(std::move(t)));
  return out;
}

std::vector<Tensor> to_tensors(const std::vector<FArray>& arrays) {
  std::vector<Tensor> out;
  for (const FArray& a : arrays) out.push_back(as_tensor(a));
  return out;
}

}  // namespace fastann::bindings

// Reshape: (batch, *input_shape) -> (batch, *target_shape), Keras's Reshape; one target dimension may be -1 (taken
// from the element count).
#include <memory>

#include "core/check.hpp"
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"

namespace fastann::nn {

namespace {

class ReshapeLayer final : public Layer {
 public:
  ReshapeLayer(Shape target, std::string name, Shape declared)
      : Layer(std::move(name), ActivationSpec{}, std::move(declared)), target_(std::move(target)) {
    FASTANN_CHECK_ARG(
        !target_.empty() && target_.size() < static_cast<size_t>(Tensor::kMaxDims),
        "Reshape: target_shape must have 1 to " << Tensor::kMaxDims - 1 << " dimensions, got " << shape_str(target_));
    int unknown = 0;
    for (int64_t d : target_) {
      FASTANN_CHECK_ARG(d > 0 || d == -1,
                        "Reshape: target_shape dimensions must be positive or -1, got " << shape_str(target_));
      unknown += d == -1;
    }
    FASTANN_CHECK_ARG(unknown <= 1,
                      "Reshape: at most one target_shape dimension can be -1, got " << shape_str(target_));
  }
  const char* type() const override { return "Reshape"; }
  void forward(const Tensor& x, Tensor& y, bool, bool) override { y.copy_from(x); }
  void backward(const Tensor&, const Tensor&, Tensor& dy, Tensor* dx, bool) override {
    if (dx) dx->copy_from(dy);
  }

 protected:
  Shape compute_output_shape(const Shape& in) const override {
    const int64_t n = shape_numel(in);
    Shape out = target_;
    int64_t known = 1;
    for (int64_t d : out)
      known = checked_mul(known, d == -1 ? 1 : d,
                          [&] { return "Reshape '" + name_ + "': target_shape " + shape_str(target_); });
    for (int64_t& d : out) {
      if (d == -1) {
        FASTANN_CHECK_ARG(n % known == 0, "Reshape '" << name_ << "': cannot reshape input of shape " << shape_str(in)
                                                      << " to " << shape_str(target_));
        d = n / known;
        known *= d;
      }
    }
    FASTANN_CHECK_ARG(known == n, "Reshape '" << name_ << "': total size of the new shape " << shape_str(target_)
                                              << " must equal that of the input shape " << shape_str(in));
    return out;
  }
  void write_config(Json& c) const override { c.set("target_shape", shape_json(target_)); }

 private:
  Shape target_;
};

std::unique_ptr<Layer> create(const Json& c, const std::string& cp, std::string name) {
  Shape target;
  const std::string path = cp + ".target_shape";
  const auto& items = c.at("target_shape", cp).as_array(path);
  for (size_t i = 0; i < items.size(); ++i) target.push_back(items[i].as_int(path, -1, kMaxDim));
  return std::make_unique<ReshapeLayer>(std::move(target), std::move(name), input_shape_from(c, cp));
}

}  // namespace

void register_reshape(Registry<LayerEntry>& r) { r.add("Reshape", {"reshape", &create}); }

}  // namespace fastann::nn

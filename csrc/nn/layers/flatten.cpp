// Flatten: (batch, d0, d1, ...) -> (batch, d0 * d1 * ...), Keras's Flatten (channels_last: row-major order kept).
#include <memory>

#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"

namespace fastann::nn {

namespace {

class FlattenLayer final : public Layer {
 public:
  FlattenLayer(std::string name, Shape declared) : Layer(std::move(name), ActivationSpec{}, std::move(declared)) {}
  const char* type() const override { return "Flatten"; }
  // Row-major data is already flat: both passes copy the elements (the model gives every layer its own output).
  void forward(const Tensor& x, Tensor& y, bool, bool) override { y.copy_from(x); }
  void backward(const Tensor&, const Tensor&, Tensor& dy, Tensor* dx, bool) override {
    if (dx) dx->copy_from(dy);
  }

 protected:
  Shape compute_output_shape(const Shape& in) const override { return {shape_numel(in)}; }
  void write_config(Json& c) const override { c.set("data_format", "channels_last"); }
};

std::unique_ptr<Layer> create(const Json& c, const std::string& cp, std::string name) {
  if (const Json* f = c.find("data_format"); f && !f->is_null()) {
    const std::string& v = f->as_string(cp + ".data_format");
    FASTANN_CHECK_ARG(v == "channels_last", "Flatten: data_format must be 'channels_last', got '" << v << "'");
  }
  return std::make_unique<FlattenLayer>(std::move(name), input_shape_from(c, cp));
}

}  // namespace

void register_flatten(Registry<LayerEntry>& r) { r.add("Flatten", {"flatten", &create}); }

}  // namespace fastann::nn

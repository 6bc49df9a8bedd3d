// Activation: y = activation(x), element-wise (softmax over the last axis). Keras's Activation.
#include <memory>

#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"
#include "ops/ops.hpp"

namespace fastann {

LayerSpec to_spec(const Activation& a) {
  nn::Json c = nn::Json::object();
  c.set("name", a.name);
  c.set("activation", a.activation.name);
  c.set("activation_alpha", nn::number_or_null(a.activation.alpha));
  nn::set_input_shape(c, a.input_dim > 0 ? Shape{a.input_dim} : Shape{});
  return {"Activation", c.dump()};
}

}  // namespace fastann

namespace fastann::nn {

namespace {

class ActivationLayer final : public Layer {
 public:
  ActivationLayer(const ActivationSpec& act, std::string name, Shape declared)
      : Layer(std::move(name), act, std::move(declared)), spec_(act) {}
  const char* type() const override { return "Activation"; }

  void forward(const Tensor& x, Tensor& y, bool /*training*/, bool logits) override {
    if (logits) {
      y.copy_from(x);
    } else {
      ops::activation_forward(act_, x, y);
    }
  }
  void backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) override {
    if (!dx) return;
    if (logits) {
      dx->copy_from(dy);
    } else {
      ops::activation_backward(act_, x, y, dy, *dx);
    }
  }

 protected:
  Shape compute_output_shape(const Shape& in) const override { return in; }
  void write_config(Json& c) const override {
    c.set("activation", spec_.name);
    c.set("activation_alpha", number_or_null(spec_.alpha));
  }

 private:
  ActivationSpec spec_;
};

std::unique_ptr<Layer> create(const Json& c, const std::string& cp, std::string name) {
  return std::make_unique<ActivationLayer>(activation_from(c, cp), std::move(name), input_shape_from(c, cp));
}

}  // namespace

void register_activation(Registry<LayerEntry>& r) { r.add("Activation", {"activation", &create}); }

}  // namespace fastann::nn

// Dropout: inverted dropout in training (mask from the layer's seeded generator), identity in inference.
#include <cmath>
#include <memory>

#include "core/check.hpp"
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"
#include "ops/ops.hpp"

namespace fastann {

LayerSpec to_spec(const Dropout& d) {
  nn::Json c = nn::Json::object();
  c.set("name", d.name);
  c.set("rate", d.rate);
  c.set("seed", nn::seed_json(d.seed));
  nn::set_input_shape(c, d.input_dim > 0 ? Shape{d.input_dim} : Shape{});
  return {"Dropout", c.dump()};
}

}  // namespace fastann

namespace fastann::nn {

namespace {

class DropoutLayer final : public Layer {
 public:
  DropoutLayer(double rate, std::optional<uint64_t> seed, std::string name, Shape declared)
      : Layer(std::move(name), ActivationSpec{}, std::move(declared)),
        rate_(rate),
        seed_(seed),
        rng_(seed ? *seed : next_global_seed()) {
    FASTANN_CHECK_ARG(std::isfinite(rate) && rate >= 0.0 && rate < 1.0,
                      "Dropout: rate must be a number in [0, 1), got " << rate);
  }
  const char* type() const override { return "Dropout"; }

  void prepare(int64_t max_batch) override {
    // (max_batch, elements per sample): 0 or 1 / (1 - rate), kept for backward.
    if (rate_ > 0.0 && (!mask_.defined() || mask_.dim(0) < max_batch || mask_.dim(1) != input_size())) {
      mask_ = Tensor::empty({max_batch, input_size()}, device_);
    }
  }
  void set_device(Device device) override {
    if (device != device_) mask_ = Tensor();
    Layer::set_device(device);
  }
  void forward(const Tensor& x, Tensor& y, bool training, bool /*logits*/) override {
    if (!training || rate_ == 0.0) {
      if (y.data() != x.data()) y.copy_from(x);
      return;
    }
    FASTANN_CHECK_STATE(mask_.defined() && mask_.dim(0) >= x.dim(0), "Dropout '" << name_ << "': not prepared");
    Tensor m = mask_.rows(0, x.dim(0));
    ops::dropout_forward(rate_, rng_.next_u64(), x, m, y);
  }
  void backward(const Tensor& /*x*/, const Tensor& /*y*/, Tensor& dy, Tensor* dx, bool /*logits*/) override {
    if (!dx) return;
    if (rate_ == 0.0) {
      if (dx->data() != dy.data()) dx->copy_from(dy);
      return;
    }
    ops::multiply(dy, mask_.rows(0, dy.dim(0)), *dx);
  }

 protected:
  Shape compute_output_shape(const Shape& in) const override { return in; }
  void on_build() override {
    if (mask_.defined() && mask_.dim(1) != input_size()) mask_ = Tensor();
  }
  void write_config(Json& c) const override {
    c.set("rate", rate_);
    c.set("seed", seed_json(seed_));
  }

 private:
  double rate_;
  std::optional<uint64_t> seed_;
  Rng rng_;  // one seed per training step for the mask
  Tensor mask_;
};

std::unique_ptr<Layer> create(const Json& c, const std::string& cp, std::string name) {
  return std::make_unique<DropoutLayer>(c.at("rate", cp).as_number(cp + ".rate"), optional_seed_from(c, cp),
                                        std::move(name), input_shape_from(c, cp));
}

}  // namespace

void register_dropout(Registry<LayerEntry>& r) { r.add("Dropout", {"dropout", &create}); }

}  // namespace fastann::nn

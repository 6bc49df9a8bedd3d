// BatchNormalization over the last axis (Keras's axis=-1): batch statistics in training, the moving statistics in
// inference. Weights (Keras order): gamma, beta (trainable), moving_mean, moving_variance (not trainable).
#include <cmath>
#include <memory>

#include "core/check.hpp"
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"
#include "ops/ops.hpp"

namespace fastann {

namespace {
nn::Json bn_json(const BatchNormalization& bn) {
  nn::Json c = nn::Json::object();
  c.set("momentum", bn.momentum);
  c.set("epsilon", bn.epsilon);
  c.set("center", bn.center);
  c.set("scale", bn.scale);
  c.set("beta_initializer", nn::initializer_json(bn.beta_initializer));
  c.set("gamma_initializer", nn::initializer_json(bn.gamma_initializer));
  c.set("moving_mean_initializer", nn::initializer_json(bn.moving_mean_initializer));
  c.set("moving_variance_initializer", nn::initializer_json(bn.moving_variance_initializer));
  return c;
}
}  // namespace

LayerSpec to_spec(const BatchNormalization& bn) {
  nn::Json c = bn_json(bn);
  c.set("name", bn.name);
  nn::set_input_shape(c, bn.input_dim > 0 ? Shape{bn.input_dim} : Shape{});
  return {"BatchNormalization", c.dump()};
}

}  // namespace fastann

namespace fastann::nn {

namespace {

class BatchNormLayer final : public Layer {
 public:
  BatchNormLayer(const BatchNormalization& cfg, std::string name, Shape declared)
      : Layer(std::move(name), ActivationSpec{}, std::move(declared)), cfg_(cfg) {
    FASTANN_CHECK_ARG(std::isfinite(cfg.momentum) && cfg.momentum >= 0.0 && cfg.momentum <= 1.0,
                      "BatchNormalization: momentum must be a number in [0, 1], got " << cfg.momentum);
    FASTANN_CHECK_ARG(std::isfinite(cfg.epsilon) && cfg.epsilon > 0.0,
                      "BatchNormalization: epsilon must be a positive number, got " << cfg.epsilon);
    Tensor none = Tensor::empty({0});
    for (const InitializerSpec* spec : {&cfg.beta_initializer, &cfg.gamma_initializer, &cfg.moving_mean_initializer,
                                        &cfg.moving_variance_initializer}) {
      initialize(*spec, none, 1, 1, 0);
    }
    one_minus_momentum_ = static_cast<float>(1.0 - cfg.momentum);  // in double, rounded once (as Keras)
  }
  const char* type() const override { return "BatchNormalization"; }

  std::vector<Shape> param_shapes() const override {
    std::vector<Shape> s;
    if (cfg_.scale) s.push_back({input_dim()});
    if (cfg_.center) s.push_back({input_dim()});
    return s;
  }
  std::vector<Shape> state_shapes() const override { return {{input_dim()}, {input_dim()}}; }
  std::vector<std::string> weight_names() const override {
    std::vector<std::string> n;
    if (cfg_.scale) n.emplace_back("gamma");
    if (cfg_.center) n.emplace_back("beta");
    n.emplace_back("moving_mean");
    n.emplace_back("moving_variance");
    return n;
  }
  void init_params(uint64_t seed) override {
    const int64_t c = input_dim();
    if (cfg_.scale) initialize(cfg_.gamma_initializer, params_[0], c, c, seed);
    if (cfg_.center) initialize(cfg_.beta_initializer, params_[cfg_.scale ? 1 : 0], c, c, seed + 1);
    initialize(cfg_.moving_mean_initializer, state_[0], c, c, seed + 2);
    initialize(cfg_.moving_variance_initializer, state_[1], c, c, seed + 3);
  }
  void prepare(int64_t /*max_batch*/) override {
    // (features,): the last training batch's statistics, for backward.
    if (!batch_mean_.defined() || batch_mean_.numel() != input_dim() || batch_mean_.device() != device_) {
      batch_mean_ = Tensor({input_dim()}, device_);
      batch_invstd_ = Tensor({input_dim()}, device_);
    }
  }
  void set_device(Device device) override {
    if (device != device_) batch_mean_ = batch_invstd_ = Tensor();
    Layer::set_device(device);
  }

  void forward(const Tensor& x_in, Tensor& y_in, bool training, bool /*logits*/) override {
    const Tensor x = x_in.as_matrix();  // statistics per feature over every other axis
    Tensor y = y_in.as_matrix();
    const auto eps = static_cast<float>(cfg_.epsilon);
    if (training) {
      FASTANN_CHECK_STATE(batch_mean_.defined(), "BatchNormalization '" << name_ << "': not prepared");
      ops::batchnorm_forward_train(x, gamma(), beta(), eps, static_cast<float>(cfg_.momentum), one_minus_momentum_,
                                   batch_mean_, batch_invstd_, state_[0], state_[1], y);
    } else {
      ops::batchnorm_forward_infer(x, gamma(), beta(), state_[0], state_[1], eps, y);
    }
  }
  void backward(const Tensor& x_in, const Tensor& /*y*/, Tensor& dy_in, Tensor* dx_in, bool /*logits*/) override {
    const Tensor x = x_in.as_matrix(), dy = dy_in.as_matrix();
    Tensor dx = dx_in ? dx_in->as_matrix() : Tensor();
    Tensor* dgamma = cfg_.scale ? &grads_[0] : nullptr;
    Tensor* dbeta = cfg_.center ? &grads_[cfg_.scale ? 1 : 0] : nullptr;
    ops::batchnorm_backward(x, batch_mean_, batch_invstd_, gamma(), dy, dgamma, dbeta, dx_in ? &dx : nullptr);
  }

 protected:
  Shape compute_output_shape(const Shape& in) const override { return in; }
  void write_config(Json& c) const override {
    const Json own = bn_json(cfg_);  // kept alive for the loop
    for (const auto& kv : own.as_object("")) c.set(kv.first, kv.second);
  }

 private:
  const Tensor* gamma() const { return cfg_.scale ? &params_[0] : nullptr; }
  const Tensor* beta() const { return cfg_.center ? &params_[cfg_.scale ? 1 : 0] : nullptr; }
  BatchNormalization cfg_;
  float one_minus_momentum_ = 0.0f;
  Tensor batch_mean_, batch_invstd_;
};

std::unique_ptr<Layer> create(const Json& c, const std::string& cp, std::string name) {
  BatchNormalization bn;
  bn.momentum = c.at("momentum", cp).as_number(cp + ".momentum");
  bn.epsilon = c.at("epsilon", cp).as_number(cp + ".epsilon");
  bn.center = c.at("center", cp).as_bool(cp + ".center");
  bn.scale = c.at("scale", cp).as_bool(cp + ".scale");
  bn.beta_initializer = initializer_from(c.at("beta_initializer", cp), cp + ".beta_initializer");
  bn.gamma_initializer = initializer_from(c.at("gamma_initializer", cp), cp + ".gamma_initializer");
  bn.moving_mean_initializer = initializer_from(c.at("moving_mean_initializer", cp), cp + ".moving_mean_initializer");
  bn.moving_variance_initializer =
      initializer_from(c.at("moving_variance_initializer", cp), cp + ".moving_variance_initializer");
  return std::make_unique<BatchNormLayer>(bn, std::move(name), input_shape_from(c, cp));
}

}  // namespace

void register_batch_normalization(Registry<LayerEntry>& r) {
  r.add("BatchNormalization", {"batch_normalization", &create});
}

}  // namespace fastann::nn

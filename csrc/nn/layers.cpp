// Dense, Activation, Dropout and BatchNormalization layers.
#include <cmath>

#include "core/check.hpp"
#include "nn/layer.hpp"
#include "ops/ops.hpp"

namespace fastann::nn {

Layer::Layer(std::string name, const ActivationSpec& act, int64_t declared_input_dim)
    : name_(std::move(name)),
      act_name_(ops::act_name(ops::parse_activation(act.name, act.alpha).kind)),
      act_(ops::parse_activation(act.name, act.alpha)),
      declared_input_dim_(declared_input_dim) {
  FASTANN_CHECK_ARG(declared_input_dim >= 0, "input_dim must be positive, got " << declared_input_dim);
}

LayerInfo Layer::info() const {
  LayerInfo li;
  li.name = name_;
  li.type = type();
  li.activation = act_name_;
  li.input_dim = input_dim_;
  li.output_dim = output_dim_;
  li.weight_shapes = param_shapes();
  li.trainable_weights = li.weight_shapes.size();
  for (const Shape& s : state_shapes()) li.weight_shapes.push_back(s);
  li.weight_names = weight_names();
  for (size_t j = 0; j < li.weight_shapes.size(); ++j) {
    int64_t n = 1;
    for (int64_t d : li.weight_shapes[j]) n *= d;
    li.param_count += n;
    if (j >= li.trainable_weights) li.non_trainable_param_count += n;
  }
  return li;
}

namespace {

void check_regularizer(const std::optional<Regularizer>& r, const std::string& what) {
  if (!r) return;
  FASTANN_CHECK_ARG(r->name == "l1" || r->name == "l2" || r->name == "l1_l2",
                    what << ": unknown regularizer '" << r->name << "'; valid regularizers: l1, l2, l1_l2");
  FASTANN_CHECK_ARG(std::isfinite(r->l1) && r->l1 >= 0.0,
                    what << ": l1 must be a non-negative finite number, got " << r->l1);
  FASTANN_CHECK_ARG(std::isfinite(r->l2) && r->l2 >= 0.0,
                    what << ": l2 must be a non-negative finite number, got " << r->l2);
}

}  // namespace

// --- Dense -------------------------------------------------------------------------------------------------

DenseLayer::DenseLayer(const Dense& cfg, std::string name)
    : Layer(std::move(name), cfg.activation, cfg.input_dim), cfg_(cfg) {
  FASTANN_CHECK_ARG(cfg.units > 0, "Dense: units must be a positive integer, got " << cfg.units);
  output_dim_ = cfg.units;
  // Reject unknown initializer names now rather than at build time.
  Tensor none = Tensor::empty({0});
  initialize(cfg.kernel_initializer, none, 1, 1, 0);
  initialize(cfg.bias_initializer, none, 1, 1, 0);
  check_regularizer(cfg.kernel_regularizer, "Dense: kernel_regularizer");
  check_regularizer(cfg.bias_regularizer, "Dense: bias_regularizer");
  check_regularizer(cfg.activity_regularizer, "Dense: activity_regularizer");
  param_regs_ = {cfg.kernel_regularizer};
  if (cfg.use_bias) param_regs_.push_back(cfg.bias_regularizer);
  activity_reg_ = cfg.activity_regularizer;
}

std::vector<std::string> DenseLayer::weight_names() const {
  if (cfg_.use_bias) return {"kernel", "bias"};
  return {"kernel"};
}

void DenseLayer::build(int64_t input_dim) {
  FASTANN_CHECK_ARG(input_dim > 0, "Dense '" << name_ << "': input dimension must be positive, got " << input_dim);
  input_dim_ = input_dim;
}

std::vector<Shape> DenseLayer::param_shapes() const {
  std::vector<Shape> s{{input_dim_, cfg_.units}};
  if (cfg_.use_bias) s.push_back({cfg_.units});
  return s;
}

void DenseLayer::init_params(uint64_t seed) {
  initialize(cfg_.kernel_initializer, params_[0], input_dim_, cfg_.units, seed);
  if (cfg_.use_bias) initialize(cfg_.bias_initializer, params_[1], input_dim_, cfg_.units, seed + 1);
}

void DenseLayer::prepare(int64_t max_batch) {
  const bool keep_z = act_.kind != ops::Act::linear && !ops::act_grad_from_output(act_);
  if (keep_z && (!z_.defined() || z_.dim(0) < max_batch)) z_ = Tensor::empty({max_batch, cfg_.units}, device_);
}

void DenseLayer::set_device(Device device) {
  if (device != device_) z_ = Tensor();
  Layer::set_device(device);
}

void DenseLayer::forward(const Tensor& x, Tensor& y, bool training, bool logits) {
  const Tensor* bias = cfg_.use_bias ? &params_[1] : nullptr;
  if (logits || act_.kind == ops::Act::linear) {
    ops::gemm(false, false, 1.0f, x, params_[0], 0.0f, y, bias);
  } else if (training && !ops::act_grad_from_output(act_)) {
    // The derivative needs the pre-activation: keep z, then y = act(z).
    Tensor z = z_.rows(0, x.dim(0));
    ops::gemm(false, false, 1.0f, x, params_[0], 0.0f, z, bias);
    ops::activation_forward(act_, z, y);
  } else {
    ops::gemm(false, false, 1.0f, x, params_[0], 0.0f, y, bias, &act_);  // bias + activation fused
  }
}

void DenseLayer::backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) {
  // dz = dy * act'(.) in place; dW = x^T dz (in, units); db = sum_rows dz; dx = dz W^T (batch, in).
  if (!logits && act_.kind != ops::Act::linear) {
    const Tensor z = ops::act_grad_from_output(act_) ? Tensor() : z_.rows(0, x.dim(0));
    ops::activation_backward(act_, z, y, dy, dy);
  }
  ops::gemm(true, false, 1.0f, x, dy, 0.0f, grads_[0]);
  if (cfg_.use_bias) ops::bias_grad(dy, grads_[1]);
  if (dx) ops::gemm(false, true, 1.0f, dy, params_[0], 0.0f, *dx);
}

// --- Activation --------------------------------------------------------------------------------------------

LayerConfig DenseLayer::config() const { return named(cfg_); }

ActivationLayer::ActivationLayer(const Activation& cfg, std::string name)
    : Layer(std::move(name), cfg.activation, cfg.input_dim), cfg_(cfg) {}

LayerConfig ActivationLayer::config() const { return named(cfg_); }

void ActivationLayer::build(int64_t input_dim) {
  FASTANN_CHECK_ARG(input_dim > 0, "Activation '" << name_ << "': input dimension must be positive");
  input_dim_ = output_dim_ = input_dim;
}

void ActivationLayer::forward(const Tensor& x, Tensor& y, bool /*training*/, bool logits) {
  if (logits) {
    y.copy_from(x);
  } else {
    ops::activation_forward(act_, x, y);
  }
}

void ActivationLayer::backward(const Tensor& x, const Tensor& y, Tensor& dy, Tensor* dx, bool logits) {
  if (!dx) return;
  if (logits) {
    dx->copy_from(dy);
  } else {
    ops::activation_backward(act_, x, y, dy, *dx);
  }
}

// --- Dropout -----------------------------------------------------------------------------------------------

DropoutLayer::DropoutLayer(const Dropout& cfg, std::string name)
    : Layer(std::move(name), ActivationSpec{}, cfg.input_dim),
      cfg_(cfg),
      rng_(cfg.seed ? *cfg.seed : next_global_seed()) {
  FASTANN_CHECK_ARG(std::isfinite(cfg.rate) && cfg.rate >= 0.0 && cfg.rate < 1.0,
                    "Dropout: rate must be a number in [0, 1), got " << cfg.rate);
}

LayerConfig DropoutLayer::config() const { return named(cfg_); }

void DropoutLayer::build(int64_t input_dim) {
  FASTANN_CHECK_ARG(input_dim > 0, "Dropout '" << name_ << "': input dimension must be positive");
  if (input_dim != input_dim_) mask_ = Tensor();
  input_dim_ = output_dim_ = input_dim;
}

void DropoutLayer::prepare(int64_t max_batch) {
  if (cfg_.rate > 0.0 && (!mask_.defined() || mask_.dim(0) < max_batch || mask_.dim(1) != input_dim_)) {
    mask_ = Tensor::empty({max_batch, input_dim_}, device_);
  }
}

void DropoutLayer::set_device(Device device) {
  if (device != device_) mask_ = Tensor();
  Layer::set_device(device);
}

void DropoutLayer::forward(const Tensor& x, Tensor& y, bool training, bool /*logits*/) {
  if (!training || cfg_.rate == 0.0) {
    if (y.data() != x.data()) y.copy_from(x);
    return;
  }
  FASTANN_CHECK_STATE(mask_.defined() && mask_.dim(0) >= x.dim(0), "Dropout '" << name_ << "': not prepared");
  Tensor m = mask_.rows(0, x.dim(0));
  ops::dropout_forward(cfg_.rate, rng_.next_u64(), x, m, y);
}

void DropoutLayer::backward(const Tensor& /*x*/, const Tensor& /*y*/, Tensor& dy, Tensor* dx, bool /*logits*/) {
  if (!dx) return;
  if (cfg_.rate == 0.0) {
    if (dx->data() != dy.data()) dx->copy_from(dy);
    return;
  }
  ops::multiply(dy, mask_.rows(0, dy.dim(0)), *dx);
}

// --- BatchNormalization --------------------------------------------------------------------------------------

BatchNormLayer::BatchNormLayer(const BatchNormalization& cfg, std::string name)
    : Layer(std::move(name), ActivationSpec{}, cfg.input_dim), cfg_(cfg) {
  FASTANN_CHECK_ARG(std::isfinite(cfg.momentum) && cfg.momentum >= 0.0 && cfg.momentum <= 1.0,
                    "BatchNormalization: momentum must be a number in [0, 1], got " << cfg.momentum);
  FASTANN_CHECK_ARG(std::isfinite(cfg.epsilon) && cfg.epsilon > 0.0,
                    "BatchNormalization: epsilon must be a positive number, got " << cfg.epsilon);
  Tensor none = Tensor::empty({0});
  for (const InitializerSpec* spec : {&cfg.beta_initializer, &cfg.gamma_initializer, &cfg.moving_mean_initializer,
                                      &cfg.moving_variance_initializer}) {
    initialize(*spec, none, 1, 1, 0);
  }
  one_minus_momentum_ = static_cast<float>(1.0 - cfg.momentum);  // in double, rounded once (as Keras's Python float)
}

LayerConfig BatchNormLayer::config() const { return named(cfg_); }

void BatchNormLayer::build(int64_t input_dim) {
  FASTANN_CHECK_ARG(input_dim > 0, "BatchNormalization '" << name_ << "': input dimension must be positive");
  if (input_dim != input_dim_ || !batch_mean_.defined()) {
    batch_mean_ = Tensor({input_dim}, device_);
    batch_invstd_ = Tensor({input_dim}, device_);
  }
  input_dim_ = output_dim_ = input_dim;
}

void BatchNormLayer::set_device(Device device) {
  if (device != device_ && batch_mean_.defined()) {
    batch_mean_ = Tensor({input_dim_}, device);
    batch_invstd_ = Tensor({input_dim_}, device);
  }
  Layer::set_device(device);
}

std::vector<Shape> BatchNormLayer::param_shapes() const {
  std::vector<Shape> s;
  if (cfg_.scale) s.push_back({input_dim_});
  if (cfg_.center) s.push_back({input_dim_});
  return s;
}

std::vector<Shape> BatchNormLayer::state_shapes() const { return {{input_dim_}, {input_dim_}}; }

std::vector<std::string> BatchNormLayer::weight_names() const {
  std::vector<std::string> n;
  if (cfg_.scale) n.emplace_back("gamma");
  if (cfg_.center) n.emplace_back("beta");
  n.emplace_back("moving_mean");
  n.emplace_back("moving_variance");
  return n;
}

void BatchNormLayer::init_params(uint64_t seed) {
  const int64_t c = input_dim_;
  if (cfg_.scale) initialize(cfg_.gamma_initializer, params_[0], c, c, seed);
  if (cfg_.center) initialize(cfg_.beta_initializer, params_[cfg_.scale ? 1 : 0], c, c, seed + 1);
  initialize(cfg_.moving_mean_initializer, state_[0], c, c, seed + 2);
  initialize(cfg_.moving_variance_initializer, state_[1], c, c, seed + 3);
}

void BatchNormLayer::forward(const Tensor& x, Tensor& y, bool training, bool /*logits*/) {
  const auto eps = static_cast<float>(cfg_.epsilon);
  if (training) {
    ops::batchnorm_forward_train(x, gamma(), beta(), eps, static_cast<float>(cfg_.momentum), one_minus_momentum_,
                                 batch_mean_, batch_invstd_, state_[0], state_[1], y);
  } else {
    ops::batchnorm_forward_infer(x, gamma(), beta(), state_[0], state_[1], eps, y);
  }
}

void BatchNormLayer::backward(const Tensor& x, const Tensor& /*y*/, Tensor& dy, Tensor* dx, bool /*logits*/) {
  Tensor* dgamma = cfg_.scale ? &grads_[0] : nullptr;
  Tensor* dbeta = cfg_.center ? &grads_[cfg_.scale ? 1 : 0] : nullptr;
  ops::batchnorm_backward(x, batch_mean_, batch_invstd_, gamma(), dy, dgamma, dbeta, dx);
}

}  // namespace fastann::nn

// Dense and Activation layers.
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
  for (const Shape& s : li.weight_shapes) {
    int64_t n = 1;
    for (int64_t d : s) n *= d;
    li.param_count += n;
  }
  return li;
}

// --- Dense -------------------------------------------------------------------------------------------------

DenseLayer::DenseLayer(const Dense& cfg, std::string name)
    : Layer(std::move(name), cfg.activation, cfg.input_dim), cfg_(cfg) {
  FASTANN_CHECK_ARG(cfg.units > 0, "Dense: units must be a positive integer, got " << cfg.units);
  output_dim_ = cfg.units;
  // Reject unknown initializer names now rather than at build time.
  Tensor none = Tensor::empty({0});
  initialize(cfg.kernel_initializer, none, 1, 1, 0);
  initialize(cfg.bias_initializer, none, 1, 1, 0);
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
  if (keep_z && (!z_.defined() || z_.dim(0) < max_batch)) z_ = Tensor::empty({max_batch, cfg_.units});
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

LayerConfig DenseLayer::config() const {
  Dense c = cfg_;
  c.name = name_;
  return c;
}

ActivationLayer::ActivationLayer(const Activation& cfg, std::string name)
    : Layer(std::move(name), cfg.activation, cfg.input_dim), cfg_(cfg) {}

LayerConfig ActivationLayer::config() const {
  Activation c = cfg_;
  c.name = name_;
  return c;
}

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

}  // namespace fastann::nn

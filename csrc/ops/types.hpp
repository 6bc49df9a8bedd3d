// Enumerations shared by the op interface and its backends: activation, loss, metric and optimizer kinds,
// with their Keras names.
#pragma once

#include <cstdint>
#include <string>

namespace fastann::ops {

enum class Act { linear, relu, sigmoid, tanh, softmax, leaky_relu, elu, selu, gelu, softplus, swish };

struct ActParams {
  Act kind = Act::linear;
  float alpha = 0.0f;  // leaky_relu negative slope; elu alpha
};

// Parses a Keras activation name ("relu", "silu" = "swish", None/"" = "linear"); alpha NaN = Keras default.
// Throws ValueError listing the valid names.
ActParams parse_activation(const std::string& name, double alpha);
const char* act_name(Act kind);
// True when the activation is applied element by element (all but softmax).
inline bool act_is_elementwise(Act kind) { return kind != Act::softmax; }
// True when the derivative can be computed from the output alone (no need to keep the pre-activation).
bool act_grad_from_output(const ActParams& p);

enum class Loss { mse, mae, huber, bce, cce, scce };

struct LossParams {
  Loss kind = Loss::mse;
  bool from_logits = false;
  float delta = 1.0f;  // huber
};

Loss parse_loss(const std::string& name);  // Keras names and aliases; throws ValueError listing them
const char* loss_name(Loss kind);

enum class Metric { binary_accuracy, categorical_accuracy, sparse_categorical_accuracy, mse, mae };
const char* metric_name(Metric kind);

enum class Opt { sgd, adam, adamw, rmsprop, adagrad };

// Per-step scalars of one optimizer update, computed once per step by the optimizer (nn/), applied element-wise
// by the backend to the flat parameter buffer.
struct OptStep {
  Opt kind = Opt::sgd;
  float lr = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  // 1 - beta_1, 1 - beta_2, 1 - rho: computed in double, then rounded once (as Keras's Python-float arithmetic).
  float one_minus_beta_1 = 0.1f, one_minus_beta_2 = 0.001f, one_minus_rho = 0.1f;
  float adam_alpha = 0.0f;  // lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
  float epsilon = 1e-7f;
  float rho = 0.9f;
  bool centered = false;
  float decay_factor = 1.0f;  // 1 - lr * weight_decay (applied before the update, as Keras does)
};

}  // namespace fastann::ops

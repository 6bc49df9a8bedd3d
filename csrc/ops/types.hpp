// Enumerations shared by the op interface and its backends: activation, loss, metric and optimizer kinds,
// with their Keras names.
#pragma once

#include <cstdint>
#include <string>

namespace fastann::ops {

enum class Act {
  linear,
  relu,
  sigmoid,
  tanh,
  softmax,
  leaky_relu,
  elu,
  selu,
  gelu,
  softplus,
  swish,
  softsign,
  hard_sigmoid,
  mish,
  exponential,
  hard_silu,
};

struct ActParams {
  Act kind = Act::linear;
  float alpha = 0.0f;  // leaky_relu negative slope; elu alpha
};

// Parses a Keras activation name ("relu", "silu" = "swish", "hard_swish" = "hard_silu", None/"" = "linear"); alpha NaN
// = Keras default. Throws ValueError listing the valid names.
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

const char* loss_name(Loss kind);  // the Keras function name (nn/losses.cpp registers it with its aliases)

enum class Metric {
  binary_accuracy,
  categorical_accuracy,
  sparse_categorical_accuracy,
  mse,
  mae,
  top_k_categorical_accuracy,
  sparse_top_k_categorical_accuracy,
  auc,
  precision,
  recall,
};
const char* metric_name(Metric kind);  // the Keras name (nn/metrics.cpp registers it with its aliases)

// A metric and its parameters (Keras defaults). Every metric streams: it keeps a small state of doubles (zeroed at
// the start of an epoch or evaluation), batches are added to it, and its value is read from the state at any time.
struct MetricParams {
  Metric kind = Metric::binary_accuracy;
  int64_t k = 5;                 // top_k / sparse_top_k: the target must be among the k largest predictions
  int64_t num_thresholds = 200;  // auc: evenly spaced thresholds (Keras: i / (n - 1), the ends moved by 1e-7)
  float threshold = 0.5f;        // binary_accuracy, precision, recall: a prediction > threshold is positive
};

// Number of doubles in the metric's streaming state.
int64_t metric_state_size(const MetricParams& p);
// The metric's value from its state (0 where Keras divides 0 by 0).
double metric_result(const MetricParams& p, const double* state);
// The metrics whose state is [sum of w * value, sum of w] of a value per sample, top-k excepted (the ones the
// CUDA backend accumulates on the device).
inline bool metric_is_sample_mean(Metric kind) {
  return kind == Metric::binary_accuracy || kind == Metric::categorical_accuracy ||
         kind == Metric::sparse_categorical_accuracy || kind == Metric::mse || kind == Metric::mae;
}
// True for metrics whose targets are class indices (y of shape (rows,)).
inline bool metric_is_sparse(Metric kind) {
  return kind == Metric::sparse_categorical_accuracy || kind == Metric::sparse_top_k_categorical_accuracy;
}

enum class Opt { sgd, adam, adamw, rmsprop, adagrad, lion };

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
  float beta_1 = 0.9f, beta_2 = 0.999f;  // lion (as float32, as Keras multiplies by them)
  float decay_factor = 1.0f;             // 1 - lr * weight_decay (applied before the update, as Keras does)
};

}  // namespace fastann::ops

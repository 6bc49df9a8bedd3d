// Layer configurations (Keras's layer arguments and defaults): what Sequential::add takes.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fastann/export.hpp"
#include "fastann/tensor.hpp"

namespace fastann {

// Activation names (Keras): linear, relu, sigmoid, tanh, softmax, leaky_relu, elu, selu, gelu, softplus, swish
// (alias silu). `alpha` is leaky_relu's negative slope (default 0.2) or elu's alpha (default 1.0); NaN = default.
struct ActivationSpec {
  std::string name = "linear";
  double alpha = std::numeric_limits<double>::quiet_NaN();
};

// Initializer names (Keras): glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, lecun_normal,
// random_uniform (minval, maxval), random_normal (mean, stddev), truncated_normal (mean, stddev), zeros, ones,
// constant (value). Unset parameters take Keras's defaults.
struct InitializerSpec {
  std::string name;
  std::optional<double> minval, maxval, mean, stddev, value;
  std::optional<uint64_t> seed;
  InitializerSpec(const char* n = "zeros") : name(n) {}  // NOLINT: implicit from a name, like Keras strings
  InitializerSpec(std::string n) : name(std::move(n)) {}  // NOLINT
};

// A weight or activity penalty, Keras's regularizers: l1 * sum|w| + l2 * sum w^2, added to the loss (and its gradient
// to the weights' gradients). name: "l1", "l2" or "l1_l2" (Keras's classes L1, L2, L1L2; kept in the model file).
struct Regularizer {
  std::string name = "l1_l2";
  double l1 = 0.0;
  double l2 = 0.0;
  static Regularizer L1(double l1 = 0.01) { return {"l1", l1, 0.0}; }
  static Regularizer L2(double l2 = 0.01) { return {"l2", 0.0, l2}; }
  static Regularizer L1L2(double l1 = 0.0, double l2 = 0.0) { return {"l1_l2", l1, l2}; }
};

// A fully connected layer: y = activation(x @ kernel + bias), kernel (input_dim, units), bias (units).
// Regularizers (Keras): kernel/bias add their penalty to the loss of every batch; activity penalises the layer's
// output, divided by the batch size (Keras 3).
struct Dense {
  int64_t units = 0;
  ActivationSpec activation;
  bool use_bias = true;
  InitializerSpec kernel_initializer{"glorot_uniform"};
  InitializerSpec bias_initializer{"zeros"};
  std::optional<Regularizer> kernel_regularizer, bias_regularizer, activity_regularizer;
  int64_t input_dim = 0;  // 0: taken from the previous layer or the data
  std::string name;       // empty: "dense", "dense_1", ...

  explicit Dense(int64_t units_, std::string activation_ = "linear") : units(units_) {
    activation.name = std::move(activation_);
  }
  Dense& with_input_dim(int64_t d) { input_dim = d; return *this; }
  Dense& with_name(std::string n) { name = std::move(n); return *this; }
};

// An activation applied on its own: y = activation(x).
struct Activation {
  ActivationSpec activation;
  int64_t input_dim = 0;
  std::string name;
  explicit Activation(std::string activation_) { activation.name = std::move(activation_); }
};

// Inverted dropout: in training each input is zeroed with probability `rate` and the others are scaled by
// 1 / (1 - rate), so E[y] = x; identity in predict and evaluate. The masks come from the layer's own generator,
// seeded with `seed` (else from the global generator), so training is repeatable. rate in [0, 1).
struct Dropout {
  double rate = 0.0;
  std::optional<uint64_t> seed;
  int64_t input_dim = 0;
  std::string name;  // empty: "dropout", "dropout_1", ...
  explicit Dropout(double rate_, std::optional<uint64_t> seed_ = std::nullopt) : rate(rate_), seed(seed_) {}
};

// Batch normalisation over the batch axis (Keras semantics). Training: y = gamma * (x - mean) / sqrt(var + epsilon)
// + beta with the batch's mean and biased variance, and moving = moving * momentum + batch * (1 - momentum).
// predict / evaluate use the moving statistics. Weights (Keras order): gamma (scale), beta (center) trainable;
// moving_mean, moving_variance non-trainable (in get_weights and the model file, never touched by the optimizer).
struct BatchNormalization {
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;
  bool scale = true;
  InitializerSpec beta_initializer{"zeros"};
  InitializerSpec gamma_initializer{"ones"};
  InitializerSpec moving_mean_initializer{"zeros"};
  InitializerSpec moving_variance_initializer{"ones"};
  int64_t input_dim = 0;
  std::string name;  // empty: "batch_normalization", "batch_normalization_1", ...
};

// The input of a Sequential (Keras's `Input(shape=(dim,))`): added first, it sets the first layer's input size.
// Not a layer of the model.
struct Input {
  int64_t dim = 0;
  explicit Input(int64_t dim_) : dim(dim_) {}
};


// A layer's configuration as added to the model, with the name it was given.
using LayerConfig = std::variant<Dense, Activation, Dropout, BatchNormalization>;

}  // namespace fastann

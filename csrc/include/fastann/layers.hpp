// Layer configurations (Keras's layer arguments and defaults): what Sequential::add takes.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "fastann/export.hpp"
#include "fastann/tensor.hpp"

namespace fastann {

// Activation names (Keras): linear, relu, sigmoid, tanh, softmax, leaky_relu, elu, selu, gelu, softplus, swish
// (alias silu), softsign, hard_sigmoid, mish, exponential, hard_silu (alias hard_swish). `alpha` is leaky_relu's
// negative slope (default 0.2) or elu's alpha (default 1.0); NaN = default.
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
  InitializerSpec(const char* n = "zeros") : name(n) {}   // NOLINT: implicit from a name, like Keras strings
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
  Dense& with_input_dim(int64_t d) {
    input_dim = d;
    return *this;
  }
  Dense& with_name(std::string n) {
    name = std::move(n);
    return *this;
  }
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

// The input of a Sequential (Keras's `Input(shape=...)`): added first, it sets the first layer's input shape (per
// sample, without the batch axis). Not a layer of the model.
struct Input {
  Shape shape;
  explicit Input(int64_t dim) : shape{dim} {}
  explicit Input(Shape shape_) : shape(std::move(shape_)) {}
};

// Any layer, as Keras describes one: its class name and its config, a JSON object (the keys of the layer's `to_spec`
// below; for the layers without a struct, e.g. Flatten {} and Reshape {"target_shape": [3, -1]}). Layers are found
// by class name in a registry (nn/layers/), so every layer is added, saved and loaded through this one form.
// Common keys: "name" (empty or absent: a unique default such as "dense_1"), "input_dim" (one axis) or
// "input_shape" (a list) for the first layer.
struct LayerSpec {
  std::string class_name;
  std::string config = "{}";
};
// The layer's configuration as added to the model, with the name it was given.
using LayerConfig = LayerSpec;

// A layer of the given class with a JSON config, e.g. fastann::layer("Flatten"), fastann::layer("Reshape",
// R"({"target_shape": [5, 3]})").
inline LayerSpec layer(std::string class_name, std::string config = "{}") {
  return LayerSpec{std::move(class_name), std::move(config)};
}

FASTANN_API LayerSpec to_spec(const Dense& layer);
FASTANN_API LayerSpec to_spec(const Activation& layer);
FASTANN_API LayerSpec to_spec(const Dropout& layer);
FASTANN_API LayerSpec to_spec(const BatchNormalization& layer);

}  // namespace fastann

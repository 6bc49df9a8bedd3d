// Optimizer configuration (Keras's hyperparameters and defaults) and the optimizer's saved state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fastann/export.hpp"
#include "fastann/tensor.hpp"

namespace fastann {

// Optimizer hyperparameters; defaults(name) gives Keras's defaults for sgd, adam, adamw, rmsprop, adagrad.
// The update rules are Keras's (docs/user-guide/numerics.md).
struct FASTANN_API OptimizerConfig {
  std::string name = "rmsprop";
  double learning_rate = 0.001;
  double momentum = 0.0;                                     // sgd, rmsprop
  bool nesterov = false;                                     // sgd
  double beta_1 = 0.9;                                       // adam, adamw
  double beta_2 = 0.999;                                     // adam, adamw
  double epsilon = 1e-7;                                     // adam, adamw, rmsprop, adagrad
  double rho = 0.9;                                          // rmsprop
  bool centered = false;                                     // rmsprop
  double initial_accumulator_value = 0.1;                    // adagrad
  double weight_decay = 0.0;                                 // decoupled decay, w -= lr * wd * w (adamw default 0.004)
  static OptimizerConfig defaults(const std::string& name);  // throws ValueError on an unknown name
};

// The optimizer's variables (Keras's slots) for every trainable weight, in get_weights() order, plus its step count.
// Slot names by optimizer: sgd with momentum {"momentum"}; adam/adamw {"momentum", "velocity"}; rmsprop
// {"velocity"} + "momentum" when momentum > 0 + "average_gradient" when centered; adagrad {"accumulator"}.
struct OptimizerState {
  int64_t iterations = 0;
  std::vector<std::string> slot_names;
  std::vector<std::vector<Tensor>> slots;  // slots[s][w] has the shape of get_weights()[w]
};

}  // namespace fastann

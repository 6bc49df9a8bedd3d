// Loss configuration by Keras name.
#pragma once

#include <string>
#include <utility>

namespace fastann {

// Loss names (Keras): mean_squared_error (mse), mean_absolute_error (mae), huber (delta), binary_crossentropy,
// categorical_crossentropy, sparse_categorical_crossentropy. from_logits: y_pred are logits.
struct LossConfig {
  std::string name;
  bool from_logits = false;
  double delta = 1.0;
  LossConfig(const char* n = "mean_squared_error") : name(n) {}  // NOLINT
  LossConfig(std::string n) : name(std::move(n)) {}              // NOLINT
};

}  // namespace fastann

// Name registries for activations, losses and metrics (Keras spellings).
#include "ops/types.hpp"

#include <cmath>
#include <utility>

#include "core/check.hpp"

namespace fastann::ops {

namespace {

struct ActEntry {
  const char* name;
  Act kind;
};

constexpr ActEntry kActs[] = {
    {"linear", Act::linear},     {"relu", Act::relu},       {"sigmoid", Act::sigmoid},
    {"tanh", Act::tanh},         {"softmax", Act::softmax}, {"leaky_relu", Act::leaky_relu},
    {"elu", Act::elu},           {"selu", Act::selu},       {"gelu", Act::gelu},
    {"softplus", Act::softplus}, {"swish", Act::swish},     {"silu", Act::swish},
};

struct LossEntry {
  const char* name;
  Loss kind;
};

constexpr LossEntry kLosses[] = {
    {"mean_squared_error", Loss::mse},
    {"mse", Loss::mse},
    {"mean_absolute_error", Loss::mae},
    {"mae", Loss::mae},
    {"huber", Loss::huber},
    {"huber_loss", Loss::huber},
    {"binary_crossentropy", Loss::bce},
    {"categorical_crossentropy", Loss::cce},
    {"sparse_categorical_crossentropy", Loss::scce},
};

}  // namespace

ActParams parse_activation(const std::string& name, double alpha) {
  const std::string key = name.empty() || name == "None" ? "linear" : name;
  for (const auto& e : kActs) {
    if (key == e.name) {
      ActParams p;
      p.kind = e.kind;
      if (e.kind == Act::leaky_relu) p.alpha = std::isnan(alpha) ? 0.2f : static_cast<float>(alpha);
      if (e.kind == Act::elu) p.alpha = std::isnan(alpha) ? 1.0f : static_cast<float>(alpha);
      return p;
    }
  }
  std::string valid;
  for (const auto& e : kActs) valid += std::string(valid.empty() ? "" : ", ") + e.name;
  throw ValueError("unknown activation '" + name + "'; valid activations: " + valid);
}

const char* act_name(Act kind) {
  for (const auto& e : kActs) {
    if (e.kind == kind) return e.name;
  }
  return "?";
}

bool act_grad_from_output(const ActParams& p) {
  switch (p.kind) {
    case Act::linear:
    case Act::relu:
    case Act::sigmoid:
    case Act::tanh:
    case Act::softmax:
      return true;
    case Act::leaky_relu:
    case Act::elu:
      return p.alpha > 0.0f;  // the output's sign then tells the input's
    case Act::selu:
      return true;
    case Act::gelu:
    case Act::softplus:
    case Act::swish:
      return false;
  }
  return false;
}

Loss parse_loss(const std::string& name) {
  for (const auto& e : kLosses) {
    if (name == e.name) return e.kind;
  }
  std::string valid;
  for (const auto& e : kLosses) valid += std::string(valid.empty() ? "" : ", ") + e.name;
  throw ValueError("unknown loss '" + name + "'; valid losses: " + valid);
}

const char* loss_name(Loss kind) {
  for (const auto& e : kLosses) {
    if (e.kind == kind) return e.name;
  }
  return "?";
}

const char* metric_name(Metric kind) {
  switch (kind) {
    case Metric::binary_accuracy: return "binary_accuracy";
    case Metric::categorical_accuracy: return "categorical_accuracy";
    case Metric::sparse_categorical_accuracy: return "sparse_categorical_accuracy";
    case Metric::mse: return "mse";
    case Metric::mae: return "mae";
  }
  return "?";
}

}  // namespace fastann::ops

// Adam (Keras): m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); w -= alpha * m / (sqrt(v) + epsilon) with
// alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) (epsilon outside the bias correction, as Keras). Slots:
// "momentum", "velocity". Defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.999, epsilon 1e-7. AdamW (adamw.cpp)
// is this update with decoupled weight decay.
#include "nn/optimizers/adam.hpp"

#include <cmath>
#include <memory>

#include "nn/optimizer.hpp"

namespace fastann::nn {

ops::OptStep adam_scalars(const OptimizerConfig& cfg, double t, ops::Opt kind) {
  ops::OptStep s;
  s.kind = kind;
  s.lr = static_cast<float>(cfg.learning_rate);
  s.one_minus_beta_1 = static_cast<float>(1.0 - cfg.beta_1);
  s.one_minus_beta_2 = static_cast<float>(1.0 - cfg.beta_2);
  s.epsilon = static_cast<float>(cfg.epsilon);
  s.adam_alpha = static_cast<float>(cfg.learning_rate * std::sqrt(1.0 - std::pow(cfg.beta_2, t)) /
                                    (1.0 - std::pow(cfg.beta_1, t)));
  return s;
}

namespace {

class Adam final : public Optimizer {
 public:
  explicit Adam(const OptimizerConfig& cfg) : Optimizer(cfg) {}

 protected:
  std::vector<SlotSpec> slot_specs() const override { return {{"momentum", 0.0f, 0}, {"velocity", 0.0f, 1}}; }
  ops::OptStep scalars(double t) const override { return adam_scalars(cfg_, t, ops::Opt::adam); }
};

OptimizerConfig defaults() {
  OptimizerConfig c;
  c.name = "adam";
  return c;
}

std::unique_ptr<Optimizer> create(const OptimizerConfig& cfg) { return std::make_unique<Adam>(cfg); }

}  // namespace

void register_adam(Registry<OptimizerEntry>& r) { r.add("adam", {&defaults, &create}); }

}  // namespace fastann::nn

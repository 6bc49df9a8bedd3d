// RMSprop (Keras): v = rho * v + (1 - rho) g^2 (centered: a = rho * a + (1 - rho) g, den = v - a^2);
// step = lr * g / sqrt(den + epsilon) (epsilon inside the square root, as Keras); with momentum m = mom * m + step,
// w -= m, else w -= step. Slots: "velocity", + "momentum" when momentum > 0, + "average_gradient" when centered.
// Defaults: learning_rate 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered false.
#include <memory>

#include "nn/optimizer.hpp"

namespace fastann::nn {

namespace {

class RmsProp final : public Optimizer {
 public:
  explicit RmsProp(const OptimizerConfig& cfg) : Optimizer(cfg) {}

 protected:
  std::vector<SlotSpec> slot_specs() const override {
    std::vector<SlotSpec> s{{"velocity", 0.0f, 0}};
    if (cfg_.momentum > 0.0) s.push_back({"momentum", 0.0f, 1});
    if (cfg_.centered) s.push_back({"average_gradient", 0.0f, 2});
    return s;
  }
  ops::OptStep scalars(double /*t*/) const override {
    ops::OptStep s;
    s.kind = ops::Opt::rmsprop;
    s.lr = static_cast<float>(cfg_.learning_rate);
    s.momentum = static_cast<float>(cfg_.momentum);
    s.one_minus_rho = static_cast<float>(1.0 - cfg_.rho);
    s.epsilon = static_cast<float>(cfg_.epsilon);
    s.rho = static_cast<float>(cfg_.rho);
    s.centered = cfg_.centered;
    return s;
  }
};

OptimizerConfig defaults() {
  OptimizerConfig c;
  c.name = "rmsprop";
  return c;
}

std::unique_ptr<Optimizer> create(const OptimizerConfig& cfg) { return std::make_unique<RmsProp>(cfg); }

}  // namespace

void register_rmsprop(Registry<OptimizerEntry>& r) { r.add("rmsprop", {&defaults, &create}); }

}  // namespace fastann::nn

// Lion (Keras 3): u = m * beta_1 + g * (1 - beta_1); w -= lr * sign(u); m = m * beta_2 + g * (1 - beta_2)
// (ops/optimizer/formulas.hpp). Slots: "momentum". Defaults: learning_rate 0.001, beta_1 0.9, beta_2 0.99.
#include <memory>

#include "nn/optimizer.hpp"

namespace fastann::nn {

namespace {

class Lion final : public Optimizer {
 public:
  explicit Lion(const OptimizerConfig& cfg) : Optimizer(cfg) {}

 protected:
  std::vector<SlotSpec> slot_specs() const override { return {{"momentum", 0.0f, 0}}; }
  ops::OptStep scalars(double /*t*/) const override {
    ops::OptStep s;
    s.kind = ops::Opt::lion;
    s.lr = static_cast<float>(cfg_.learning_rate);
    s.beta_1 = static_cast<float>(cfg_.beta_1);
    s.beta_2 = static_cast<float>(cfg_.beta_2);
    s.one_minus_beta_1 = static_cast<float>(1.0 - cfg_.beta_1);
    s.one_minus_beta_2 = static_cast<float>(1.0 - cfg_.beta_2);
    return s;
  }
};

OptimizerConfig defaults() {
  OptimizerConfig c;
  c.name = "lion";
  c.beta_2 = 0.99;
  return c;
}

std::unique_ptr<Optimizer> create(const OptimizerConfig& cfg) { return std::make_unique<Lion>(cfg); }

}  // namespace

void register_lion(Registry<OptimizerEntry>& r) { r.add("lion", {&defaults, &create}); }

}  // namespace fastann::nn

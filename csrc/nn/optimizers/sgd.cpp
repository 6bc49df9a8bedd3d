// SGD (Keras): m = mu * m - lr * g; w += m (nesterov: w += mu * m - lr * g); without momentum w -= lr * g.
// Slots: "momentum" when momentum > 0. Defaults: learning_rate 0.01, momentum 0, nesterov false.
#include <memory>

#include "nn/optimizer.hpp"

namespace fastann::nn {

namespace {

class Sgd final : public Optimizer {
 public:
  explicit Sgd(const OptimizerConfig& cfg) : Optimizer(cfg) {}

 protected:
  std::vector<SlotSpec> slot_specs() const override {
    if (cfg_.momentum > 0.0) return {{"momentum", 0.0f, 0}};
    return {};
  }
  ops::OptStep scalars(double /*t*/) const override {
    ops::OptStep s;
    s.kind = ops::Opt::sgd;
    s.lr = static_cast<float>(cfg_.learning_rate);
    s.momentum = static_cast<float>(cfg_.momentum);
    s.nesterov = cfg_.nesterov;
    return s;
  }
};

OptimizerConfig defaults() {
  OptimizerConfig c;
  c.name = "sgd";
  c.learning_rate = 0.01;
  return c;
}

std::unique_ptr<Optimizer> create(const OptimizerConfig& cfg) { return std::make_unique<Sgd>(cfg); }

}  // namespace

void register_sgd(Registry<OptimizerEntry>& r) { r.add("sgd", {&defaults, &create}); }

}  // namespace fastann::nn

// Adagrad (Keras): acc += g^2; w -= lr * g / sqrt(acc + epsilon). Slots: "accumulator", starting at
// initial_accumulator_value (Keras: 0.1). Defaults: learning_rate 0.001, epsilon 1e-7.
#include <memory>

#include "nn/optimizer.hpp"

namespace fastann::nn {

namespace {

class Adagrad final : public Optimizer {
 public:
  explicit Adagrad(const OptimizerConfig& cfg) : Optimizer(cfg) {}

 protected:
  std::vector<SlotSpec> slot_specs() const override {
    return {{"accumulator", static_cast<float>(cfg_.initial_accumulator_value), 0}};
  }
  ops::OptStep scalars(double /*t*/) const override {
    ops::OptStep s;
    s.kind = ops::Opt::adagrad;
    s.lr = static_cast<float>(cfg_.learning_rate);
    s.epsilon = static_cast<float>(cfg_.epsilon);
    return s;
  }
};

OptimizerConfig defaults() {
  OptimizerConfig c;
  c.name = "adagrad";
  return c;
}

std::unique_ptr<Optimizer> create(const OptimizerConfig& cfg) { return std::make_unique<Adagrad>(cfg); }

}  // namespace

void register_adagrad(Registry<OptimizerEntry>& r) { r.add("adagrad", {&defaults, &create}); }

}  // namespace fastann::nn

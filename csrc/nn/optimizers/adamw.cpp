// AdamW (Keras): Adam's update after decoupled weight decay w -= lr * weight_decay * w. Slots: "momentum",
// "velocity". Defaults: Adam's, weight_decay 0.004.
#include <memory>

#include "nn/optimizer.hpp"
#include "nn/optimizers/adam.hpp"

namespace fastann::nn {

namespace {

class AdamW final : public Optimizer {
 public:
  explicit AdamW(const OptimizerConfig& cfg) : Optimizer(cfg) {}

 protected:
  std::vector<SlotSpec> slot_specs() const override { return {{"momentum", 0.0f, 0}, {"velocity", 0.0f, 1}}; }
  ops::OptStep scalars(double t) const override { return adam_scalars(cfg_, t, ops::Opt::adamw); }
};

OptimizerConfig defaults() {
  OptimizerConfig c;
  c.name = "adamw";
  c.weight_decay = 0.004;
  return c;
}

std::unique_ptr<Optimizer> create(const OptimizerConfig& cfg) { return std::make_unique<AdamW>(cfg); }

}  // namespace

void register_adamw(Registry<OptimizerEntry>& r) { r.add("adamw", {&defaults, &create}); }

}  // namespace fastann::nn

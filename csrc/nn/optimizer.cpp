// The Optimizer base (slots, iterations, decoupled weight decay) and the optimizer registry (see optimizer.hpp).
#include "nn/optimizer.hpp"

#include <cmath>

#include "core/check.hpp"
#include "ops/ops.hpp"

namespace fastann {

OptimizerConfig OptimizerConfig::defaults(const std::string& name) {
  return nn::optimizer_registry().get(name).defaults();
}

namespace nn {

Optimizer::Optimizer(const OptimizerConfig& cfg) : cfg_(cfg) {
  // Every field of the config is checked, used by this optimizer or not (a config may be saved and reused).
  set_learning_rate(cfg.learning_rate);
  FASTANN_CHECK_ARG(cfg.momentum >= 0.0 && cfg.momentum <= 1.0,
                    "optimizer: momentum must be in [0, 1], got " << cfg.momentum);
  FASTANN_CHECK_ARG(cfg.beta_1 >= 0.0 && cfg.beta_1 < 1.0, "optimizer: beta_1 must be in [0, 1), got " << cfg.beta_1);
  FASTANN_CHECK_ARG(cfg.beta_2 >= 0.0 && cfg.beta_2 < 1.0, "optimizer: beta_2 must be in [0, 1), got " << cfg.beta_2);
  FASTANN_CHECK_ARG(cfg.epsilon >= 0.0, "optimizer: epsilon must be >= 0, got " << cfg.epsilon);
  FASTANN_CHECK_ARG(cfg.rho >= 0.0 && cfg.rho <= 1.0, "optimizer: rho must be in [0, 1], got " << cfg.rho);
  FASTANN_CHECK_ARG(cfg.initial_accumulator_value >= 0.0,
                    "optimizer: initial_accumulator_value must be >= 0, got " << cfg.initial_accumulator_value);
  FASTANN_CHECK_ARG(cfg.weight_decay >= 0.0, "optimizer: weight_decay must be >= 0, got " << cfg.weight_decay);
}

void Optimizer::set_learning_rate(double lr) {
  FASTANN_CHECK_ARG(std::isfinite(lr) && lr >= 0.0, "learning_rate must be a finite number >= 0, got " << lr);
  cfg_.learning_rate = lr;
}

void Optimizer::reset(int64_t n, Device device) {
  std::vector<SlotSpec> specs = slot_specs();
  std::vector<Tensor> slots;
  for (const SlotSpec& s : specs) {
    slots.emplace_back(Shape{n}, device);
    if (s.initial != 0.0f) slots.back().fill(s.initial);
  }
  specs_ = std::move(specs);
  slots_ = std::move(slots);
  iterations_ = 0;
}

void Optimizer::to(Device device) {
  std::vector<Tensor> moved;
  for (const Tensor& t : slots_) moved.push_back(t.to(device));
  slots_ = std::move(moved);
}

std::vector<std::string> Optimizer::slot_names() const {
  std::vector<std::string> names;
  for (const SlotSpec& s : specs_) names.emplace_back(s.name);
  return names;
}

Tensor& Optimizer::slot(size_t i) {
  FASTANN_CHECK_ARG(i < slots_.size(), "optimizer slot index " << i << " out of range (" << slots_.size() << " slots)");
  return slots_[i];
}

void Optimizer::set_iterations(int64_t n) {
  FASTANN_CHECK_ARG(n >= 0, "optimizer iterations must be >= 0, got " << n);
  iterations_ = n;
}

void Optimizer::step(Tensor& w, const Tensor& g) {
  ++iterations_;
  ops::OptStep s = scalars(static_cast<double>(iterations_));
  s.decay_factor = static_cast<float>(1.0 - cfg_.learning_rate * cfg_.weight_decay);
  Tensor state[3];
  for (size_t i = 0; i < slots_.size(); ++i) state[specs_[i].kernel_slot] = slots_[i];
  ops::optimizer_step(s, w, g, state[0], state[1], state[2]);
}

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& cfg) {
  return optimizer_registry().get(cfg.name).create(cfg);
}

// --- the registry: one line per optimizer, each defined in its own file of nn/optimizers/ ------------------------
void register_sgd(Registry<OptimizerEntry>& r);
void register_adam(Registry<OptimizerEntry>& r);
void register_adamw(Registry<OptimizerEntry>& r);
void register_rmsprop(Registry<OptimizerEntry>& r);
void register_adagrad(Registry<OptimizerEntry>& r);
void register_lion(Registry<OptimizerEntry>& r);

namespace {
void fill_optimizers(Registry<OptimizerEntry>& r) {
  register_sgd(r);
  register_adam(r);
  register_adamw(r);
  register_rmsprop(r);
  register_adagrad(r);
  register_lion(r);
}
}  // namespace

const Registry<OptimizerEntry>& optimizer_registry() {
  static const Registry<OptimizerEntry> registry("optimizer", &fill_optimizers);
  return registry;
}

}  // namespace nn
}  // namespace fastann

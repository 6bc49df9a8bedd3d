// Optimizer: the base of the optimizers of nn/optimizers/ (one file each: Keras defaults, checks, named slots, the
// per-step scalars) and their registry by Keras name. The element-wise update itself is one fused op over the
// model's flat parameter buffer (ops::optimizer_step), so a model's whole update is one kernel call.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/registry.hpp"
#include "fastann/model.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::nn {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  const OptimizerConfig& config() const { return cfg_; }
  void set_learning_rate(double lr);
  int64_t iterations() const { return iterations_; }

  // Allocates the slots for n parameters on `device`, each filled with its initial value; iterations restart at 0.
  void reset(int64_t n, Device device = Device::cpu());
  // Moves the slots to `device` (values kept).
  void to(Device device);
  // The variables in use (Keras's names, in this optimizer's order) and their flat buffers, laid out as the
  // parameters.
  std::vector<std::string> slot_names() const;
  Tensor& slot(size_t i);
  const Tensor& slot(size_t i) const { return const_cast<Optimizer*>(this)->slot(i); }
  void set_iterations(int64_t n);

  // w -= update(g); advances the iteration count.
  void step(Tensor& w, const Tensor& g);

 protected:
  explicit Optimizer(const OptimizerConfig& cfg);  // checks the hyperparameters (ValueError naming the bad one)
  // A variable of the optimizer: its Keras name, its initial value and its place among the fused op's three state
  // buffers (the op's formula for this optimizer reads it there).
  struct SlotSpec {
    const char* name;
    float initial;
    int kernel_slot;
  };
  virtual std::vector<SlotSpec> slot_specs() const = 0;
  // The update's scalars for step t (1-based), computed once per step in double and rounded once, as Keras's
  // Python-float arithmetic; decay_factor is set by the base.
  virtual ops::OptStep scalars(double t) const = 0;

  OptimizerConfig cfg_;

 private:
  int64_t iterations_ = 0;
  std::vector<SlotSpec> specs_;  // of the slots in use (set by reset)
  std::vector<Tensor> slots_;
};

// The registry entry of an optimizer: Keras's defaults for its config and its factory (ValueError for a bad value).
struct OptimizerEntry {
  OptimizerConfig (*defaults)();
  std::unique_ptr<Optimizer> (*create)(const OptimizerConfig& cfg);
};
const Registry<OptimizerEntry>& optimizer_registry();
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& cfg);

}  // namespace fastann::nn

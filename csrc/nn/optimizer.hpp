// Optimizer: Keras hyperparameters and per-step scalars; the element-wise update itself is one fused op over the
// model's flat parameter buffer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fastann/model.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::nn {

class Optimizer {
 public:
  explicit Optimizer(const OptimizerConfig& cfg);  // validates the config
  const OptimizerConfig& config() const { return cfg_; }
  void set_learning_rate(double lr);
  int64_t iterations() const { return iterations_; }

  // Allocates (zeroed) state for n parameters on `device`.
  void reset(int64_t n, Device device = Device::cpu());
  // Moves the state to `device` (values kept).
  void to(Device device);
  // The variables in use (Keras's names) and their flat buffers, laid out as the parameters.
  std::vector<std::string> slot_names() const;
  Tensor& slot(size_t i);
  const Tensor& slot(size_t i) const { return const_cast<Optimizer*>(this)->slot(i); }
  void set_iterations(int64_t n);

  // w -= update(g); advances the iteration count.
  void step(Tensor& w, const Tensor& g);

 private:
  OptimizerConfig cfg_;
  ops::Opt kind_;
  int64_t iterations_ = 0;
  Tensor s1_, s2_, s3_;
};

}  // namespace fastann::nn

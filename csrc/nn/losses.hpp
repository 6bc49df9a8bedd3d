// The losses by Keras name (compile(loss=...), the model file, the bindings). An entry is the kind whose maths the
// loss op holds (ops/loss/formulas.hpp): adding a loss is its formula there, its kind in ops/types.hpp and its
// names here (losses.cpp).
#pragma once

#include <string>

#include "core/registry.hpp"
#include "fastann/losses.hpp"
#include "ops/types.hpp"

namespace fastann::nn {

struct LossEntry {
  ops::Loss kind;
};

// Keras function names and their aliases ("mse", "huber_loss", ...).
const Registry<LossEntry>& loss_registry();

// The loss `config` names, with its parameters checked; ValueError naming the valid losses otherwise.
ops::LossParams resolve_loss(const LossConfig& config);

}  // namespace fastann::nn

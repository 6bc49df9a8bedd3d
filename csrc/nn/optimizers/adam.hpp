// The Adam update's scalars, shared by Adam and AdamW (the same update; AdamW adds decoupled weight decay).
#pragma once

#include <string>
#include <vector>

#include "fastann/model.hpp"
#include "ops/types.hpp"

namespace fastann::nn {

ops::OptStep adam_scalars(const OptimizerConfig& cfg, double t, ops::Opt kind);

}  // namespace fastann::nn

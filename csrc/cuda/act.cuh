// Device versions of the CPU activations (csrc/ops/activation/cpu.cpp): the same formulas in float32.
#pragma once

#include "ops/types.hpp"

namespace fastann::cuda {

constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

__device__ __forceinline__ float d_sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

// Element-wise activation (not softmax).
__device__ __forceinline__ float act_fwd(ops::Act k, float x, float alpha) {
  switch (k) {
    case ops::Act::linear: return x;
    case ops::Act::relu: return x > 0.0f ? x : 0.0f;
    case ops::Act::sigmoid: return d_sigmoid(x);
    case ops::Act::tanh: return tanhf(x);
    case ops::Act::leaky_relu: return x > 0.0f ? x : alpha * x;
    case ops::Act::elu: return x > 0.0f ? x : alpha * expm1f(x);
    case ops::Act::selu: return x > 0.0f ? kSeluScale * x : kSeluScale * kSeluAlpha * expm1f(x);
    case ops::Act::gelu: return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
    case ops::Act::softplus: return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
    case ops::Act::swish: return x * d_sigmoid(x);
    default: return x;
  }
}

// Derivative from the input x or the output y, whichever ops::act_grad_from_output says the kind needs (the
// caller passes the one it has; leaky_relu/elu accept either: has_x tells which).
__device__ __forceinline__ float act_deriv(ops::Act k, float x, float y, bool has_x, float alpha) {
  switch (k) {
    case ops::Act::linear: return 1.0f;
    case ops::Act::relu: return y > 0.0f ? 1.0f : 0.0f;
    case ops::Act::sigmoid: return y * (1.0f - y);
    case ops::Act::tanh: return 1.0f - y * y;
    case ops::Act::leaky_relu:
      return has_x ? (x > 0.0f ? 1.0f : alpha) : (y > 0.0f ? 1.0f : alpha);
    case ops::Act::elu:
      return has_x ? (x > 0.0f ? 1.0f : alpha * expf(x)) : (y > 0.0f ? 1.0f : y + alpha);
    case ops::Act::selu: return y > 0.0f ? kSeluScale : y + kSeluScale * kSeluAlpha;
    case ops::Act::gelu: return 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
    case ops::Act::softplus: return d_sigmoid(x);
    case ops::Act::swish: {
      const float s = d_sigmoid(x);
      return s * (1.0f + x * (1.0f - s));
    }
    default: return 1.0f;
  }
}

}  // namespace fastann::cuda

// The activation formulas: the one copy of the maths that the CPU kernels (cpu.cpp), the CUDA kernels (cuda.cu) and
// the GEMM epilogues of both backends evaluate. FASTANN_HD functions of float32 on the host and the device alike.
//   forward<K>(x, alpha)      y = act(x) for an element-wise kind K (softmax is a row op: cpu.cpp / cuda.cu)
//   deriv<K>(x, y, alpha)     act'(x), reading x or y as needs_output(K) says (the other argument is ignored)
//   forward(k, ...), deriv(k, ...)   the same with the kind known at run time (a switch; for device kernels)
// Keras 3 is the reference for every formula (keras/src/activations, keras/src/backend/*/nn.py).
#pragma once

#include <math.h>  // expf, tanhf, erff, expm1f, log1pf, fabsf: the same names on the host and in device code

#include "ops/hd.hpp"
#include "ops/types.hpp"

namespace fastann::ops::formulas {

constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

// 1 / (1 + e^-x) without overflow for either sign.
FASTANN_HD float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
  const float e = expf(x);
  return e / (1.0f + e);
}

// log(1 + e^x) = max(x, 0) + log1p(e^-|x|): no overflow, and NaN propagates (x < 0 is false for NaN).
FASTANN_HD float softplus(float x) { return (x < 0.0f ? 0.0f : x) + log1pf(expf(-fabsf(x))); }

// Keras 3's hard_sigmoid: relu6(x + 3) / 6, i.e. x / 6 + 1/2 clipped to [0, 1], rounded as Keras computes it.
FASTANN_HD float hard_sigmoid(float x) {
  float t = x + 3.0f;
  t = t < 0.0f ? 0.0f : (t > 6.0f ? 6.0f : t);  // NaN passes through both tests
  return t / 6.0f;
}

template <Act K>
FASTANN_HD float forward(float x, float alpha) {
  if constexpr (K == Act::relu) return x > 0.0f ? x : 0.0f;
  if constexpr (K == Act::sigmoid) return sigmoid(x);
  if constexpr (K == Act::tanh) return tanhf(x);
  if constexpr (K == Act::leaky_relu) return x > 0.0f ? x : alpha * x;
  if constexpr (K == Act::elu) return x > 0.0f ? x : alpha * expm1f(x);
  if constexpr (K == Act::selu) return x > 0.0f ? kSeluScale * x : kSeluScale * kSeluAlpha * expm1f(x);
  if constexpr (K == Act::gelu) return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
  if constexpr (K == Act::softplus) return softplus(x);
  if constexpr (K == Act::swish) return x * sigmoid(x);
  if constexpr (K == Act::softsign) return x / (fabsf(x) + 1.0f);
  if constexpr (K == Act::hard_sigmoid) return hard_sigmoid(x);
  if constexpr (K == Act::mish) return x * tanhf(softplus(x));
  if constexpr (K == Act::exponential) return expf(x);
  if constexpr (K == Act::hard_silu) return x * hard_sigmoid(x);
  return x;  // linear
}

// act'(.) from x or from y = act(x): the kinds for which act_grad_from_output holds read y (relu, sigmoid, tanh,
// selu; leaky_relu and elu when alpha > 0, where y > 0 exactly when x > 0 and elu's alpha e^x is y + alpha),
// the others read x. leaky_relu and elu take `from_output` to say which they were given.
template <Act K>
FASTANN_HD float deriv(float x, float y, float alpha, bool from_output) {
  if constexpr (K == Act::relu) return y > 0.0f ? 1.0f : 0.0f;
  if constexpr (K == Act::sigmoid) return y * (1.0f - y);
  if constexpr (K == Act::tanh) return 1.0f - y * y;
  if constexpr (K == Act::leaky_relu) return (from_output ? y : x) > 0.0f ? 1.0f : alpha;
  if constexpr (K == Act::elu) {
    if (from_output) return y > 0.0f ? 1.0f : y + alpha;
    return x > 0.0f ? 1.0f : alpha * expf(x);
  }
  if constexpr (K == Act::selu) return y > 0.0f ? kSeluScale : y + kSeluScale * kSeluAlpha;
  if constexpr (K == Act::gelu) {
    return 0.5f * (1.0f + erff(x * kInvSqrt2)) + x * kInvSqrt2Pi * expf(-0.5f * x * x);
  }
  if constexpr (K == Act::softplus) return sigmoid(x);
  if constexpr (K == Act::swish) {
    const float s = sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
  }
  if constexpr (K == Act::softsign) {
    const float d = fabsf(x) + 1.0f;
    return 1.0f / (d * d);
  }
  // relu6's gradient is 1 strictly inside (0, 6), 0 at and beyond the corners (as TensorFlow and JAX define it).
  if constexpr (K == Act::hard_sigmoid) return y > 0.0f && y < 1.0f ? 1.0f / 6.0f : 0.0f;
  if constexpr (K == Act::mish) {  // tanh(sp) + x sech^2(sp) sigmoid(x), sp = softplus(x)
    const float t = tanhf(softplus(x));
    return t + x * (1.0f - t * t) * sigmoid(x);
  }
  if constexpr (K == Act::exponential) return y;
  if constexpr (K == Act::hard_silu) {  // hard_sigmoid(x) + x hard_sigmoid'(x), the corners as above
    const float t = x + 3.0f;
    const float h = hard_sigmoid(x);
    return t > 0.0f && t < 6.0f ? h + x / 6.0f : h;
  }
  return 1.0f;  // linear
}

// Whether deriv<K> reads y (the output) rather than x (the input): the layers then need not keep x. leaky_relu and
// elu read y when alpha > 0 (the output's sign then tells the input's). ops::act_grad_from_output asks this.
template <Act K>
FASTANN_HD bool reads_output(float alpha) {
  if constexpr (K == Act::linear || K == Act::relu || K == Act::sigmoid || K == Act::tanh || K == Act::selu ||
                K == Act::hard_sigmoid || K == Act::exponential) {
    return true;
  }
  if constexpr (K == Act::leaky_relu || K == Act::elu) return alpha > 0.0f;
  return false;
}

// --- the element-wise kinds, listed once: every run-time dispatch (here, the CPU kernels, the CUDA kernels and
// both GEMM epilogues) visits this list, so a new kind is its three functions above plus its entry here. ---
template <Act... Ks>
struct ActList {};
using Elementwise =
    ActList<Act::linear, Act::relu, Act::sigmoid, Act::tanh, Act::leaky_relu, Act::elu, Act::selu, Act::gelu,
            Act::softplus, Act::swish, Act::softsign, Act::hard_sigmoid, Act::mish, Act::exponential, Act::hard_silu>;

template <Act K>
struct ActTag {
  static constexpr Act value = K;
};

// f(ActTag<K>{}) for the listed K equal to k; f(ActTag<Act::linear>{}) when k is not listed (softmax).
template <typename F, Act K, Act... Rest>
FASTANN_HD decltype(auto) visit(Act k, const F& f, ActList<K, Rest...>) {
  if (k == K) return f(ActTag<K>{});
  if constexpr (sizeof...(Rest) > 0) {
    return visit(k, f, ActList<Rest...>{});
  } else {
    return f(ActTag<Act::linear>{});
  }
}

struct ForwardOf {
  float x, alpha;
  template <Act K>
  FASTANN_HD float operator()(ActTag<K>) const {
    return forward<K>(x, alpha);
  }
};
struct DerivOf {
  float x, y, alpha;
  bool from_output;
  template <Act K>
  FASTANN_HD float operator()(ActTag<K>) const {
    return deriv<K>(x, y, alpha, from_output);
  }
};
struct ReadsOutputOf {
  float alpha;
  template <Act K>
  FASTANN_HD bool operator()(ActTag<K>) const {
    return reads_output<K>(alpha);
  }
};

// The functions above with the kind known at run time (device kernels call these per element; the CPU kernels
// visit once per call and run a loop instantiated for the kind, which vectorises). Softmax: the identity.
FASTANN_HD float forward(Act k, float x, float alpha) { return visit(k, ForwardOf{x, alpha}, Elementwise{}); }
FASTANN_HD float deriv(Act k, float x, float y, float alpha, bool from_output) {
  return visit(k, DerivOf{x, y, alpha, from_output}, Elementwise{});
}

}  // namespace fastann::ops::formulas

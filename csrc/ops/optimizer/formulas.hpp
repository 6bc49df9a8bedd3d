// The optimizer update rules (Keras's), shared by the CPU and CUDA kernels: one copy of the maths as FASTANN_HD
// functions. Each updates one parameter element w and the optimizer's state slots of that element in place from its
// gradient g; the scalars come from ops::OptStep. Decoupled weight decay (adamw, or any optimizer with
// weight_decay) is the caller's: w *= OptStep::decay_factor before the rule.
#pragma once

#include <cmath>

#include "ops/hd.hpp"
#include "ops/types.hpp"

namespace fastann::ops::formulas {

// SGD without momentum: w -= lr * g.
FASTANN_HD void sgd_update(float& w, float g, float lr) { w -= lr * g; }

// SGD with momentum mu: m = mu * m - lr * g; w += m (nesterov: w += mu * m - lr * g).
FASTANN_HD void sgd_momentum_update(float& w, float& m, float g, float lr, float mu, bool nesterov) {
  const float mn = mu * m - lr * g;
  m = mn;
  w += nesterov ? mu * mn - lr * g : mn;
}

// Adam / AdamW: m += (g - m)(1 - beta_1); v += (g^2 - v)(1 - beta_2); w -= alpha * m / (sqrt(v) + eps), with
// alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t) (OptStep::adam_alpha).
FASTANN_HD void adam_update(float& w, float& m, float& v, float g, const OptStep& s) {
  m = m + (g - m) * s.one_minus_beta_1;
  v = v + (g * g - v) * s.one_minus_beta_2;
  w -= s.adam_alpha * m / (sqrtf(v) + s.epsilon);
}

// RMSprop: v = rho * v + (1 - rho) g^2; centered: a = rho * a + (1 - rho) g and den = v - a^2 (else den = v);
// step = lr * g / sqrt(den + eps); with momentum: m = momentum * m + step, w -= m; else w -= step. m and a are
// read and written only when used.
FASTANN_HD void rmsprop_update(float& w, float& v, float& m, float& a, float g, const OptStep& s) {
  v = s.rho * v + s.one_minus_rho * g * g;
  float den = v;
  if (s.centered) {
    a = s.rho * a + s.one_minus_rho * g;
    den = v - a * a;
  }
  const float step = s.lr * g / sqrtf(den + s.epsilon);
  if (s.momentum > 0.0f) {
    m = s.momentum * m + step;
    w -= m;
  } else {
    w -= step;
  }
}

// Adagrad: acc += g^2; w -= lr * g / sqrt(acc + eps).
FASTANN_HD void adagrad_update(float& w, float& acc, float g, float lr, float eps) {
  acc = acc + g * g;
  w -= lr * g / sqrtf(acc + eps);
}

// Lion (Keras 3; Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"): with u = m * beta_1 +
// g * (1 - beta_1), w -= lr * sign(u), then m = m * beta_2 + g * (1 - beta_2). sign(0) = 0 and sign(NaN) = NaN, as
// keras.ops.sign, so a NaN gradient reaches the weight.
FASTANN_HD void lion_update(float& w, float& m, float g, float lr, float beta_1, float one_minus_beta_1, float beta_2,
                            float one_minus_beta_2) {
  const float u = m * beta_1 + g * one_minus_beta_1;
  const float sign = u > 0.0f ? 1.0f : u < 0.0f ? -1.0f : u;  // 0 (signed) or NaN passes through
  w -= lr * sign;
  m = m * beta_2 + g * one_minus_beta_2;
}

// The rule of s.kind for one element; the slots are the optimizer's (sgd: momentum; adam: m, v; rmsprop:
// velocity, momentum, average gradient; adagrad: accumulator; lion: momentum); unused ones are ignored.
FASTANN_HD void update(const OptStep& s, float& w, float& s1, float& s2, float& s3, float g) {
  switch (s.kind) {
    case Opt::sgd:
      if (s.momentum == 0.0f) {
        sgd_update(w, g, s.lr);
      } else {
        sgd_momentum_update(w, s1, g, s.lr, s.momentum, s.nesterov);
      }
      return;
    case Opt::adam:
    case Opt::adamw:
      adam_update(w, s1, s2, g, s);
      return;
    case Opt::rmsprop:
      rmsprop_update(w, s1, s2, s3, g, s);
      return;
    case Opt::adagrad:
      adagrad_update(w, s1, g, s.lr, s.epsilon);
      return;
    case Opt::lion:
      lion_update(w, s1, g, s.lr, s.beta_1, s.one_minus_beta_1, s.beta_2, s.one_minus_beta_2);
      return;
  }
}

}  // namespace fastann::ops::formulas

// Fused optimizer updates over a flat parameter buffer (CPU), Keras's update rules:
//   sgd:      m = mu*m - lr*g; w += m  (nesterov: w += mu*m - lr*g); without momentum w -= lr*g
//   adam:     m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); w -= alpha * m / (sqrt(v) + eps),
//             alpha = lr * sqrt(1 - b2^t) / (1 - b1^t)
//   rmsprop:  v = rho*v + (1 - rho) g^2 (centered: a = rho*a + (1 - rho) g, den = v - a^2) ;
//             step = lr * g / sqrt(den + eps); with momentum m = mom*m + step, w -= m; else w -= step
//   adagrad:  acc += g^2; w -= lr * g / sqrt(acc + eps)
//   lion:     ops/optimizer/formulas.hpp
// Decoupled weight decay (adamw, or any optimizer with weight_decay) first scales w by (1 - lr*wd).
#include <cmath>

#include "cpu/ops/kernels.hpp"
#include "ops/optimizer/formulas.hpp"

namespace fastann::cpu {

void optimizer_step(const ops::OptStep& s, float* w, const float* g, float* s1, float* s2, float* s3, int64_t n) {
  if (s.decay_factor != 1.0f) {
    for (int64_t i = 0; i < n; ++i) w[i] *= s.decay_factor;
  }
  const float lr = s.lr;
  switch (s.kind) {
    case ops::Opt::sgd: {
      const float mu = s.momentum;
      if (mu == 0.0f) {
        for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
      } else if (s.nesterov) {
        for (int64_t i = 0; i < n; ++i) {
          const float m = mu * s1[i] - lr * g[i];
          s1[i] = m;
          w[i] += mu * m - lr * g[i];
        }
      } else {
        for (int64_t i = 0; i < n; ++i) {
          const float m = mu * s1[i] - lr * g[i];
          s1[i] = m;
          w[i] += m;
        }
      }
      return;
    }
    case ops::Opt::adam:
    case ops::Opt::adamw: {
      const float c1 = s.one_minus_beta_1, c2 = s.one_minus_beta_2, alpha = s.adam_alpha, eps = s.epsilon;
      for (int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        const float m = s1[i] + (gi - s1[i]) * c1;
        const float v = s2[i] + (gi * gi - s2[i]) * c2;
        s1[i] = m;
        s2[i] = v;
        w[i] -= alpha * m / (std::sqrt(v) + eps);
      }
      return;
    }
    case ops::Opt::rmsprop: {
      const float rho = s.rho, c = s.one_minus_rho, eps = s.epsilon, mom = s.momentum;
      for (int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        const float v = rho * s1[i] + c * gi * gi;
        s1[i] = v;
        float den = v;
        if (s.centered) {
          const float a = rho * s3[i] + c * gi;
          s3[i] = a;
          den = v - a * a;
        }
        const float step = lr * gi / std::sqrt(den + eps);
        if (mom > 0.0f) {
          const float m = mom * s2[i] + step;
          s2[i] = m;
          w[i] -= m;
        } else {
          w[i] -= step;
        }
      }
      return;
    }
    case ops::Opt::adagrad: {
      const float eps = s.epsilon;
      for (int64_t i = 0; i < n; ++i) {
        const float gi = g[i];
        const float acc = s1[i] + gi * gi;
        s1[i] = acc;
        w[i] -= lr * gi / std::sqrt(acc + eps);
      }
      return;
    }
    case ops::Opt::lion: {
      const float b1 = s.beta_1, c1 = s.one_minus_beta_1, b2 = s.beta_2, c2 = s.one_minus_beta_2;
      for (int64_t i = 0; i < n; ++i) ops::formulas::lion_update(w[i], s1[i], g[i], lr, b1, c1, b2, c2);
      return;
    }
  }
}

}  // namespace fastann::cpu

// The per-row formulas of the losses and of the sample-mean metrics, shared by the CPU kernels (cpu.cpp) and the
// CUDA kernels (cuda.cu) of the loss op, so that both devices compute the same thing:
// double math on float32 inputs, Keras semantics. Compiled by the host compiler and by nvcc (host and device), so
// it uses only what both have: the C math functions of the global namespace, and comparisons written out where
// std::max / std::min would be (their NaN behaviour is kept: a NaN in the first operand stays).
#pragma once

#include <math.h>

#include <cstdint>

#include "ops/hd.hpp"
#include "ops/types.hpp"

namespace fastann::ops::loss_formulas {

// Keras clips probabilities to [epsilon, 1 - epsilon] with epsilon = 1e-7, in float32: the bounds below are those
// float32 values (1 - 1e-7 rounds to 1 - 2^-23), so clipped losses match Keras's exactly (e.g. -log(1 - upper)).
constexpr double kClipLo = static_cast<double>(1e-7f);
constexpr double kClipHi = static_cast<double>(static_cast<float>(1.0 - 1e-7));

FASTANN_HD double max_of(double a, double b) { return a < b ? b : a; }  // std::max(a, b)

// std::min(std::max(x, lo), hi): a NaN stays NaN (a NaN prediction gives a NaN loss).
FASTANN_HD double clip_prob(double x) {
  const double lo = x < kClipLo ? kClipLo : x;
  return kClipHi < lo ? kClipHi : lo;
}

FASTANN_HD double sigmoid(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + ::exp(-x));
  const double e = ::exp(x);
  return e / (1.0 + e);
}

// Loss of one row for the losses that are a mean over the last axis of a per-element term (mse, mae, huber; bce on
// probabilities, clipped as Keras does, with no gradient through the clip); g (when given) gets gscale * d/dp.
template <Loss K>
FASTANN_HD double elementwise(const float* p, const float* y, int64_t cols, float* g, double gscale, float delta) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double pj = p[j], yj = y[j];
    double l = 0.0, d = 0.0;
    if constexpr (K == Loss::mse) {
      const double e = pj - yj;
      l = e * e;
      d = 2.0 * e;
    } else if constexpr (K == Loss::mae) {
      const double e = pj - yj;
      l = ::fabs(e);
      d = e > 0.0 ? 1.0 : (e < 0.0 ? -1.0 : 0.0);
    } else if constexpr (K == Loss::huber) {
      const double e = pj - yj, a = ::fabs(e);
      if (a <= delta) {
        l = 0.5 * e * e;
        d = e;
      } else {
        l = delta * (a - 0.5 * delta);
        d = e > 0.0 ? delta : -delta;
      }
    } else {  // bce on probabilities
      const double c = clip_prob(pj);
      l = -(yj * ::log(c) + (1.0 - yj) * ::log(1.0 - c));
      d = (pj > kClipLo && pj < kClipHi) ? -(yj / c) + (1.0 - yj) / (1.0 - c) : 0.0;
    }
    sum += l;
    if (g) g[j] = static_cast<float>(d * gscale / static_cast<double>(cols));
  }
  return sum / static_cast<double>(cols);
}

// bce from logits: max(z, 0) - z*y + log(1 + exp(-|z|)); d/dz = sigmoid(z) - y; probs (when given) = sigmoid(z).
FASTANN_HD double bce_logits(const float* z, const float* y, int64_t cols, float* g, float* probs, double gscale) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double zj = z[j], yj = y[j];
    sum += max_of(zj, 0.0) - zj * yj + ::log1p(::exp(-::fabs(zj)));
    const double s = sigmoid(zj);
    if (g) g[j] = static_cast<float>((s - yj) * gscale / static_cast<double>(cols));
    if (probs) probs[j] = static_cast<float>(s);
  }
  return sum / static_cast<double>(cols);
}

// Categorical cross-entropy from logits for target distribution t (t == nullptr: one-hot at `label`):
// loss = sum_j t_j * (lse - z_j); d/dz_j = softmax_j * sum(t) - t_j; probs (when given) = softmax(z).
FASTANN_HD double cce_logits(const float* z, const float* t, int64_t label, int64_t cols, float* g, float* probs,
                             double gscale) {
  double m = z[0];
  for (int64_t j = 1; j < cols; ++j) m = max_of(m, static_cast<double>(z[j]));
  double se = 0.0;
  for (int64_t j = 0; j < cols; ++j) se += ::exp(z[j] - m);
  const double lse = m + ::log(se);
  double loss = 0.0, tsum = 1.0;
  if (t) {
    tsum = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      loss += t[j] * (lse - z[j]);
      tsum += t[j];
    }
  } else {
    loss = lse - z[label];
  }
  if (g || probs) {
    for (int64_t j = 0; j < cols; ++j) {
      const double s = ::exp(z[j] - lse);
      if (probs) probs[j] = static_cast<float>(s);
      if (g) {
        const double tj = t ? t[j] : (j == label ? 1.0 : 0.0);
        g[j] = static_cast<float>((s * tsum - tj) * gscale);
      }
    }
  }
  return loss;
}

// Categorical cross-entropy on probabilities, as Keras: q = p / sum(p), clipped to [eps, 1 - eps],
// loss = -sum_j t_j log q_j; the gradient flows through the normalisation, not through the clip.
FASTANN_HD double cce_probs(const float* p, const float* t, int64_t label, int64_t cols, float* g, double gscale) {
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += p[j];
  double loss = 0.0, gq_dot_q = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double tj = t ? t[j] : (j == label ? 1.0 : 0.0);
    const double q = p[j] / s;
    const double c = clip_prob(q);
    if (tj != 0.0) loss -= tj * ::log(c);
    const double gq = (q > kClipLo && q < kClipHi) ? -tj / c : 0.0;  // d loss / d q_j
    gq_dot_q += gq * q;
    if (g) g[j] = static_cast<float>(gq);
  }
  if (g) {
    for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>((g[j] - gq_dot_q) / s * gscale);
  }
  return loss;
}

// The loss of row i: pr its predictions, y the whole target array (row i's targets; for scce the class index k,
// which the caller has checked), gr / qr its gradient / probability rows or null, gs the gradient's scale.
FASTANN_HD double row_loss(const LossParams& p, const float* pr, const float* y, int64_t i, int64_t k, int64_t cols,
                           float* gr, float* qr, double gs) {
  const float* yr = y + i * cols;
  switch (p.kind) {
    case Loss::mse:
      return elementwise<Loss::mse>(pr, yr, cols, gr, gs, p.delta);
    case Loss::mae:
      return elementwise<Loss::mae>(pr, yr, cols, gr, gs, p.delta);
    case Loss::huber:
      return elementwise<Loss::huber>(pr, yr, cols, gr, gs, p.delta);
    case Loss::bce:
      return p.from_logits ? bce_logits(pr, yr, cols, gr, qr, gs)
                           : elementwise<Loss::bce>(pr, yr, cols, gr, gs, p.delta);
    case Loss::cce:
      return p.from_logits ? cce_logits(pr, yr, 0, cols, gr, qr, gs) : cce_probs(pr, yr, 0, cols, gr, gs);
    case Loss::scce:
      return p.from_logits ? cce_logits(pr, nullptr, k, cols, gr, qr, gs) : cce_probs(pr, nullptr, k, cols, gr, gs);
  }
  return 0.0;
}

// The class of a sparse label (a float holding an index in [0, cols)), or -1 when it is none.
FASTANN_HD int64_t class_of(float label, int64_t cols) {
  const auto k = static_cast<int64_t>(label);
  return static_cast<float>(k) == label && k >= 0 && k < cols ? k : -1;
}

// std::max_element's index: the first maximum (a NaN is never greater).
FASTANN_HD int64_t argmax(const float* r, int64_t cols) {
  int64_t best = 0;
  for (int64_t j = 1; j < cols; ++j) {
    if (r[best] < r[j]) best = j;
  }
  return best;
}

// Sparse metric targets hold class indices as floats; anything else is no class (-1).
FASTANN_HD int64_t sparse_target(float v) {
  return v >= 0.0f && v < 9.0e15f && v == ::floorf(v) ? static_cast<int64_t>(v) : -1;
}

// The value of one sample for a metric with metric_is_sample_mean(p.kind) (0 for any other): pr and yr are the
// sample's predictions and targets (yr[0] is the class index for sparse_categorical_accuracy).
FASTANN_HD double sample_metric(const MetricParams& p, const float* pr, const float* yr, int64_t cols) {
  switch (p.kind) {
    case Metric::binary_accuracy: {
      int64_t hits = 0;
      for (int64_t j = 0; j < cols; ++j) hits += ((pr[j] > p.threshold ? 1.0f : 0.0f) == yr[j]);
      return static_cast<double>(hits) / static_cast<double>(cols);
    }
    case Metric::categorical_accuracy:
      return argmax(pr, cols) == argmax(yr, cols) ? 1.0 : 0.0;
    case Metric::sparse_categorical_accuracy:
      return argmax(pr, cols) == sparse_target(yr[0]) ? 1.0 : 0.0;
    case Metric::mse:
    case Metric::mae: {
      double s = 0.0;
      for (int64_t j = 0; j < cols; ++j) {
        const double e = static_cast<double>(pr[j]) - yr[j];
        s += p.kind == Metric::mse ? e * e : ::fabs(e);
      }
      return s / static_cast<double>(cols);
    }
    default:
      return 0.0;
  }
}

}  // namespace fastann::ops::loss_formulas

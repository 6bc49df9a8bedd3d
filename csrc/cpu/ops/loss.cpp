// Loss value + gradient kernels (CPU), Keras semantics, one pass over the predictions; the finite check of inputs.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "core/check.hpp"
#include "cpu/ops/kernels.hpp"
#include "cpu/threadpool.hpp"

namespace fastann::cpu {

namespace {

using ops::Loss;

// Keras clips probabilities to [epsilon, 1 - epsilon] with epsilon = 1e-7, in float32: the bounds below are those
// float32 values (1 - 1e-7 rounds to 1 - 2^-23), so clipped losses match Keras's exactly (e.g. -log(1 - upper)).
constexpr double kClipLo = static_cast<double>(1e-7f);
constexpr double kClipHi = static_cast<double>(static_cast<float>(1.0 - 1e-7));

inline double sigmoid_d(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

int64_t class_index(float label, int64_t cols, int64_t row) {
  const auto k = static_cast<int64_t>(label);
  if (!(static_cast<float>(k) == label) || k < 0 || k >= cols) {
    FASTANN_THROW(ValueError, "sparse_categorical_crossentropy: label " << label << " at row " << row
                                  << " is not a class index in [0, " << cols << ")");
  }
  return k;
}

// Per-row loss for mean-over-last-axis losses on probabilities/values.
template <Loss K>
double elementwise_row(const float* p, const float* y, int64_t cols, float* g, float gscale, float delta) {
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
      l = std::fabs(e);
      d = e > 0.0 ? 1.0 : (e < 0.0 ? -1.0 : 0.0);
    } else if constexpr (K == Loss::huber) {
      const double e = pj - yj, a = std::fabs(e);
      if (a <= delta) {
        l = 0.5 * e * e;
        d = e;
      } else {
        l = delta * (a - 0.5 * delta);
        d = e > 0.0 ? delta : -delta;
      }
    } else {  // bce on probabilities, clipped as Keras does (no gradient through the clip)
      const double c = std::min(std::max(pj, kClipLo), kClipHi);
      l = -(yj * std::log(c) + (1.0 - yj) * std::log(1.0 - c));
      d = (pj > kClipLo && pj < kClipHi) ? -(yj / c) + (1.0 - yj) / (1.0 - c) : 0.0;
    }
    sum += l;
    if (g) g[j] = static_cast<float>(d * gscale / static_cast<double>(cols));
  }
  return sum / static_cast<double>(cols);
}

// bce from logits: max(z, 0) - z*y + log(1 + exp(-|z|)); d/dz = sigmoid(z) - y.
double bce_logits_row(const float* z, const float* y, int64_t cols, float* g, float* probs, float gscale) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double zj = z[j], yj = y[j];
    sum += std::max(zj, 0.0) - zj * yj + std::log1p(std::exp(-std::fabs(zj)));
    const double s = sigmoid_d(zj);
    if (g) g[j] = static_cast<float>((s - yj) * gscale / static_cast<double>(cols));
    if (probs) probs[j] = static_cast<float>(s);
  }
  return sum / static_cast<double>(cols);
}

// Categorical cross-entropy from logits for target distribution t (t == nullptr: one-hot at `label`):
// loss = sum_j t_j * (lse - z_j); d/dz_j = softmax_j * sum(t) - t_j.
double cce_logits_row(const float* z, const float* t, int64_t label, int64_t cols, float* g, float* probs,
                      float gscale) {
  double m = z[0];
  for (int64_t j = 1; j < cols; ++j) m = std::max(m, static_cast<double>(z[j]));
  double se = 0.0;
  for (int64_t j = 0; j < cols; ++j) se += std::exp(z[j] - m);
  const double lse = m + std::log(se);
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
      const double s = std::exp(z[j] - lse);
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
double cce_probs_row(const float* p, const float* t, int64_t label, int64_t cols, float* g, float gscale) {
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += p[j];
  double loss = 0.0, gq_dot_q = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double tj = t ? t[j] : (j == label ? 1.0 : 0.0);
    const double q = p[j] / s;
    const double c = std::min(std::max(q, kClipLo), kClipHi);
    if (tj != 0.0) loss -= tj * std::log(c);
    const double gq = (q > kClipLo && q < kClipHi) ? -tj / c : 0.0;  // d loss / d q_j
    gq_dot_q += gq * q;
    if (g) g[j] = static_cast<float>(gq);
  }
  if (g) {
    for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>((g[j] - gq_dot_q) / s * gscale);
  }
  return loss;
}

}  // namespace

double loss(const ops::LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols,
            float* grad, float* probs, float grad_scale) {
  double total = 0.0;
  const bool logits = p.from_logits;
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = pred + i * cols;
    float* gr = grad ? grad + i * cols : nullptr;
    float* qr = probs ? probs + i * cols : nullptr;
    switch (p.kind) {
      case Loss::mse: total += elementwise_row<Loss::mse>(pr, y + i * cols, cols, gr, grad_scale, p.delta); break;
      case Loss::mae: total += elementwise_row<Loss::mae>(pr, y + i * cols, cols, gr, grad_scale, p.delta); break;
      case Loss::huber:
        total += elementwise_row<Loss::huber>(pr, y + i * cols, cols, gr, grad_scale, p.delta);
        break;
      case Loss::bce:
        total += logits ? bce_logits_row(pr, y + i * cols, cols, gr, qr, grad_scale)
                        : elementwise_row<Loss::bce>(pr, y + i * cols, cols, gr, grad_scale, p.delta);
        break;
      case Loss::cce:
        total += logits ? cce_logits_row(pr, y + i * cols, 0, cols, gr, qr, grad_scale)
                        : cce_probs_row(pr, y + i * cols, 0, cols, gr, grad_scale);
        break;
      case Loss::scce: {
        const int64_t k = class_index(y[i], cols, i);
        total += logits ? cce_logits_row(pr, nullptr, k, cols, gr, qr, grad_scale)
                        : cce_probs_row(pr, nullptr, k, cols, gr, grad_scale);
        break;
      }
    }
  }
  return total;
}

double metric_sum(ops::Metric m, const float* pred, const float* y, int64_t rows, int64_t cols) {
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = pred + i * cols;
    switch (m) {
      case ops::Metric::binary_accuracy: {
        const float* yr = y + i * cols;
        int64_t hits = 0;
        for (int64_t j = 0; j < cols; ++j) hits += ((pr[j] > 0.5f ? 1.0f : 0.0f) == yr[j]);
        total += static_cast<double>(hits) / static_cast<double>(cols);
        break;
      }
      case ops::Metric::categorical_accuracy:
      case ops::Metric::sparse_categorical_accuracy: {
        const int64_t pk = std::max_element(pr, pr + cols) - pr;
        int64_t yk;
        if (m == ops::Metric::categorical_accuracy) {
          yk = std::max_element(y + i * cols, y + (i + 1) * cols) - (y + i * cols);
        } else {
          yk = static_cast<int64_t>(y[i]);
        }
        total += pk == yk ? 1.0 : 0.0;
        break;
      }
      case ops::Metric::mse:
      case ops::Metric::mae: {
        const float* yr = y + i * cols;
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) {
          const double e = static_cast<double>(pr[j]) - yr[j];
          s += m == ops::Metric::mse ? e * e : std::fabs(e);
        }
        total += s / static_cast<double>(cols);
        break;
      }
    }
  }
  return total;
}

int64_t first_non_finite(const float* x, int64_t n) {
  // Chunks scan branch-free (the exponent-all-ones test vectorises); only a chunk that has one looks for where.
  std::atomic<int64_t> first{-1};
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += 4096) {
      const int64_t e = std::min(end, b + 4096);
      uint32_t bad = 0;
      for (int64_t i = b; i < e; ++i) {
        uint32_t bits;
        std::memcpy(&bits, x + i, sizeof bits);
        bad |= static_cast<uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
      }
      if (!bad) continue;
      for (int64_t i = b; i < e; ++i) {
        if (!std::isfinite(x[i])) {
          int64_t cur = first.load();
          while ((cur < 0 || i < cur) && !first.compare_exchange_weak(cur, i)) {
          }
          return;
        }
      }
    }
  });
  return first.load();
}

}  // namespace fastann::cpu

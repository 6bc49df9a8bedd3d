// The loss op and what the fit loop sums with it, through their kernel tables: every loss (Keras semantics: the mean
// over the last axis for mse/mae/huber/bce, the sum over classes for cce/scce, the SUM over rows returned) against a
// double reference written from the Keras definitions, its gradient (grad_scale * d(sum)/d(pred), sample weights
// scaling each row) against the reference's analytic gradient, itself checked by central differences; Keras's float32
// clipping of probabilities; the scce label, shape and dtype errors (ValueError) and a (device, dtype) with no kernel
// (UnavailableError naming the op, "cpu" and "bfloat16"); the L1/L2 regularizer; the sample-mean metrics'
// streaming states; class weights; and StateSums on the CPU (sums added into the caller's state, the first step
// whose loss was not finite).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fastann/error.hpp"
#include "fastann/tensor.hpp"
#include "op_test_support.hpp"
#include "ops/loss/loss.hpp"
#include "ops/types.hpp"

namespace {

using fastann::Device;
using fastann::DType;
using fastann::Shape;
using fastann::Tensor;
using fastann::ops::Loss;
using fastann::ops::LossParams;
using fastann::ops::Metric;
using fastann::ops::MetricParams;
using fastann_test::expect_unavailable;

constexpr double kU = 1.0 / 16777216.0;  // 2^-24, the unit roundoff of float32
// The reference and the kernels both evaluate the loss in double from the same float32 inputs, by different
// formulas and libm calls: their values agree to a few thousand double ulps (2^-53 each) of the terms' magnitude.
constexpr double kDoubleTol = 1.0 / 1099511627776.0;  // 2^-40

// Keras's clip bounds: epsilon = 1e-7 and 1 - epsilon, as float32 tensors.
const double kLo = static_cast<double>(1e-7f);
const double kHi = static_cast<double>(1.0f - 1e-7f);

Tensor tensor(const std::vector<float>& v, Shape shape) { return Tensor::from_values(v.data(), std::move(shape)); }

LossParams loss_params(Loss kind, bool from_logits = false, float delta = 1.0f) {
  LossParams p;
  p.kind = kind;
  p.from_logits = from_logits;
  p.delta = delta;
  return p;
}

std::string describe(const LossParams& p) {
  return std::string(fastann::ops::loss_name(p.kind)) + (p.from_logits ? " from logits" : "") +
         (p.kind == Loss::huber ? " delta " + std::to_string(p.delta) : "");
}

bool is_categorical(Loss k) { return k == Loss::cce || k == Loss::scce; }

// ---- the double reference of one row: x the predictions, t the targets (one-hot for scce) ----

double softplus(double v) { return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); }
double clip(double v) { return std::min(std::max(v, kLo), kHi); }

// The row's loss (Keras's definition), and in *mag the magnitude of the terms it sums (for the tolerance).
double ref_row_loss(const LossParams& p, const std::vector<double>& x, const std::vector<double>& t, double* mag) {
  const size_t n = x.size();
  const double cols = static_cast<double>(n);
  double sum = 0.0, m = 0.0;
  if (is_categorical(p.kind)) {
    if (p.from_logits) {  // -sum t_j log softmax_j(x)
      const double mx = *std::max_element(x.begin(), x.end());
      double se = 0.0;
      for (double v : x) se += std::exp(v - mx);
      for (size_t j = 0; j < n; ++j) {
        const double log_softmax = x[j] - mx - std::log(se);
        sum -= t[j] * log_softmax;
        m += std::fabs(t[j]) * (std::fabs(x[j]) + std::fabs(mx) + std::fabs(std::log(se)));
      }
    } else {  // q = x / sum(x), clipped; -sum t_j log q_j
      double s = 0.0;
      for (double v : x) s += v;
      for (size_t j = 0; j < n; ++j) {
        const double l = t[j] == 0.0 ? 0.0 : -t[j] * std::log(clip(x[j] / s));
        sum += l;
        m += std::fabs(l) + std::fabs(t[j]);
      }
    }
    *mag = m;
    return sum;
  }
  for (size_t j = 0; j < n; ++j) {
    const double e = x[j] - t[j];
    double l = 0.0;
    switch (p.kind) {
      case Loss::mse:
        l = e * e;
        break;
      case Loss::mae:
        l = std::fabs(e);
        break;
      case Loss::huber: {
        const double d = p.delta;
        l = std::fabs(e) <= d ? 0.5 * e * e : d * std::fabs(e) - 0.5 * d * d;
        break;
      }
      default:
        if (p.from_logits) {  // y * -log(sigmoid(x)) + (1 - y) * -log(1 - sigmoid(x))
          l = t[j] * softplus(-x[j]) + (1.0 - t[j]) * softplus(x[j]);
          m += std::fabs(x[j]) * (1.0 + std::fabs(t[j]));
        } else {
          const double c = clip(x[j]);
          l = -(t[j] * std::log(c) + (1.0 - t[j]) * std::log(1.0 - c));
          m += std::fabs(t[j] * std::log(c)) + std::fabs((1.0 - t[j]) * std::log(1.0 - c));
        }
    }
    sum += l;
    m += std::fabs(l);
  }
  *mag = m / cols;
  return sum / cols;
}

// The analytic d(row loss)/d(x_j); *extra gets, per element, the magnitude of the float32 intermediate the kernel's
// cce on probabilities rounds before its last step (-t_j / x_j), 0 elsewhere.
std::vector<double> ref_row_grad(const LossParams& p, const std::vector<double>& x, const std::vector<double>& t,
                                 std::vector<double>* extra) {
  const size_t n = x.size();
  const double cols = static_cast<double>(n);
  std::vector<double> g(n, 0.0);
  extra->assign(n, 0.0);
  if (is_categorical(p.kind)) {
    if (p.from_logits) {  // softmax_j * sum(t) - t_j
      const double mx = *std::max_element(x.begin(), x.end());
      double se = 0.0, ts = 0.0;
      for (size_t j = 0; j < n; ++j) {
        se += std::exp(x[j] - mx);
        ts += t[j];
      }
      for (size_t j = 0; j < n; ++j) g[j] = std::exp(x[j] - mx) / se * ts - t[j];
    } else {  // the clipped terms are constants: -t_j / x_j + (sum of the unclipped t) / s
      double s = 0.0;
      for (double v : x) s += v;
      double ts = 0.0;
      std::vector<bool> inside(n);
      for (size_t j = 0; j < n; ++j) {
        const double q = x[j] / s;
        inside[j] = q > kLo && q < kHi;
        if (inside[j]) ts += t[j];
      }
      for (size_t j = 0; j < n; ++j) {
        g[j] = (inside[j] ? -t[j] / x[j] : 0.0) + ts / s;
        (*extra)[j] = inside[j] ? std::fabs(t[j] / x[j]) : 0.0;
      }
    }
    return g;
  }
  for (size_t j = 0; j < n; ++j) {
    const double e = x[j] - t[j];
    switch (p.kind) {
      case Loss::mse:
        g[j] = 2.0 * e;
        break;
      case Loss::mae:
        g[j] = e > 0 ? 1.0 : (e < 0 ? -1.0 : 0.0);
        break;
      case Loss::huber:
        g[j] = std::min(std::max(e, -static_cast<double>(p.delta)), static_cast<double>(p.delta));
        break;
      default:
        if (p.from_logits) {
          g[j] = 1.0 / (1.0 + std::exp(-x[j])) - t[j];
        } else {
          g[j] = x[j] > kLo && x[j] < kHi ? (1.0 - t[j]) / (1.0 - x[j]) - t[j] / x[j] : 0.0;  // 0 through the clip
        }
    }
    g[j] /= cols;
  }
  return g;
}

// ---- inputs ----

struct Batch {
  int64_t rows = 0, cols = 0;
  std::vector<float> pred, y;  // y: (rows, cols) targets, or (rows,) class indices for scce
  std::vector<float> weights;
  bool sparse = false;  // y holds class indices
  // The row's targets as a distribution (one-hot of the label for scce).
  std::vector<double> targets(int64_t i) const {
    std::vector<double> t(static_cast<size_t>(cols), 0.0);
    for (int64_t j = 0; j < cols; ++j) {
      if (sparse) {
        t[static_cast<size_t>(j)] = static_cast<int64_t>(y[static_cast<size_t>(i)]) == j ? 1.0 : 0.0;
      } else {
        t[static_cast<size_t>(j)] = y[static_cast<size_t>(i * cols + j)];
      }
    }
    return t;
  }
  std::vector<double> row(int64_t i) const {
    return std::vector<double>(pred.begin() + i * cols, pred.begin() + (i + 1) * cols);
  }
};

// Predictions and targets away from the kinks (mae at 0, huber at +-delta) and from the clip bounds, so that the
// central differences see a smooth function; both branches of huber, hard and soft labels, and for cce targets that
// do not sum to 1.
Batch make_batch(const LossParams& p, int64_t rows, int64_t cols, unsigned seed) {
  std::mt19937 gen(seed);
  auto uni = [&gen](float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(gen); };
  Batch b;
  b.rows = rows;
  b.cols = cols;
  const size_t n = static_cast<size_t>(rows * cols);
  b.pred.resize(n);
  b.weights.resize(static_cast<size_t>(rows));
  for (float& w : b.weights) w = uni(0.25f, 2.0f);
  b.weights[1 % static_cast<size_t>(rows)] = 0.0f;  // a sample that does not count
  if (!is_categorical(p.kind)) {
    b.y.resize(n);
    for (size_t i = 0; i < n; ++i) {
      if (p.kind == Loss::bce) {
        b.pred[i] = p.from_logits ? uni(-6.0f, 6.0f) : uni(0.02f, 0.98f);
        b.y[i] = i % 3 == 2 ? uni(0.0f, 1.0f) : static_cast<float>(i % 3);
        continue;
      }
      b.pred[i] = uni(-2.0f, 2.0f);
      b.y[i] = uni(-2.0f, 2.0f);
      const auto far = [&] {
        const double a = std::fabs(static_cast<double>(b.pred[i]) - b.y[i]);
        return a > 1e-2 && std::fabs(a - p.delta) > 1e-2;
      };
      while (!far()) b.y[i] += 0.03125f;
    }
    return b;
  }
  for (size_t i = 0; i < n; ++i) b.pred[i] = p.from_logits ? uni(-5.0f, 5.0f) : uni(0.05f, 1.0f);
  if (p.kind == Loss::scce) {
    b.sparse = true;
    for (int64_t i = 0; i < rows; ++i) b.y.push_back(static_cast<float>((i * 7 + 3) % cols));
    return b;
  }
  b.y.assign(n, 0.0f);
  for (int64_t i = 0; i < rows; ++i) {
    float* t = b.y.data() + i * cols;
    const int64_t label = (i * 5 + 1) % cols;
    switch (i % 4) {
      case 0:
        t[label] = 1.0f;
        break;  // one-hot
      case 1:
        t[label] = 2.0f;
        break;  // a sum of 2
      default: {
        for (int64_t j = 0; j < cols; ++j) t[j] = (j == label && i % 4 == 3) ? 0.0f : uni(0.0f, 1.0f);
      }
    }
  }
  return b;
}

// Checks the reference's analytic gradient against central differences of its own loss, in double.
void check_reference_gradient(const LossParams& p, const std::vector<double>& x, const std::vector<double>& t,
                              const std::vector<double>& g) {
  double unused = 0.0;
  for (size_t j = 0; j < x.size(); ++j) {
    const double h = 1e-6 * std::max(1.0, std::fabs(x[j]));
    std::vector<double> xp = x, xm = x;
    xp[j] += h;
    xm[j] -= h;
    const double fd = (ref_row_loss(p, xp, t, &unused) - ref_row_loss(p, xm, t, &unused)) / (2.0 * h);
    // Truncation h^2 |f'''| / 6 and cancellation 2^-52 |f| / h: both far below 1e-6 for these inputs.
    ASSERT_NEAR(fd, g[j], 1e-6 * (1.0 + std::fabs(g[j]))) << describe(p) << ": the test's reference gradient, j=" << j;
  }
}

void check_loss(const LossParams& p, const Batch& b, const Shape& pred_shape, bool weighted, float grad_scale) {
  const Tensor pred = tensor(b.pred, pred_shape);
  const Tensor y = p.kind == Loss::scce ? tensor(b.y, {b.rows}) : tensor(b.y, pred_shape);
  const Tensor w = tensor(b.weights, {b.rows});
  Tensor grad = Tensor::empty(pred_shape);
  Tensor probs = Tensor::empty(pred_shape);
  const double value = fastann::ops::loss(p, pred, y, &grad, &probs, grad_scale, weighted ? &w : nullptr);
  const std::string what = describe(p) + (weighted ? " weighted" : "") + " grad_scale " + std::to_string(grad_scale);

  double ref = 0.0, mag = 0.0;
  for (int64_t i = 0; i < b.rows; ++i) {
    const std::vector<double> x = b.row(i), t = b.targets(i);
    const double wi = weighted ? static_cast<double>(b.weights[static_cast<size_t>(i)]) : 1.0;
    double row_mag = 0.0;
    ref += wi * ref_row_loss(p, x, t, &row_mag);
    mag += wi * row_mag;
    std::vector<double> extra;
    const std::vector<double> g = ref_row_grad(p, x, t, &extra);
    check_reference_gradient(p, x, t, g);
    const double gs = static_cast<double>(grad_scale) * wi;
    double gmag = 0.0;  // the magnitude of the double terms of the row's gradient
    for (size_t j = 0; j < g.size(); ++j) gmag += std::fabs(g[j]) + std::fabs(t[j]) + std::fabs(x[j]);
    for (int64_t j = 0; j < b.cols; ++j) {
      const size_t o = static_cast<size_t>(i * b.cols + j);
      const double want = gs * g[static_cast<size_t>(j)];
      // One float32 rounding of the double result (two for cce on probabilities: its -t_j / x_j is rounded first),
      // the double evaluation, and FLT_MIN for a result flushed to 0.
      const double tol = 2.0 * kU * (std::fabs(want) + std::fabs(gs) * extra[static_cast<size_t>(j)]) +
                         kDoubleTol * std::fabs(gs) * gmag + FLT_MIN;
      ASSERT_NEAR(grad.data<float>()[o], want, tol) << what << " gradient at (" << i << ", " << j << ")";
    }
    if (p.from_logits) {
      for (int64_t j = 0; j < b.cols; ++j) {
        double q = 0.0;
        if (p.kind == Loss::bce) {
          q = 1.0 / (1.0 + std::exp(-x[static_cast<size_t>(j)]));
        } else {
          double se = 0.0;
          for (double v : x) se += std::exp(v - x[static_cast<size_t>(j)]);
          q = 1.0 / se;
        }
        ASSERT_NEAR(probs.data<float>()[i * b.cols + j], q, 2.0 * kU * q + FLT_MIN)
            << what << " probability at (" << i << ", " << j << ")";
      }
    }
  }
  ASSERT_NEAR(value, ref, kDoubleTol * mag + DBL_MIN) << what << " value";
  // Without the gradient and probability buffers: the same value.
  EXPECT_EQ(fastann::ops::loss(p, pred, y, nullptr, nullptr, grad_scale, weighted ? &w : nullptr), value) << what;
}

const LossParams kAllLosses[] = {
    loss_params(Loss::mse),   loss_params(Loss::mae),
    loss_params(Loss::huber), loss_params(Loss::huber, false, 0.5f),
    loss_params(Loss::bce),   loss_params(Loss::bce, true),
    loss_params(Loss::cce),   loss_params(Loss::cce, true),
    loss_params(Loss::scce),  loss_params(Loss::scce, true),
};

TEST(LossOp, Float32KernelsMatchDoubleReference) {
  unsigned seed = 1;
  for (const LossParams& p : kAllLosses) {
    for (int64_t cols : {1, 5, 13}) {
      if (is_categorical(p.kind) && cols == 1) continue;
      const Batch b = make_batch(p, 9, cols, seed++);
      for (bool weighted : {false, true}) {
        for (float grad_scale : {1.0f, 0.25f}) check_loss(p, b, {b.rows, b.cols}, weighted, grad_scale);
      }
    }
  }
}

TEST(LossOp, RowsAreEveryAxisButTheLast) {
  unsigned seed = 77;
  for (const LossParams& p : kAllLosses) {
    if (p.kind == Loss::scce) continue;  // its targets are (rows,)
    const Batch b = make_batch(p, 6, 4, seed++);
    check_loss(p, b, {2, 3, 4}, true, 0.5f);
  }
}

TEST(LossOp, ProbabilitiesAreClippedAsKeras) {
  // bce on probabilities: p = 0 or 1 clipped to [1e-7, 1 - 1e-7] (float32), no gradient through the clip.
  const std::vector<float> pred = {0.0f, 1.0f, 0.0f, 1.0f, 0.25f, 1e-9f};
  const std::vector<float> y = {1.0f, 0.0f, 0.0f, 1.0f, 1.0f, 1.0f};
  Tensor grad = Tensor::empty({1, 6});
  const double value =
      fastann::ops::loss(loss_params(Loss::bce), tensor(pred, {1, 6}), tensor(y, {1, 6}), &grad, nullptr, 1.0f);
  const double terms[] = {-std::log(kLo), -std::log(1.0 - kHi), -std::log(1.0 - kLo),
                          -std::log(kHi), -std::log(0.25),      -std::log(kLo)};
  double ref = 0.0;
  for (double v : terms) ref += v;
  ref /= 6.0;
  EXPECT_NEAR(value, ref, kDoubleTol * ref);
  EXPECT_NEAR(-std::log(1.0 - kHi), 23.0 * std::log(2.0), 1e-12);  // the upper bound is 1 - 2^-23
  for (int j : {0, 1, 2, 3, 5}) EXPECT_EQ(grad.data<float>()[j], 0.0f) << "clipped element " << j;
  EXPECT_NEAR(grad.data<float>()[4], -4.0 / 6.0, 2.0 * kU * 4.0 / 6.0);

  // cce on probabilities: the target's probability 0 is clipped (a constant loss term), the others still flow
  // through the normalisation; a 0 where the target is 0 contributes nothing.
  const std::vector<float> cp = {0.0f, 0.5f, 1.5f, 0.0f};
  const std::vector<float> ct = {0.5f, 0.5f, 0.0f, 0.0f};
  Tensor cg = Tensor::empty({1, 4});
  const double cv =
      fastann::ops::loss(loss_params(Loss::cce), tensor(cp, {1, 4}), tensor(ct, {1, 4}), &cg, nullptr, 1.0f);
  const double cref = -0.5 * std::log(kLo) - 0.5 * std::log(0.25);
  EXPECT_NEAR(cv, cref, kDoubleTol * cref);
  std::vector<double> extra;
  const std::vector<double> g =
      ref_row_grad(loss_params(Loss::cce), {0.0, 0.5, 1.5, 0.0}, {0.5, 0.5, 0.0, 0.0}, &extra);
  for (size_t j = 0; j < 4; ++j) {
    EXPECT_NEAR(cg.data<float>()[j], g[j], 2.0 * kU * (std::fabs(g[j]) + extra[j]) + FLT_MIN) << j;
  }
  EXPECT_NEAR(g[1], -1.0 + 0.25, 1e-15);  // the reference: -t/p + (unclipped t) / s
}

void expect_bad_label(float label, const std::string& named) {
  const std::vector<float> pred = {0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f};
  const std::vector<float> y = {2.0f, label};
  for (bool logits : {false, true}) {
    try {
      fastann::ops::loss(loss_params(Loss::scce, logits), tensor(pred, {2, 3}), tensor(y, {2}), nullptr, nullptr, 1.0f);
      FAIL() << "expected ValueError for label " << named;
    } catch (const fastann::ValueError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("sparse_categorical_crossentropy"), std::string::npos) << msg;
      EXPECT_NE(msg.find(named), std::string::npos) << msg;
      EXPECT_NE(msg.find("row 1"), std::string::npos) << msg;
    }
  }
}

TEST(LossOp, SparseLabelOutsideTheClassesIsValueError) {
  expect_bad_label(3.0f, "3");  // cols == 3
  expect_bad_label(-1.0f, "-1");
  expect_bad_label(1.5f, "1.5");  // not an integer
  expect_bad_label(std::numeric_limits<float>::quiet_NaN(), "nan");
  expect_bad_label(1e10f, "1e+10");
}

TEST(LossOp, BadShapesAndMixedDtypesAreValueErrors) {
  const Tensor pred = Tensor({4, 3});
  const LossParams mse = loss_params(Loss::mse);
  EXPECT_THROW(fastann::ops::loss(mse, pred, Tensor({4, 2}), nullptr, nullptr, 1.0f), fastann::ValueError);
  EXPECT_THROW(fastann::ops::loss(loss_params(Loss::scce), pred, Tensor({4, 3}), nullptr, nullptr, 1.0f),
               fastann::ValueError);  // scce wants (rows,) class indices
  Tensor small_grad({4, 2});
  EXPECT_THROW(fastann::ops::loss(mse, pred, Tensor({4, 3}), &small_grad, nullptr, 1.0f), fastann::ValueError);
  const Tensor w3({3});
  EXPECT_THROW(fastann::ops::loss(mse, pred, Tensor({4, 3}), nullptr, nullptr, 1.0f, &w3), fastann::ValueError);
  const Tensor y_bf16({4, 3}, Device::cpu(), DType::bfloat16);
  EXPECT_THROW(fastann::ops::loss(mse, pred, y_bf16, nullptr, nullptr, 1.0f), fastann::ValueError);
  Tensor grad_bf16({4, 3}, Device::cpu(), DType::bfloat16);
  EXPECT_THROW(fastann::ops::loss(mse, pred, Tensor({4, 3}), &grad_bf16, nullptr, 1.0f), fastann::ValueError);
}

TEST(LossOp, DtypeWithoutKernelIsUnavailableError) {
  const Tensor pred({4, 3}, Device::cpu(), DType::bfloat16);
  const Tensor y({4, 3}, Device::cpu(), DType::bfloat16);
  expect_unavailable([&] { fastann::ops::loss(loss_params(Loss::mse), pred, y, nullptr, nullptr, 1.0f); }, "loss");
  expect_unavailable([&] { fastann::ops::regularizer(0.1f, 0.1f, pred, nullptr, 1.0f); }, "regularizer");
  MetricParams mp;
  mp.kind = Metric::mse;
  double state[2] = {0, 0};
  expect_unavailable([&] { fastann::ops::metric_update(mp, pred, y, nullptr, state); }, "metric");
  Tensor w({4}, Device::cpu(), DType::bfloat16);
  expect_unavailable([&] { fastann::ops::class_sample_weights(y, {1.0f, 2.0f}, w); }, "class_weight");
}

// ---- regularizer ----

TEST(Regularizer, PenaltyAndGradientMatchDoubleReference) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> dist(-3.0f, 3.0f);
  std::vector<float> w(1000), g0(1000);
  for (float& v : w) v = dist(gen);
  for (float& v : g0) v = dist(gen);
  w[0] = 0.0f;  // sign(0) = 0: the L1 term adds nothing there
  w[1] = -0.0f;
  struct Case {
    float l1, l2, scale;
  };
  for (const Case& c :
       {Case{0.01f, 0.002f, 1.0f}, Case{0.0f, 0.5f, 0.125f}, Case{0.3f, 0.0f, 2.0f}, Case{0.0f, 0.0f, 1.0f}}) {
    const float l1 = c.l1, l2 = c.l2, scale = c.scale;
    const Tensor tw = tensor(w, {20, 50});
    Tensor g = tensor(g0, {20, 50});
    const double value = fastann::ops::regularizer(l1, l2, tw, &g, scale);
    double s1 = 0.0, s2 = 0.0;
    for (float v : w) {
      s1 += std::fabs(static_cast<double>(v));
      s2 += static_cast<double>(v) * v;
    }
    const double ref = static_cast<double>(l1) * s1 + static_cast<double>(l2) * s2;
    EXPECT_NEAR(value, ref, kDoubleTol * ref) << l1 << ", " << l2;
    EXPECT_EQ(fastann::ops::regularizer(l1, l2, tw, nullptr, scale), value);
    for (size_t i = 0; i < w.size(); ++i) {
      const double wi = w[i];
      const double sign = wi > 0 ? 1.0 : (wi < 0 ? -1.0 : 0.0);
      const double c1 = static_cast<double>(scale) * l1, c2 = static_cast<double>(scale) * 2.0 * l2;
      const double want = g0[i] + c1 * sign + c2 * wi;
      // float32: l1 * scale, 2 * l2 * scale, the product with w, the sum and the add: one rounding each.
      const double tol = 4.0 * kU * (std::fabs(g0[i]) + std::fabs(c1) + std::fabs(c2 * wi) + std::fabs(want));
      ASSERT_NEAR(g.data<float>()[i], want, tol) << "element " << i << " l1 " << l1 << " l2 " << l2;
    }
    EXPECT_EQ(g.data<float>()[0], g0[0]);  // w == 0: nothing added
    EXPECT_EQ(g.data<float>()[1], g0[1]);
  }
  EXPECT_EQ(fastann::ops::regularizer(0.5f, 0.5f, Tensor::empty({0}), nullptr, 1.0f), 0.0);
}

TEST(Regularizer, BadArgumentsAreValueErrors) {
  const Tensor w({3, 4});
  EXPECT_THROW(fastann::ops::regularizer(-0.1f, 0.0f, w, nullptr, 1.0f), fastann::ValueError);
  EXPECT_THROW(fastann::ops::regularizer(0.0f, std::numeric_limits<float>::quiet_NaN(), w, nullptr, 1.0f),
               fastann::ValueError);
  EXPECT_THROW(fastann::ops::regularizer(std::numeric_limits<float>::infinity(), 0.0f, w, nullptr, 1.0f),
               fastann::ValueError);
  Tensor g_small({11});
  EXPECT_THROW(fastann::ops::regularizer(0.1f, 0.1f, w, &g_small, 1.0f), fastann::ValueError);
  Tensor g_bf16({3, 4}, Device::cpu(), DType::bfloat16);
  EXPECT_THROW(fastann::ops::regularizer(0.1f, 0.1f, w, &g_bf16, 1.0f), fastann::ValueError);
}

// ---- metrics ----

MetricParams metric(Metric kind, float threshold = 0.5f) {
  MetricParams p;
  p.kind = kind;
  p.threshold = threshold;
  return p;
}

// The per-sample value of a sample-mean metric, from the Keras definitions.
double ref_sample_metric(const MetricParams& p, const float* pr, const float* yr, int64_t cols) {
  const auto first_max = [cols](const float* r) {
    int64_t best = 0;
    for (int64_t j = 1; j < cols; ++j) best = r[j] > r[best] ? j : best;
    return best;
  };
  double s = 0.0;
  switch (p.kind) {
    case Metric::binary_accuracy:
      // Keras: cast(y_pred > threshold, y_true.dtype) == y_true (a target other than 0 or 1 never matches).
      for (int64_t j = 0; j < cols; ++j) s += (pr[j] > p.threshold ? 1.0f : 0.0f) == yr[j] ? 1.0 : 0.0;
      return s / static_cast<double>(cols);
    case Metric::categorical_accuracy:
      return first_max(pr) == first_max(yr) ? 1.0 : 0.0;
    default:
      for (int64_t j = 0; j < cols; ++j) {
        const double e = static_cast<double>(pr[j]) - yr[j];
        s += e * e;
      }
      return s / static_cast<double>(cols);
  }
}

TEST(Metrics, SampleMeanStatesMatchReference) {
  const int64_t rows = 8, cols = 3;
  std::mt19937 gen(9);
  std::uniform_real_distribution<float> dist(0.0f, 1.0f);
  std::vector<std::vector<float>> preds(2), ys(2), weights(2);
  for (int b = 0; b < 2; ++b) {
    for (int64_t i = 0; i < rows; ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        preds[b].push_back(dist(gen));
        ys[b].push_back(j == (i + b) % cols ? 1.0f : 0.0f);  // one-hot, also 0/1 targets for binary_accuracy
      }
      weights[b].push_back(dist(gen) + 0.5f);
    }
  }
  preds[0][0] = 0.5f;                // exactly at the threshold: not above it
  preds[0][3] = preds[0][4] = 0.9f;  // a tie in row 1: the first maximum wins
  preds[0][5] = 0.1f;
  for (const MetricParams& p : {metric(Metric::binary_accuracy), metric(Metric::binary_accuracy, 0.3f),
                                metric(Metric::categorical_accuracy), metric(Metric::mse)}) {
    ASSERT_EQ(fastann::ops::metric_state_size(p), 2);
    for (bool weighted : {false, true}) {
      double state[2] = {0.0, 0.0};
      double sum = 0.0, wsum = 0.0;
      for (int b = 0; b < 2; ++b) {  // two batches streamed into one state
        const Tensor w = tensor(weights[b], {rows});
        fastann::ops::metric_update(p, tensor(preds[b], {rows, cols}), tensor(ys[b], {rows, cols}),
                                    weighted ? &w : nullptr, state);
        for (int64_t i = 0; i < rows; ++i) {
          const double wi = weighted ? static_cast<double>(weights[b][static_cast<size_t>(i)]) : 1.0;
          sum += wi * ref_sample_metric(p, preds[b].data() + i * cols, ys[b].data() + i * cols, cols);
          wsum += wi;
        }
      }
      const std::string what = std::string(fastann::ops::metric_name(p.kind)) + (weighted ? " weighted" : "");
      // Sums of 16 doubles: a few double ulps.
      EXPECT_NEAR(state[0], sum, 64 * DBL_EPSILON * (sum + 1.0)) << what;
      EXPECT_NEAR(state[1], wsum, 64 * DBL_EPSILON * wsum) << what;
      EXPECT_NEAR(fastann::ops::metric_result(p, state), sum / wsum, 256 * DBL_EPSILON * (sum / wsum + 1.0)) << what;
    }
  }
  // Nothing added yet: 0, not 0 / 0.
  const double zero[2] = {0.0, 0.0};
  EXPECT_EQ(fastann::ops::metric_result(metric(Metric::binary_accuracy), zero), 0.0);
}

TEST(Metrics, HandCountedAccuracies) {
  // binary_accuracy at 0.5: row 0 hits 2 of 2, row 1 hits 1 of 2 (0.5 is not above 0.5), row 2 hits 0 of 2.
  const std::vector<float> pred = {0.9f, 0.1f, 0.5f, 0.7f, 0.2f, 0.8f};
  const std::vector<float> y = {1.0f, 0.0f, 1.0f, 1.0f, 1.0f, 0.0f};
  double s[2] = {0.0, 0.0};
  fastann::ops::metric_update(metric(Metric::binary_accuracy), tensor(pred, {3, 2}), tensor(y, {3, 2}), nullptr, s);
  EXPECT_EQ(s[0], 1.5);
  EXPECT_EQ(s[1], 3.0);
  EXPECT_EQ(fastann::ops::metric_result(metric(Metric::binary_accuracy), s), 0.5);
  // categorical_accuracy: argmax (0, 0) hit, (1, 0) miss, (1, 1) hit.
  double c[2] = {0.0, 0.0};
  const std::vector<float> w = {1.0f, 3.0f, 0.5f};
  fastann::ops::metric_update(metric(Metric::categorical_accuracy), tensor(pred, {3, 2}),
                              tensor({1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f}, {3, 2}), nullptr, c);
  EXPECT_EQ(c[0], 2.0);
  const Tensor tw = tensor(w, {3});
  double cw[2] = {0.0, 0.0};
  fastann::ops::metric_update(metric(Metric::categorical_accuracy), tensor(pred, {3, 2}),
                              tensor({1.0f, 0.0f, 1.0f, 0.0f, 0.0f, 1.0f}, {3, 2}), &tw, cw);
  EXPECT_EQ(cw[0], 1.5);
  EXPECT_EQ(cw[1], 4.5);
}

TEST(Metrics, BadShapesAndMixedDtypesAreValueErrors) {
  double s[2] = {0.0, 0.0};
  const Tensor pred({4, 3});
  EXPECT_THROW(fastann::ops::metric_update(metric(Metric::mse), pred, Tensor({4, 2}), nullptr, s), fastann::ValueError);
  const Tensor w({5});
  EXPECT_THROW(fastann::ops::metric_update(metric(Metric::mse), pred, Tensor({4, 3}), &w, s), fastann::ValueError);
  EXPECT_THROW(fastann::ops::metric_update(metric(Metric::mse), pred, Tensor({4, 3}, Device::cpu(), DType::bfloat16),
                                           nullptr, s),
               fastann::ValueError);
  EXPECT_EQ(s[0], 0.0);
  EXPECT_EQ(s[1], 0.0);
}

// ---- class weights ----

TEST(ClassSampleWeights, ArgmaxOrRoundedLabelPicksTheClassWeight) {
  // Rows of probabilities / one-hot targets: the label is the first maximum; past the class weights: 1.
  const std::vector<float> y = {1, 0, 0, 0, 0, 1, 0, 1, 0, 0.2f, 0.5f, 0.3f, 0.4f, 0.4f, 0.2f};
  Tensor w = Tensor::empty({5});
  fastann::ops::class_sample_weights(tensor(y, {5, 3}), {2.0f, 0.5f}, w);
  const float want[] = {2.0f, 1.0f, 0.5f, 0.5f, 2.0f};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(w.data<float>()[i], want[i]) << i;

  // One column (or 1-D): the value rounded half to even (as np.round), a class when it lands in [0, 3).
  const std::vector<float> v = {0.0f, 1.0f, 2.0f, 0.5f, 1.5f, 2.5f, -0.4f, -0.6f, 3.0f, 0.49f};
  const float cw[] = {1.5f, 3.0f, 0.25f};
  //                       0     1     2      0.5->0 1.5->2 2.5->2 -0.4->-0 -0.6->-1 3     0.49->0
  const float want1[] = {cw[0], cw[1], cw[2], cw[0], cw[2], cw[2], cw[0], 1.0f, 1.0f, cw[0]};
  for (const Shape& shape : {Shape{10, 1}, Shape{10}}) {
    Tensor w1 = Tensor::empty({10});
    fastann::ops::class_sample_weights(tensor(v, shape), {cw[0], cw[1], cw[2]}, w1);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(w1.data<float>()[i], want1[i]) << "value " << v[static_cast<size_t>(i)];
  }
}

TEST(ClassSampleWeights, BadOperandsAreValueErrors) {
  Tensor w4 = Tensor::empty({4});
  EXPECT_THROW(fastann::ops::class_sample_weights(Tensor({5, 3}), {1.0f}, w4), fastann::ValueError);
  Tensor w_bf16({5}, Device::cpu(), DType::bfloat16);
  EXPECT_THROW(fastann::ops::class_sample_weights(Tensor({5, 3}), {1.0f}, w_bf16), fastann::ValueError);
}

// ---- StateSums on the CPU ----

TEST(StateSums, CpuSumsAddIntoTheStateAndNameTheFirstNonFiniteStep) {
  const LossParams mse = loss_params(Loss::mse);
  const Batch b1 = make_batch(mse, 5, 3, 31), b2 = make_batch(mse, 4, 3, 32);
  const Tensor p1 = tensor(b1.pred, {5, 3}), y1 = tensor(b1.y, {5, 3});
  const Tensor p2 = tensor(b2.pred, {4, 3}), y2 = tensor(b2.y, {4, 3}), w2 = tensor(b2.weights, {4});
  const std::vector<float> reg_w = {0.5f, -1.0f, 2.0f, 0.0f};
  const Tensor rw = tensor(reg_w, {4});
  const MetricParams acc = metric(Metric::binary_accuracy);

  fastann::ops::StateSums sums;
  sums.reset(Device::cpu(), 3);
  Tensor g1 = Tensor::empty({5, 3});
  sums.add_loss(mse, p1, y1, &g1, nullptr, 0.5f, nullptr, 0);
  sums.add_loss(mse, p2, y2, nullptr, nullptr, 1.0f, &w2, 1);
  sums.add_regularizer(0.25f, 0.5f, rw, nullptr, 1.0f, 2.0);
  sums.add_metric(acc, p1, y1, nullptr, 1);

  double ref = 0.0, mag = 0.0, unused = 0.0;
  for (int64_t i = 0; i < b1.rows; ++i) ref += ref_row_loss(mse, b1.row(i), b1.targets(i), &unused);
  for (int64_t i = 0; i < b2.rows; ++i) {
    ref += b2.weights[static_cast<size_t>(i)] * ref_row_loss(mse, b2.row(i), b2.targets(i), &unused);
  }
  mag = ref;
  ref += 2.0 * (0.25 * 3.5 + 0.5 * 5.25);  // factor * (l1 sum|w| + l2 sum w^2)
  double metric_sum = 0.0;
  for (int64_t i = 0; i < b1.rows; ++i)
    metric_sum += ref_sample_metric(acc, b1.pred.data() + i * 3, b1.y.data() + i * 3, 3);

  double state[3] = {10.0, 20.0, 30.0};  // take adds to what is there
  EXPECT_EQ(sums.take(state), -1);
  EXPECT_NEAR(state[0], 10.0 + ref, kDoubleTol * (mag + 10.0 + ref));
  EXPECT_NEAR(state[1], 20.0 + metric_sum, 64 * DBL_EPSILON * 30.0);
  EXPECT_EQ(state[2], 30.0 + 5.0);
  // The gradient is loss()'s.
  Tensor g_direct = Tensor::empty({5, 3});
  fastann::ops::loss(mse, p1, y1, &g_direct, nullptr, 0.5f);
  for (int64_t i = 0; i < 15; ++i) EXPECT_EQ(g1.data<float>()[i], g_direct.data<float>()[i]) << i;

  // The sums restarted at 0.
  const double before[3] = {state[0], state[1], state[2]};
  EXPECT_EQ(sums.take(state), -1);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(state[k], before[k]) << k;

  // Non-finite losses: the first step is reported, once.
  std::vector<float> nan_pred = b1.pred, inf_pred = b1.pred;
  nan_pred[4] = std::numeric_limits<float>::quiet_NaN();
  inf_pred[7] = std::numeric_limits<float>::infinity();
  sums.add_loss(mse, p1, y1, nullptr, nullptr, 1.0f, nullptr, 4);
  sums.add_loss(mse, tensor(inf_pred, {5, 3}), y1, nullptr, nullptr, 1.0f, nullptr, 5);
  sums.add_loss(mse, p1, y1, nullptr, nullptr, 1.0f, nullptr, 6);
  sums.add_loss(mse, tensor(nan_pred, {5, 3}), y1, nullptr, nullptr, 1.0f, nullptr, 7);
  double s2[3] = {0.0, 0.0, 0.0};
  EXPECT_EQ(sums.take(s2), 5);
  EXPECT_FALSE(std::isfinite(s2[0]));
  sums.add_loss(mse, p1, y1, nullptr, nullptr, 1.0f, nullptr, 8);
  double s3[3] = {0.0, 0.0, 0.0};
  EXPECT_EQ(sums.take(s3), -1);
  EXPECT_TRUE(std::isfinite(s3[0]));

  // reset forgets the sums and the bad step.
  sums.add_loss(mse, tensor(nan_pred, {5, 3}), y1, nullptr, nullptr, 1.0f, nullptr, 9);
  sums.reset(Device::cpu(), 2);
  double s4[2] = {1.0, 2.0};
  EXPECT_EQ(sums.take(s4), -1);
  EXPECT_EQ(s4[0], 1.0);
  EXPECT_EQ(s4[1], 2.0);
}

TEST(StateSums, BadSizesAndOffsetsAreValueErrors) {
  fastann::ops::StateSums sums;
  EXPECT_THROW(sums.reset(Device::cpu(), 0), fastann::ValueError);
  sums.reset(Device::cpu(), 3);
  const Tensor pred({4, 2}), y({4, 2});
  const MetricParams acc = metric(Metric::binary_accuracy);
  EXPECT_THROW(sums.add_metric(acc, pred, y, nullptr, 2), fastann::ValueError);  // [2, 4) outside 3 sums
  EXPECT_THROW(sums.add_metric(acc, pred, y, nullptr, -1), fastann::ValueError);
  EXPECT_NO_THROW(sums.add_metric(acc, pred, y, nullptr, 1));
  EXPECT_THROW(sums.add_loss(loss_params(Loss::mse), pred, Tensor({4, 3}), nullptr, nullptr, 1.0f, nullptr, 0),
               fastann::ValueError);
}

}  // namespace

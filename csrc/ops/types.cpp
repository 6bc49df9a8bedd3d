// The activations by Keras name; the canonical names of the loss and metric kinds (their registries, with the
// aliases, are nn/losses.cpp and nn/metrics.cpp); the metrics' results from their streaming states.
#include "ops/types.hpp"

#include <cmath>
#include <utility>

#include "core/check.hpp"
#include "ops/activation/formulas.hpp"

namespace fastann::ops {

namespace {

struct ActEntry {
  const char* name;
  Act kind;
};

constexpr ActEntry kActs[] = {
    {"linear", Act::linear},
    {"relu", Act::relu},
    {"sigmoid", Act::sigmoid},
    {"tanh", Act::tanh},
    {"softmax", Act::softmax},
    {"leaky_relu", Act::leaky_relu},
    {"elu", Act::elu},
    {"selu", Act::selu},
    {"gelu", Act::gelu},
    {"softplus", Act::softplus},
    {"swish", Act::swish},
    {"silu", Act::swish},
    {"softsign", Act::softsign},
    {"hard_sigmoid", Act::hard_sigmoid},
    {"mish", Act::mish},
    {"exponential", Act::exponential},
    {"hard_silu", Act::hard_silu},
    {"hard_swish", Act::hard_silu},
};

}  // namespace

ActParams parse_activation(const std::string& name, double alpha) {
  const std::string key = name.empty() || name == "None" ? "linear" : name;
  for (const auto& e : kActs) {
    if (key == e.name) {
      ActParams p;
      p.kind = e.kind;
      if (e.kind == Act::leaky_relu) p.alpha = std::isnan(alpha) ? 0.2f : static_cast<float>(alpha);
      if (e.kind == Act::elu) p.alpha = std::isnan(alpha) ? 1.0f : static_cast<float>(alpha);
      return p;
    }
  }
  std::string valid;
  for (const auto& e : kActs) valid += std::string(valid.empty() ? "" : ", ") + e.name;
  throw ValueError("unknown activation '" + name + "'; valid activations: " + valid);
}

const char* act_name(Act kind) {
  for (const auto& e : kActs) {
    if (e.kind == kind) return e.name;
  }
  return "?";
}

bool act_grad_from_output(const ActParams& p) {
  if (p.kind == Act::softmax) return true;
  return formulas::visit(p.kind, formulas::ReadsOutputOf{p.alpha}, formulas::Elementwise{});
}

const char* loss_name(Loss kind) {
  switch (kind) {
    case Loss::mse:
      return "mean_squared_error";
    case Loss::mae:
      return "mean_absolute_error";
    case Loss::huber:
      return "huber";
    case Loss::bce:
      return "binary_crossentropy";
    case Loss::cce:
      return "categorical_crossentropy";
    case Loss::scce:
      return "sparse_categorical_crossentropy";
  }
  return "?";
}

const char* metric_name(Metric kind) {
  switch (kind) {
    case Metric::binary_accuracy:
      return "binary_accuracy";
    case Metric::categorical_accuracy:
      return "categorical_accuracy";
    case Metric::sparse_categorical_accuracy:
      return "sparse_categorical_accuracy";
    case Metric::mse:
      return "mse";
    case Metric::mae:
      return "mae";
    case Metric::top_k_categorical_accuracy:
      return "top_k_categorical_accuracy";
    case Metric::sparse_top_k_categorical_accuracy:
      return "sparse_top_k_categorical_accuracy";
    case Metric::auc:
      return "auc";
    case Metric::precision:
      return "precision";
    case Metric::recall:
      return "recall";
  }
  return "?";
}

// State layouts: mean metrics [sum of w * value, sum of w]; precision [tp, fp]; recall [tp, fn]; auc the weights of
// positive and of negative targets per threshold bucket, [pos[0 .. n), neg[0 .. n)], where a prediction in bucket b
// is above thresholds 0 .. b.
int64_t metric_state_size(const MetricParams& p) { return p.kind == Metric::auc ? 2 * p.num_thresholds : 2; }

namespace {

double ratio(double num, double den) { return den == 0.0 ? 0.0 : num / den; }  // Keras's divide_no_nan

// ROC AUC by the trapezoidal rule over the thresholds' (false positive rate, recall) points. Suffix sums of the
// buckets give the counts above each threshold; the positives and negatives in total are the sums over all buckets.
double auc_result(const double* pos, const double* neg, int64_t n) {
  double p_total = 0.0, n_total = 0.0;
  for (int64_t b = 0; b < n; ++b) {
    p_total += pos[b];
    n_total += neg[b];
  }
  double tp = 0.0, fp = 0.0, area = 0.0;
  double prev_recall = 0.0, prev_fpr = 0.0;  // at the last threshold (1 + epsilon) nothing is predicted positive
  for (int64_t i = n; i-- > 0;) {
    tp += pos[i];
    fp += neg[i];
    const double recall = ratio(tp, p_total), fpr = ratio(fp, n_total);
    if (i + 1 < n) area += (fpr - prev_fpr) * 0.5 * (recall + prev_recall);
    prev_recall = recall;
    prev_fpr = fpr;
  }
  return area;
}

}  // namespace

double metric_result(const MetricParams& p, const double* s) {
  switch (p.kind) {
    case Metric::auc:
      return auc_result(s, s + p.num_thresholds, p.num_thresholds);
    case Metric::precision:
    case Metric::recall:
      return ratio(s[0], s[0] + s[1]);
    default:
      return ratio(s[0], s[1]);
  }
}

}  // namespace fastann::ops

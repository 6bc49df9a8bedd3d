// The metrics' Keras names, and the checks of a compile entry's parameters.
#include "nn/metrics.hpp"

#include <cmath>

#include "core/check.hpp"

namespace fastann::nn {

namespace {

void fill_metrics(Registry<MetricEntry>& r) {
  using ops::Metric;
  // The canonical name of each kind (ops::metric_name) and the aliases Keras accepts.
  for (Metric k : {Metric::binary_accuracy, Metric::categorical_accuracy, Metric::sparse_categorical_accuracy,
                   Metric::mse, Metric::mae, Metric::top_k_categorical_accuracy,
                   Metric::sparse_top_k_categorical_accuracy, Metric::auc, Metric::precision, Metric::recall}) {
    r.add(ops::metric_name(k), {k, false});
  }
  r.add("mean_squared_error", {Metric::mse, false});
  r.add("mean_absolute_error", {Metric::mae, false});
  r.add("accuracy", {Metric::binary_accuracy, true});
  r.add("acc", {Metric::binary_accuracy, true});
}

}  // namespace

const Registry<MetricEntry>& metric_registry() {
  static const Registry<MetricEntry> registry("metric", &fill_metrics);
  return registry;
}

bool find_metric(const std::string& name, ops::Metric* kind) {
  const MetricEntry* e = metric_registry().find(name);
  if (!e || e->from_loss) return false;
  *kind = e->kind;
  return true;
}

ops::MetricParams resolve_metric(const MetricConfig& cfg, ops::Loss loss, int64_t output_dim) {
  using ops::Metric;
  const std::string& name = cfg.name;
  const MetricEntry* e = metric_registry().find(name);
  if (!e) {
    FASTANN_THROW(ValueError, "unknown metric '" << name << "'; valid metrics: " << metric_registry().names_list());
  }
  ops::MetricParams p;
  p.kind = e->kind;
  if (e->from_loss) {
    // Resolved from the loss as Keras does, else from the output width.
    if (loss == ops::Loss::bce) {
      p.kind = Metric::binary_accuracy;
    } else if (loss == ops::Loss::cce) {
      p.kind = Metric::categorical_accuracy;
    } else if (loss == ops::Loss::scce) {
      p.kind = Metric::sparse_categorical_accuracy;
    } else {
      p.kind = output_dim == 1 ? Metric::binary_accuracy : Metric::categorical_accuracy;
    }
  }
  if (ops::metric_is_sparse(p.kind) && loss != ops::Loss::scce) {
    throw ValueError("metric '" + name + "' needs class-index targets (loss sparse_categorical_crossentropy)");
  }
  if (!ops::metric_is_sparse(p.kind) && loss == ops::Loss::scce) {
    throw ValueError("metric '" + name +
                     "' needs one-hot targets, but the loss takes class indices; use "
                     "'accuracy', 'sparse_categorical_accuracy' or 'sparse_top_k_categorical_accuracy'");
  }
  if (p.kind == Metric::top_k_categorical_accuracy || p.kind == Metric::sparse_top_k_categorical_accuracy) {
    FASTANN_CHECK_ARG(cfg.k >= 1, "metric '" << name << "': k must be a positive integer, got " << cfg.k);
    p.k = cfg.k;
  }
  if (p.kind == Metric::auc) {
    FASTANN_CHECK_ARG(cfg.num_thresholds > 1 && cfg.num_thresholds <= 1000000,
                      "metric '" << name << "': num_thresholds must be in [2, 1000000], got " << cfg.num_thresholds);
    p.num_thresholds = cfg.num_thresholds;
  }
  if (p.kind == Metric::binary_accuracy || p.kind == Metric::precision || p.kind == Metric::recall) {
    FASTANN_CHECK_ARG(std::isfinite(cfg.threshold) &&
                          (p.kind == Metric::binary_accuracy || (cfg.threshold >= 0.0 && cfg.threshold <= 1.0)),
                      "metric '" << name << "': threshold must be "
                                 << (p.kind == Metric::binary_accuracy ? "finite" : "in [0, 1]") << ", got "
                                 << cfg.threshold);
    p.threshold = static_cast<float>(cfg.threshold);
  }
  return p;
}

}  // namespace fastann::nn

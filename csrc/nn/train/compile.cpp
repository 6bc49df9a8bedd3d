// The compile state: the optimizer, the loss and the metrics (resolved from Keras names, laid out in the streaming
// state).
#include "nn/train/model_impl.hpp"

namespace fastann {

namespace {

// The metric a compile entry names, with its parameters checked; `loss` resolves "accuracy" as Keras does.
ops::MetricParams resolve_metric(const MetricConfig& cfg, ops::Loss loss, int64_t output_dim) {
  using ops::Metric;
  const std::string& name = cfg.name;
  ops::MetricParams p;
  if (name == "accuracy" || name == "acc") {
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
  } else if (!ops::find_metric(name, &p.kind)) {
    throw ValueError("unknown metric '" + name + "'; valid metrics: accuracy, acc, " + ops::metric_names_list());
  }
  if (ops::metric_is_sparse(p.kind) && loss != ops::Loss::scce) {
    throw ValueError("metric '" + name + "' needs class-index targets (loss sparse_categorical_crossentropy)");
  }
  if (!ops::metric_is_sparse(p.kind) && loss == ops::Loss::scce) {
    throw ValueError("metric '" + name + "' needs one-hot targets, but the loss takes class indices; use "
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
    FASTANN_CHECK_ARG(std::isfinite(cfg.threshold) && (p.kind == Metric::binary_accuracy ||
                                                       (cfg.threshold >= 0.0 && cfg.threshold <= 1.0)),
                      "metric '" << name << "': threshold must be "
                                 << (p.kind == Metric::binary_accuracy ? "finite" : "in [0, 1]") << ", got "
                                 << cfg.threshold);
    p.threshold = static_cast<float>(cfg.threshold);
  }
  return p;
}

}  // namespace

void Sequential::compile(const OptimizerConfig& optimizer, const LossConfig& loss,
                         const std::vector<MetricConfig>& metrics, const std::vector<MetricConfig>& weighted_metrics) {
  std::lock_guard<std::recursive_mutex> lock(impl_->train_mu);
  impl_->require_not_fitting("compiling the model");
  Impl& m = *impl_;
  auto opt = nn::make_optimizer(optimizer);
  ops::LossParams lp;
  lp.kind = ops::parse_loss(loss.name);
  lp.from_logits = loss.from_logits;
  FASTANN_CHECK_ARG(loss.delta > 0.0, "huber: delta must be > 0, got " << loss.delta);
  lp.delta = static_cast<float>(loss.delta);
  std::vector<Impl::CompiledMetric> ms;
  std::vector<std::string> names;
  int64_t offset = 2;  // after the loss's [sum of w * loss, samples]
  for (int pass = 0; pass < 2; ++pass) {
    const size_t unweighted = names.size();
    for (const MetricConfig& cfg : pass == 0 ? metrics : weighted_metrics) {
      Impl::CompiledMetric cm;
      cm.p = resolve_metric(cfg, lp.kind, m.output_dim());
      cm.cfg = cfg;
      cm.weighted = pass == 1;
      cm.offset = offset;
      offset += ops::metric_state_size(cm.p);
      // The reported name: unique in the model; a weighted metric named as an unweighted one gets "weighted_".
      std::string base = cfg.display_name.empty() ? cfg.name : cfg.display_name;
      if (cm.weighted && std::find(names.begin(), names.begin() + static_cast<long>(unweighted), base) !=
                             names.begin() + static_cast<long>(unweighted)) {
        base = "weighted_" + base;
      }
      std::string unique = base;
      for (int i = 1; std::find(names.begin(), names.end(), unique) != names.end(); ++i) {
        unique = base + "_" + std::to_string(i);
      }
      cm.cfg.display_name = unique;
      names.push_back(unique);
      ms.push_back(std::move(cm));
    }
  }
  m.optimizer = std::move(opt);
  m.loss = lp;
  m.loss_cfg = loss;
  m.metrics = std::move(ms);
  m.metric_names = std::move(names);
  m.state_size = offset;
  m.batch_state.assign(static_cast<size_t>(offset), 0.0);
  m.compiled = true;
  if (m.built) m.optimizer->reset(m.params.numel(), m.device);
}

bool Sequential::compiled() const { return impl_->compiled; }

std::vector<std::string> Sequential::metrics_names() const {
  std::vector<std::string> names{"loss"};
  names.insert(names.end(), impl_->metric_names.begin(), impl_->metric_names.end());
  return names;
}

std::vector<MetricConfig> Sequential::metric_configs(bool weighted) const {
  std::vector<MetricConfig> out;
  for (const auto& cm : impl_->metrics) {
    if (cm.weighted == weighted) out.push_back(cm.cfg);
  }
  return out;
}

}  // namespace fastann

// The compile state: the optimizer, the loss and the metrics (resolved from Keras names, laid out in the streaming
// state).
#include "nn/losses.hpp"
#include "nn/metrics.hpp"
#include "nn/train/model_impl.hpp"

namespace fastann {

// Everything is made aside (the optimizer with its slots, the loss, the metrics and their state layout) and then
// moved in, which cannot throw: a compile that fails (a bad name, out of memory) leaves the model as it was.
void Sequential::compile(const OptimizerConfig& optimizer, const LossConfig& loss,
                         const std::vector<MetricConfig>& metrics, const std::vector<MetricConfig>& weighted_metrics,
                         bool keep_optimizer_state) {
  Impl& m = *impl_;
  const nn::CallGate::Pass pass(m.gate, nn::CallGate::Kind::change, "compile");
  const runtime::StreamScope on_stream(m.stream);
  std::unique_ptr<nn::Optimizer> opt = nn::make_optimizer(optimizer);
  const ops::LossParams lp = nn::resolve_loss(loss);
  std::vector<Impl::CompiledMetric> ms;
  std::vector<std::string> names;
  int64_t offset = 2;  // after the loss's [sum of w * loss, samples]
  for (int pass = 0; pass < 2; ++pass) {
    const size_t unweighted = names.size();
    for (const MetricConfig& cfg : pass == 0 ? metrics : weighted_metrics) {
      Impl::CompiledMetric cm;
      cm.p = nn::resolve_metric(cfg, lp.kind, m.output_dim());
      cm.cfg = cfg;
      cm.weighted = pass == 1;
      cm.offset = offset;
      offset += ops::metric_state_size(cm.p);
      // The reported name: unique in the model; a weighted metric named as an unweighted one gets "weighted_".
      std::string base = cfg.display_name.empty() ? cfg.name : cfg.display_name;
      if (cm.weighted && std::find(names.begin(), names.begin() + static_cast<long>(unweighted), base) !=
                             names.begin() + static_cast<long>(unweighted)) {
        base.insert(0, "weighted_");
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
  std::vector<double> batch_state(static_cast<size_t>(offset), 0.0);
  LossConfig loss_cfg = loss;
  if (m.built) {
    opt->reset(m.params.numel(), m.device);
    // The same optimizer compiled again keeps its variables (Keras: compile given the same optimizer object).
    if (keep_optimizer_state && m.optimizer && m.optimizer->slot_names() == opt->slot_names()) {
      for (size_t i = 0; i < opt->slot_names().size(); ++i) opt->slot(i).copy_from(m.optimizer->slot(i));
      opt->set_iterations(m.optimizer->iterations());
    }
  }
  // The commit: moves and copies of plain values only.
  m.optimizer = std::move(opt);
  m.loss = lp;
  m.loss_cfg = std::move(loss_cfg);
  m.metrics = std::move(ms);
  m.metric_names = std::move(names);
  m.state_size = offset;
  m.batch_state = std::move(batch_state);
  m.compiled = true;
}

bool Sequential::compiled() const { return impl_->compiled; }

std::vector<std::string> Sequential::metrics_names() const {
  const nn::CallGate::Pass pass(impl_->gate, nn::CallGate::Kind::read, "metrics_names");
  std::vector<std::string> names{"loss"};
  names.insert(names.end(), impl_->metric_names.begin(), impl_->metric_names.end());
  return names;
}

std::vector<MetricConfig> Sequential::metric_configs(bool weighted) const {
  const nn::CallGate::Pass pass(impl_->gate, nn::CallGate::Kind::read, "metric_configs");
  std::vector<MetricConfig> out;
  for (const auto& cm : impl_->metrics) {
    if (cm.weighted == weighted) out.push_back(cm.cfg);
  }
  return out;
}

}  // namespace fastann

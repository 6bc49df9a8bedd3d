// The losses' Keras names.
#include "nn/losses.hpp"

#include "core/check.hpp"

namespace fastann::nn {

namespace {

void fill_losses(Registry<LossEntry>& r) {
  using ops::Loss;
  // The canonical name of each kind (ops::loss_name) and the aliases Keras accepts.
  for (Loss k : {Loss::mse, Loss::mae, Loss::huber, Loss::bce, Loss::cce, Loss::scce}) r.add(ops::loss_name(k), {k});
  r.add("mse", {Loss::mse});
  r.add("mae", {Loss::mae});
  r.add("huber_loss", {Loss::huber});
}

}  // namespace

const Registry<LossEntry>& loss_registry() {
  static const Registry<LossEntry> registry("loss", &fill_losses);
  return registry;
}

ops::LossParams resolve_loss(const LossConfig& config) {
  const LossEntry* e = loss_registry().find(config.name);
  if (!e) {
    FASTANN_THROW(ValueError, "unknown loss '" << config.name << "'; valid losses: " << loss_registry().names_list());
  }
  FASTANN_CHECK_ARG(config.delta > 0.0, "huber: delta must be > 0, got " << config.delta);
  ops::LossParams p;
  p.kind = e->kind;
  p.from_logits = config.from_logits;
  p.delta = static_cast<float>(config.delta);
  return p;
}

}  // namespace fastann::nn

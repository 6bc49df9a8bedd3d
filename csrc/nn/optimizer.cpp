// Optimizer configuration, defaults and per-step scalars (the update rules are in the backends' optimizer ops).
#include "nn/optimizer.hpp"

#include <cmath>

#include "core/check.hpp"
#include "ops/ops.hpp"

namespace fastann {

OptimizerConfig OptimizerConfig::defaults(const std::string& name) {
  OptimizerConfig c;
  c.name = name;
  if (name == "sgd") {
    c.learning_rate = 0.01;
  } else if (name == "adamw") {
    c.weight_decay = 0.004;
  } else if (name != "adam" && name != "rmsprop" && name != "adagrad") {
    throw ValueError("unknown optimizer '" + name + "'; valid optimizers: sgd, adam, adamw, rmsprop, adagrad");
  }
  return c;
}

namespace nn {

namespace {

ops::Opt parse_opt(const std::string& name) {
  if (name == "sgd") return ops::Opt::sgd;
  if (name == "adam") return ops::Opt::adam;
  if (name == "adamw") return ops::Opt::adamw;
  if (name == "rmsprop") return ops::Opt::rmsprop;
  if (name == "adagrad") return ops::Opt::adagrad;
  throw ValueError("unknown optimizer '" + name + "'; valid optimizers: sgd, adam, adamw, rmsprop, adagrad");
}

}  // namespace

Optimizer::Optimizer(const OptimizerConfig& cfg) : cfg_(cfg), kind_(parse_opt(cfg.name)) {
  set_learning_rate(cfg.learning_rate);
  FASTANN_CHECK_ARG(cfg.momentum >= 0.0 && cfg.momentum <= 1.0,
                    "optimizer: momentum must be in [0, 1], got " << cfg.momentum);
  FASTANN_CHECK_ARG(cfg.beta_1 >= 0.0 && cfg.beta_1 < 1.0, "optimizer: beta_1 must be in [0, 1), got " << cfg.beta_1);
  FASTANN_CHECK_ARG(cfg.beta_2 >= 0.0 && cfg.beta_2 < 1.0, "optimizer: beta_2 must be in [0, 1), got " << cfg.beta_2);
  FASTANN_CHECK_ARG(cfg.epsilon >= 0.0, "optimizer: epsilon must be >= 0, got " << cfg.epsilon);
  FASTANN_CHECK_ARG(cfg.rho >= 0.0 && cfg.rho <= 1.0, "optimizer: rho must be in [0, 1], got " << cfg.rho);
  FASTANN_CHECK_ARG(cfg.initial_accumulator_value >= 0.0,
                    "optimizer: initial_accumulator_value must be >= 0, got " << cfg.initial_accumulator_value);
  FASTANN_CHECK_ARG(cfg.weight_decay >= 0.0, "optimizer: weight_decay must be >= 0, got " << cfg.weight_decay);
}

void Optimizer::set_learning_rate(double lr) {
  FASTANN_CHECK_ARG(std::isfinite(lr) && lr >= 0.0, "learning_rate must be a finite number >= 0, got " << lr);
  cfg_.learning_rate = lr;
}

void Optimizer::reset(int64_t n, Device device) {
  iterations_ = 0;
  const bool one = kind_ != ops::Opt::sgd || cfg_.momentum > 0.0;
  const bool two = kind_ == ops::Opt::adam || kind_ == ops::Opt::adamw ||
                   (kind_ == ops::Opt::rmsprop && cfg_.momentum > 0.0);
  const bool three = kind_ == ops::Opt::rmsprop && cfg_.centered;
  s1_ = one ? Tensor({n}, device) : Tensor();
  s2_ = two ? Tensor({n}, device) : Tensor();
  s3_ = three ? Tensor({n}, device) : Tensor();
  if (kind_ == ops::Opt::adagrad) s1_.fill(static_cast<float>(cfg_.initial_accumulator_value));
}

void Optimizer::to(Device device) {
  for (Tensor* t : {&s1_, &s2_, &s3_}) {
    if (t->defined()) *t = t->to(device);
  }
}

std::vector<std::string> Optimizer::slot_names() const {
  std::vector<std::string> names;
  const Tensor* slots[3] = {&s1_, &s2_, &s3_};
  static const char* const kNames[][3] = {
      {"momentum", "", ""},                               // sgd
      {"momentum", "velocity", ""},                       // adam
      {"momentum", "velocity", ""},                       // adamw
      {"velocity", "momentum", "average_gradient"},       // rmsprop
      {"accumulator", "", ""},                            // adagrad
  };
  const int k = kind_ == ops::Opt::sgd ? 0 : kind_ == ops::Opt::adam ? 1 : kind_ == ops::Opt::adamw ? 2
              : kind_ == ops::Opt::rmsprop ? 3 : 4;
  for (int i = 0; i < 3; ++i) {
    if (slots[i]->defined()) names.emplace_back(kNames[k][i]);
  }
  return names;
}

Tensor& Optimizer::slot(size_t i) {
  Tensor* slots[3] = {&s1_, &s2_, &s3_};
  for (Tensor* t : slots) {
    if (t->defined() && i-- == 0) return *t;
  }
  throw ValueError("optimizer slot index out of range");
}

void Optimizer::set_iterations(int64_t n) {
  FASTANN_CHECK_ARG(n >= 0, "optimizer iterations must be >= 0, got " << n);
  iterations_ = n;
}

void Optimizer::step(Tensor& w, const Tensor& g) {
  ++iterations_;
  ops::OptStep s;
  s.kind = kind_;
  s.lr = static_cast<float>(cfg_.learning_rate);
  s.momentum = static_cast<float>(cfg_.momentum);
  s.nesterov = cfg_.nesterov;
  s.one_minus_beta_1 = static_cast<float>(1.0 - cfg_.beta_1);
  s.one_minus_beta_2 = static_cast<float>(1.0 - cfg_.beta_2);
  s.one_minus_rho = static_cast<float>(1.0 - cfg_.rho);
  s.epsilon = static_cast<float>(cfg_.epsilon);
  s.rho = static_cast<float>(cfg_.rho);
  s.centered = cfg_.centered;
  const double t = static_cast<double>(iterations_);
  s.adam_alpha = static_cast<float>(cfg_.learning_rate * std::sqrt(1.0 - std::pow(cfg_.beta_2, t)) /
                                    (1.0 - std::pow(cfg_.beta_1, t)));
  s.decay_factor = static_cast<float>(1.0 - cfg_.learning_rate * cfg_.weight_decay);
  ops::optimizer_step(s, w, g, s1_, s2_, s3_);
}

}  // namespace nn
}  // namespace fastann

// The optimizer op's CPU kernel (float32): formulas.hpp's rules in one loop per rule (the rule's branches hoisted,
// so each loop vectorises), over chunks of the thread pool. Element-wise, so the result does not depend on the
// thread count.
#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/threadpool.hpp"
#include "ops/optimizer/formulas.hpp"
#include "ops/optimizer/optimizer.hpp"

namespace fastann::ops::optimizer_kernels {

void cpu_step(const OptStep& s, float* w, const float* g, float* s1, float* s2, float* s3, int64_t n) {
  if (s.decay_factor != 1.0f) {
    for (int64_t i = 0; i < n; ++i) w[i] *= s.decay_factor;
  }
  const float lr = s.lr;
  switch (s.kind) {
    case Opt::sgd:
      if (s.momentum == 0.0f) {
        for (int64_t i = 0; i < n; ++i) formulas::sgd_update(w[i], g[i], lr);
      } else if (s.nesterov) {
        for (int64_t i = 0; i < n; ++i) formulas::sgd_momentum_update(w[i], s1[i], g[i], lr, s.momentum, true);
      } else {
        for (int64_t i = 0; i < n; ++i) formulas::sgd_momentum_update(w[i], s1[i], g[i], lr, s.momentum, false);
      }
      return;
    case Opt::adam:
    case Opt::adamw:
      for (int64_t i = 0; i < n; ++i) formulas::adam_update(w[i], s1[i], s2[i], g[i], s);
      return;
    case Opt::rmsprop: {
      // The momentum and average slots exist only when used: read and written only then.
      const bool mom = s.momentum > 0.0f, centered = s.centered;
      for (int64_t i = 0; i < n; ++i) {
        float m = mom ? s2[i] : 0.0f, a = centered ? s3[i] : 0.0f;
        formulas::rmsprop_update(w[i], s1[i], m, a, g[i], s);
        if (mom) s2[i] = m;
        if (centered) s3[i] = a;
      }
      return;
    }
    case Opt::adagrad:
      for (int64_t i = 0; i < n; ++i) formulas::adagrad_update(w[i], s1[i], g[i], lr, s.epsilon);
      return;
    case Opt::lion: {
      const float b1 = s.beta_1, c1 = s.one_minus_beta_1, b2 = s.beta_2, c2 = s.one_minus_beta_2;
      for (int64_t i = 0; i < n; ++i) formulas::lion_update(w[i], s1[i], g[i], lr, b1, c1, b2, c2);
      return;
    }
  }
}

namespace {

float* data_or_null(Tensor* t) { return t ? t->data<float>() : nullptr; }

void step_f32(const OptStep& s, Tensor& w, const Tensor& g, Tensor* s1, Tensor* s2, Tensor* s3) {
  const cpu::FlushDenormalsScope flush;
  float* wp = w.data<float>();
  const float* gp = g.data<float>();
  float *p1 = data_or_null(s1), *p2 = data_or_null(s2), *p3 = data_or_null(s3);
  cpu::parallel_for(w.numel(), 32768, [&](int64_t b, int64_t e) {
    auto at = [b](float* p) { return p ? p + b : nullptr; };
    cpu_step(s, wp + b, gp + b, at(p1), at(p2), at(p3), e - b);
  });
}

}  // namespace

void register_cpu(Tables& t) { t.step.add(DeviceType::CPU, DType::float32, &step_f32); }

}  // namespace fastann::ops::optimizer_kernels

// Weight initializers with Keras's definitions and defaults (seeded, platform-independent).
//   glorot/he/lecun: variance scaling with scale 1 (glorot, lecun) or 2 (he) over fan_avg (glorot) or fan_in;
//   *_uniform: U(-limit, limit), limit = sqrt(3 * scale / fan); *_normal: truncated normal (cut at 2 stddev),
//   stddev = sqrt(scale / fan) / 0.87962566103423978 (the stddev of a unit normal truncated at +-2).
#include <cmath>
#include <string>

#include "core/check.hpp"
#include "core/rng.hpp"
#include "nn/layer.hpp"

namespace fastann::nn {

namespace {

void fill_uniform(Tensor& w, Rng& rng, double lo, double hi) {
  float* p = w.data();
  for (int64_t i = 0; i < w.numel(); ++i) p[i] = static_cast<float>(lo + (hi - lo) * rng.uniform_double());
}

void fill_normal(Tensor& w, Rng& rng, double mean, double stddev, bool truncated) {
  float* p = w.data();
  for (int64_t i = 0; i < w.numel(); ++i) {
    double z = rng.normal();
    while (truncated && std::fabs(z) > 2.0) z = rng.normal();
    p[i] = static_cast<float>(mean + stddev * z);
  }
}

}  // namespace

void initialize(const InitializerSpec& spec, Tensor& w, int64_t fan_in, int64_t fan_out, uint64_t seed) {
  Rng rng(spec.seed.value_or(seed));
  const std::string& n = spec.name;
  const double fin = static_cast<double>(fan_in), fout = static_cast<double>(fan_out);
  double scale = 0.0, fan = 0.0;
  bool uniform = false, scaled = true;
  if (n == "glorot_uniform" || n == "glorot_normal") {
    scale = 1.0, fan = (fin + fout) / 2.0, uniform = n == "glorot_uniform";
  } else if (n == "he_uniform" || n == "he_normal") {
    scale = 2.0, fan = fin, uniform = n == "he_uniform";
  } else if (n == "lecun_uniform" || n == "lecun_normal") {
    scale = 1.0, fan = fin, uniform = n == "lecun_uniform";
  } else {
    scaled = false;
  }
  if (scaled) {
    if (uniform) {
      const double limit = std::sqrt(3.0 * scale / fan);
      fill_uniform(w, rng, -limit, limit);
    } else {
      fill_normal(w, rng, 0.0, std::sqrt(scale / fan) / 0.87962566103423978, true);
    }
  } else if (n == "zeros") {
    w.fill(0.0f);
  } else if (n == "ones") {
    w.fill(1.0f);
  } else if (n == "constant") {
    w.fill(static_cast<float>(spec.value.value_or(0.0)));
  } else if (n == "random_uniform" || n == "uniform") {  // "uniform", "normal": Keras 2 names Keras 3 keeps
    fill_uniform(w, rng, spec.minval.value_or(-0.05), spec.maxval.value_or(0.05));
  } else if (n == "random_normal" || n == "normal") {
    fill_normal(w, rng, spec.mean.value_or(0.0), spec.stddev.value_or(0.05), false);
  } else if (n == "truncated_normal") {
    fill_normal(w, rng, spec.mean.value_or(0.0), spec.stddev.value_or(0.05), true);
  } else {
    throw ValueError("unknown initializer '" + n +
                     "'; valid initializers: glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, "
                     "lecun_normal, random_uniform (uniform), random_normal (normal), truncated_normal, zeros, ones, "
                     "constant");
  }
}

}  // namespace fastann::nn

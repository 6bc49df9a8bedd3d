// The activation op through its kernel table: float32 kernels against a double reference, the errors of a
// (device, dtype) with no kernel and of mixed dtypes, and the formulas' two entry points (the templates the CPU
// kernels instantiate, the run-time switch the CUDA kernels call) agreeing bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "fastann/error.hpp"
#include "fastann/tensor.hpp"
#include "ops/activation/activation.hpp"
#include "ops/activation/formulas.hpp"
#include "ops/types.hpp"

namespace {

using fastann::DType;
using fastann::Tensor;
using fastann::ops::Act;
using fastann::ops::ActParams;

constexpr Act kElementwise[] = {Act::linear, Act::relu, Act::sigmoid, Act::tanh,     Act::leaky_relu,
                                Act::elu,    Act::selu, Act::gelu,    Act::softplus, Act::swish};

std::vector<float> inputs() {
  std::vector<float> x;
  for (int i = -400; i <= 400; ++i) x.push_back(0.0375f * static_cast<float>(i));
  for (float v : {-100.0f, -88.8f, 88.8f, 100.0f, 1e-30f, -1e-30f}) x.push_back(v);
  return x;
}

ActParams params(Act k) {
  ActParams p;
  p.kind = k;
  p.alpha = k == Act::leaky_relu ? 0.2f : (k == Act::elu ? 1.0f : 0.0f);
  return p;
}

template <Act K>
void expect_switch_matches_template(float alpha) {
  namespace f = fastann::ops::formulas;
  for (float x : inputs()) {
    const float y = f::forward<K>(x, alpha);
    const float a = f::forward(K, x, alpha);
    ASSERT_TRUE(std::memcmp(&a, &y, sizeof(float)) == 0) << fastann::ops::act_name(K) << " forward at " << x;
    for (bool from_output : {false, true}) {
      const float d1 = f::deriv<K>(x, y, alpha, from_output);
      const float d2 = f::deriv(K, x, y, alpha, from_output);
      ASSERT_TRUE(std::memcmp(&d1, &d2, sizeof(float)) == 0) << fastann::ops::act_name(K) << " deriv at " << x;
    }
  }
}

TEST(ActivationFormulas, RunTimeSwitchEqualsTemplates) {
  expect_switch_matches_template<Act::linear>(0.0f);
  expect_switch_matches_template<Act::relu>(0.0f);
  expect_switch_matches_template<Act::sigmoid>(0.0f);
  expect_switch_matches_template<Act::tanh>(0.0f);
  expect_switch_matches_template<Act::leaky_relu>(0.2f);
  expect_switch_matches_template<Act::elu>(1.0f);
  expect_switch_matches_template<Act::selu>(0.0f);
  expect_switch_matches_template<Act::gelu>(0.0f);
  expect_switch_matches_template<Act::softplus>(0.0f);
  expect_switch_matches_template<Act::swish>(0.0f);
}

double reference(Act k, double x, double alpha) {
  switch (k) {
    case Act::relu:
      return x > 0 ? x : 0;
    case Act::sigmoid:
      return 1 / (1 + std::exp(-x));
    case Act::tanh:
      return std::tanh(x);
    case Act::leaky_relu:
      return x > 0 ? x : alpha * x;
    case Act::elu:
      return x > 0 ? x : alpha * std::expm1(x);
    case Act::selu:
      return 1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * std::expm1(x));
    case Act::gelu:
      return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Act::softplus:
      return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
    case Act::swish:
      return x / (1 + std::exp(-x));
    default:
      return x;
  }
}

TEST(ActivationOp, Float32KernelsMatchDoubleReference) {
  const std::vector<float> x = inputs();
  const Tensor tx = Tensor::from_values(x.data(), {static_cast<int64_t>(x.size())});
  for (Act k : kElementwise) {
    Tensor ty = Tensor::empty(tx.shape());
    fastann::ops::activation_forward(params(k), tx, ty);
    const float* y = ty.data<float>();
    for (size_t i = 0; i < x.size(); ++i) {
      const double ref = reference(k, x[i], params(k).alpha);
      // A few float32 roundings of the formula: relative 1e-5 (about 80 ulp), absolute 1e-6 near 0.
      ASSERT_NEAR(y[i], ref, 1e-5 * std::fabs(ref) + 1e-6) << fastann::ops::act_name(k) << " at " << x[i];
    }
  }
}

TEST(ActivationOp, DtypeWithoutKernelIsUnavailableError) {
  const Tensor x = Tensor::empty({4, 3}, DType::bfloat16);
  Tensor y = Tensor::empty({4, 3}, DType::bfloat16);
  try {
    fastann::ops::activation_forward(params(Act::relu), x, y);
    FAIL() << "expected UnavailableError";
  } catch (const fastann::UnavailableError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("activation"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
    EXPECT_NE(msg.find("bfloat16"), std::string::npos) << msg;
  }
  Tensor dx = Tensor::empty({4, 3}, DType::bfloat16);
  EXPECT_THROW(fastann::ops::activation_backward(params(Act::relu), Tensor(), y, x, dx), fastann::UnavailableError);
}

TEST(ActivationOp, MixedDtypesAreValueErrors) {
  const Tensor x = Tensor::empty({4, 3});
  Tensor y = Tensor::empty({4, 3}, DType::bfloat16);
  EXPECT_THROW(fastann::ops::activation_forward(params(Act::relu), x, y), fastann::ValueError);
  Tensor dx = Tensor::empty({4, 3});
  EXPECT_THROW(fastann::ops::activation_backward(params(Act::gelu), y, Tensor(), x, dx), fastann::ValueError);
}

}  // namespace

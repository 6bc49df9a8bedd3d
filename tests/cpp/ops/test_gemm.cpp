// The matrix products through their kernel tables: gemm in its four transpose combinations with alpha, beta, a bias
// and a fused activation (relu in the epilogue, softmax after), on odd and empty shapes and k == 0, against a double
// reference with the float32 error bound of a length-k dot product; matmul's NumPy semantics (1-D promotion,
// broadcast batch dimensions) against the same reference; and the errors: shape mismatches and mixed dtypes
// (ValueError), a (device, dtype) with no kernel (UnavailableError naming the op, "cpu" and the dtype), and
// gemm_plan on a device that is not CUDA.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fastann/error.hpp"
#include "fastann/tensor.hpp"
#include "op_test_support.hpp"
#include "ops/gemm/gemm.hpp"
#include "ops/types.hpp"

namespace {

using fastann::Device;
using fastann::DType;
using fastann::Shape;
using fastann::Tensor;
using fastann::ops::Act;
using fastann::ops::ActParams;
using fastann_test::expect_unavailable;

constexpr double kU = 1.0 / 16777216.0;  // 2^-24, the unit roundoff of float32

std::vector<float> random_values(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

Tensor tensor(const std::vector<float>& v, Shape shape) { return Tensor::from_values(v.data(), std::move(shape)); }

// The reference product in double with, per element, the float32 bound of its computation: a dot product of length
// k accumulated in float32 (any order, FMA or not) is within k * u * sum |a_p b_p| of the exact one; alpha, beta * c,
// the sum of the two and the bias add one rounding each: 2 * (k + 4) * u * (|alpha| sum |a_p b_p| + |beta c| + |bias|)
// bounds the whole (the 2 covers the second-order terms with a wide margin).
struct Reference {
  std::vector<double> value, bound;
};

Reference gemm_reference(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const std::vector<float>& a,
                         const std::vector<float>& b, float beta, const std::vector<float>& c0,
                         const std::vector<float>* bias) {
  Reference r;
  r.value.resize(static_cast<size_t>(m * n));
  r.bound.resize(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0.0, mag = 0.0;
      for (int64_t p = 0; p < k; ++p) {
        const double av = a[static_cast<size_t>(ta ? p * m + i : i * k + p)];
        const double bv = b[static_cast<size_t>(tb ? j * k + p : p * n + j)];
        dot += av * bv;
        mag += std::fabs(av * bv);
      }
      const size_t o = static_cast<size_t>(i * n + j);
      const double bc = beta == 0.0f ? 0.0 : static_cast<double>(beta) * c0[o];  // beta == 0: c is not read
      const double bj = bias ? (*bias)[static_cast<size_t>(j)] : 0.0;
      r.value[o] = static_cast<double>(alpha) * dot + bc + bj;
      r.bound[o] = 2.0 * static_cast<double>(k + 4) * kU * (std::fabs(alpha) * mag + std::fabs(bc) + std::fabs(bj));
    }
  }
  return r;
}

struct GemmCase {
  int64_t m, n, k;
  float alpha, beta;
  bool bias;
  Act act;
};

void run_gemm_case(const GemmCase& g, bool ta, bool tb, unsigned seed) {
  const std::vector<float> a = random_values(static_cast<size_t>(g.m * g.k), seed);
  const std::vector<float> b = random_values(static_cast<size_t>(g.k * g.n), seed + 1);
  std::vector<float> c0 = random_values(static_cast<size_t>(g.m * g.n), seed + 2);
  if (g.beta == 0.0f) std::fill(c0.begin(), c0.end(), std::numeric_limits<float>::quiet_NaN());  // must be ignored
  const std::vector<float> bias = random_values(static_cast<size_t>(g.n), seed + 3);
  const Tensor ta_t = ta ? tensor(a, {g.k, g.m}) : tensor(a, {g.m, g.k});
  const Tensor tb_t = tb ? tensor(b, {g.n, g.k}) : tensor(b, {g.k, g.n});
  Tensor c = tensor(c0, {g.m, g.n});
  const Tensor tbias = tensor(bias, {g.n});
  ActParams act;
  act.kind = g.act;
  fastann::ops::gemm(ta, tb, g.alpha, ta_t, tb_t, g.beta, c, g.bias ? &tbias : nullptr,
                     g.act == Act::linear ? nullptr : &act);
  const Reference r = gemm_reference(ta, tb, g.m, g.n, g.k, g.alpha, a, b, g.beta, c0, g.bias ? &bias : nullptr);
  const float* out = c.data<float>();
  const std::string what = "m=" + std::to_string(g.m) + " n=" + std::to_string(g.n) + " k=" + std::to_string(g.k) +
                           " trans_a=" + std::to_string(ta) + " trans_b=" + std::to_string(tb) +
                           " act=" + fastann::ops::act_name(g.act);
  if (g.act == Act::softmax) {
    for (int64_t i = 0; i < g.m; ++i) {
      const size_t row = static_cast<size_t>(i * g.n);
      double mx = r.value[row], e_max = 0.0, spread = 0.0;
      for (int64_t j = 0; j < g.n; ++j) {
        mx = std::max(mx, r.value[row + static_cast<size_t>(j)]);
        e_max = std::max(e_max, r.bound[row + static_cast<size_t>(j)]);
      }
      double se = 0.0;
      for (int64_t j = 0; j < g.n; ++j) {
        se += std::exp(r.value[row + static_cast<size_t>(j)] - mx);
        spread = std::max(spread, mx - r.value[row + static_cast<size_t>(j)]);
      }
      // Errors of at most e_max in the logits change each probability by a factor within exp(+-2 e_max); the float32
      // softmax adds the rounding of x - max (an error of (spread + 1) u in the exponent), of exp, of 1 / sum and of
      // the product: a relative (spread + 4) u, doubled for margin.
      const double rel = std::expm1(2.0 * e_max) + 2.0 * (spread + 4.0) * kU;
      for (int64_t j = 0; j < g.n; ++j) {
        const double s = std::exp(r.value[row + static_cast<size_t>(j)] - mx) / se;
        ASSERT_NEAR(out[row + static_cast<size_t>(j)], s, rel * s) << what << " at (" << i << ", " << j << ")";
      }
    }
    return;
  }
  for (size_t o = 0; o < r.value.size(); ++o) {
    const double want = g.act == Act::relu ? std::max(r.value[o], 0.0) : r.value[o];  // relu is 1-Lipschitz
    ASSERT_NEAR(out[o], want, r.bound[o])
        << what << " at " << o / static_cast<size_t>(g.n) << ", " << o % static_cast<size_t>(g.n);
  }
}

TEST(GemmOp, AllTransposesMatchDoubleReference) {
  const GemmCase cases[] = {
      {1, 1, 1, 1.0f, 0.0f, false, Act::linear},      {7, 13, 5, 1.0f, 0.0f, false, Act::linear},
      {7, 13, 5, -0.75f, 1.5f, false, Act::linear},   {33, 65, 17, 1.0f, 0.0f, true, Act::linear},
      {33, 65, 17, 0.5f, -2.0f, true, Act::relu},     {1, 40, 9, 2.0f, 1.0f, true, Act::relu},
      {40, 1, 9, 1.0f, 0.25f, false, Act::linear},    {129, 257, 300, 1.0f, 0.0f, true, Act::relu},
      {67, 31, 513, 0.125f, 1.0f, true, Act::linear}, {16, 16, 16, 1.0f, 1.0f, false, Act::linear},
  };
  unsigned seed = 100;
  for (const GemmCase& g : cases) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) run_gemm_case(g, ta, tb, seed += 10);
    }
  }
}

TEST(GemmOp, SoftmaxAfterTheProduct) {
  const GemmCase cases[] = {
      {7, 13, 5, 1.0f, 0.0f, true, Act::softmax},
      {33, 65, 17, 2.0f, 0.5f, true, Act::softmax},
      {5, 1, 3, 1.0f, 0.0f, false, Act::softmax},  // one class: every probability 1
  };
  unsigned seed = 500;
  for (const GemmCase& g : cases) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) run_gemm_case(g, ta, tb, seed += 10);
    }
  }
}

TEST(GemmOp, KZeroGivesBetaTimesCPlusBiasThenActivation) {
  for (Act act : {Act::linear, Act::relu}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        run_gemm_case({6, 9, 0, 1.0f, 0.5f, true, act}, ta, tb, 900);
        run_gemm_case({6, 9, 0, 1.0f, 0.0f, true, act}, ta, tb, 910);  // beta 0: bias only
        run_gemm_case({6, 9, 0, 1.0f, -1.0f, false, act}, ta, tb, 920);
      }
    }
  }
}

TEST(GemmOp, EmptyMOrNIsANoOp) {
  const Tensor a0 = Tensor::empty({0, 4});
  const Tensor b = Tensor::empty({4, 3});
  Tensor c0 = Tensor::empty({0, 3});
  EXPECT_NO_THROW(fastann::ops::gemm(false, false, 1.0f, a0, b, 0.0f, c0));
  const Tensor a = Tensor::empty({2, 4});
  const Tensor b0 = Tensor::empty({4, 0});
  Tensor c2 = Tensor::empty({2, 0});
  const Tensor bias0 = Tensor::empty({0});
  EXPECT_NO_THROW(fastann::ops::gemm(false, false, 1.0f, a, b0, 1.0f, c2, &bias0));
  // The shapes are still checked.
  Tensor bad = Tensor::empty({0, 2});
  EXPECT_THROW(fastann::ops::gemm(false, false, 1.0f, a0, b, 0.0f, bad), fastann::ValueError);
}

TEST(GemmOp, ShapeMismatchesAndMixedDtypesAreValueErrors) {
  const Tensor a = Tensor::empty({3, 4});
  const Tensor b = Tensor::empty({4, 5});
  Tensor c = Tensor::empty({3, 5});
  EXPECT_NO_THROW(fastann::ops::gemm(false, false, 1.0f, a, b, 0.0f, c));
  EXPECT_THROW(fastann::ops::gemm(true, false, 1.0f, a, b, 0.0f, c), fastann::ValueError);  // op(a) is (4, 3)
  EXPECT_THROW(fastann::ops::gemm(false, true, 1.0f, a, b, 0.0f, c), fastann::ValueError);  // op(b) is (5, 4)
  Tensor c_wrong = Tensor::empty({5, 3});
  EXPECT_THROW(fastann::ops::gemm(false, false, 1.0f, a, b, 0.0f, c_wrong), fastann::ValueError);
  const Tensor a3 = Tensor::empty({1, 3, 4});
  EXPECT_THROW(fastann::ops::gemm(false, false, 1.0f, a3, b, 0.0f, c), fastann::ValueError);  // not 2-D
  const Tensor bias4 = Tensor::empty({4});
  EXPECT_THROW(fastann::ops::gemm(false, false, 1.0f, a, b, 0.0f, c, &bias4), fastann::ValueError);
  const Tensor b_bf16 = Tensor::empty({4, 5}, DType::bfloat16);
  EXPECT_THROW(fastann::ops::gemm(false, false, 1.0f, a, b_bf16, 0.0f, c), fastann::ValueError);
  const Tensor bias_bf16 = Tensor::empty({5}, DType::bfloat16);
  EXPECT_THROW(fastann::ops::gemm(false, false, 1.0f, a, b, 0.0f, c, &bias_bf16), fastann::ValueError);
}

TEST(GemmOp, DtypeWithoutKernelIsUnavailableError) {
  const Tensor a = Tensor::empty({3, 4}, DType::bfloat16);
  const Tensor b = Tensor::empty({4, 5}, DType::bfloat16);
  Tensor c = Tensor::empty({3, 5}, DType::bfloat16);
  expect_unavailable([&] { fastann::ops::gemm(false, false, 1.0f, a, b, 0.0f, c); }, "gemm");
  expect_unavailable([&] { fastann::ops::matmul(a, b); }, "matmul");
}

TEST(GemmOp, PlanOnTheCpuIsValueError) {
  int64_t splits = -7;
  try {
    fastann::ops::gemm_plan(Device::cpu(), false, false, 64, 64, 64, &splits);
    FAIL() << "expected ValueError";
  } catch (const fastann::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gemm_plan"), std::string::npos) << msg;
    EXPECT_NE(msg.find("cpu"), std::string::npos) << msg;
  }
  EXPECT_EQ(splits, -7);
}

// ---- matmul ----

// NumPy's matmul of a (shape sa) and b (shape sb) in double, written out independently of the op: 1-D operands
// promoted, batch dimensions broadcast from the right. Returns the values in the result's row-major order and the
// per-element float32 bound (k + 2) * 2 * u * sum |a b|.
Reference matmul_reference(const std::vector<float>& a, Shape sa, const std::vector<float>& b, Shape sb,
                           Shape* out_shape) {
  const bool av = sa.size() == 1, bv = sb.size() == 1;
  if (av) sa.insert(sa.begin(), 1);
  if (bv) sb.push_back(1);
  const int64_t m = sa[sa.size() - 2], k = sa.back(), n = sb.back();
  const Shape ba(sa.begin(), sa.end() - 2), bb(sb.begin(), sb.end() - 2);
  const size_t nb = std::max(ba.size(), bb.size());
  Shape batch(nb);
  for (size_t i = 0; i < nb; ++i) {
    const int64_t da = i < nb - ba.size() ? 1 : ba[i - (nb - ba.size())];
    const int64_t db = i < nb - bb.size() ? 1 : bb[i - (nb - bb.size())];
    batch[i] = da == 1 ? db : da;
  }
  *out_shape = batch;
  if (!av) out_shape->push_back(m);
  if (!bv) out_shape->push_back(n);
  int64_t count = 1;
  for (int64_t d : batch) count *= d;
  Reference r;
  for (int64_t t = 0; t < count; ++t) {
    // The batch index of t, then the matrix of a and of b it reads (a size-1 dim repeats).
    std::vector<int64_t> ix(nb);
    int64_t rem = t;
    for (size_t d = nb; d-- > 0;) {
      ix[d] = rem % batch[d];
      rem /= batch[d];
    }
    int64_t ia = 0, ib = 0;
    for (size_t d = 0; d < nb; ++d) {
      if (d >= nb - ba.size()) {
        const int64_t da = ba[d - (nb - ba.size())];
        ia = ia * da + (da == 1 ? 0 : ix[d]);
      }
      if (d >= nb - bb.size()) {
        const int64_t db = bb[d - (nb - bb.size())];
        ib = ib * db + (db == 1 ? 0 : ix[d]);
      }
    }
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double dot = 0.0, mag = 0.0;
        for (int64_t p = 0; p < k; ++p) {
          const double x = a[static_cast<size_t>(ia * m * k + i * k + p)];
          const double y = b[static_cast<size_t>(ib * k * n + p * n + j)];
          dot += x * y;
          mag += std::fabs(x * y);
        }
        r.value.push_back(dot);
        r.bound.push_back(2.0 * static_cast<double>(k + 2) * kU * mag);
      }
    }
  }
  return r;
}

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

void check_matmul(const Shape& sa, const Shape& sb, const Shape& expected_shape, unsigned seed) {
  const std::vector<float> a = random_values(static_cast<size_t>(numel(sa)), seed);
  const std::vector<float> b = random_values(static_cast<size_t>(numel(sb)), seed + 1);
  const Tensor out = fastann::ops::matmul(tensor(a, sa), tensor(b, sb));
  Shape ref_shape;
  const Reference r = matmul_reference(a, sa, b, sb, &ref_shape);
  ASSERT_EQ(ref_shape, expected_shape) << "the test's reference";
  ASSERT_EQ(out.shape(), expected_shape) << fastann::shape_str(sa) << " @ " << fastann::shape_str(sb);
  ASSERT_EQ(out.numel(), static_cast<int64_t>(r.value.size()));
  const float* o = out.data<float>();
  for (size_t i = 0; i < r.value.size(); ++i) {
    ASSERT_NEAR(o[i], r.value[i], r.bound[i])
        << fastann::shape_str(sa) << " @ " << fastann::shape_str(sb) << " at flat " << i;
  }
}

TEST(Matmul, NumPySemanticsMatchDoubleReference) {
  check_matmul({5, 7}, {7, 3}, {5, 3}, 1);
  check_matmul({1, 1}, {1, 1}, {1, 1}, 3);
  check_matmul({4}, {4, 3}, {3}, 5);                        // 1-D a: (1, 4) then the 1 dropped
  check_matmul({3, 4}, {4}, {3}, 7);                        // 1-D b: (4, 1) then the 1 dropped
  check_matmul({4}, {4}, {}, 9);                            // two vectors: a 0-d result
  check_matmul({2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}, 11);  // broadcast batch dimensions
  check_matmul({3, 2, 4}, {4, 6}, {3, 2, 6}, 13);           // a 2-D b shared by the batch
  check_matmul({2, 5}, {4, 5, 3}, {4, 2, 3}, 15);           // a 2-D a shared by the batch
  check_matmul({4}, {2, 4, 3}, {2, 3}, 17);
  check_matmul({2, 3, 4}, {4}, {2, 3}, 19);
  check_matmul({6, 1, 7, 33}, {1, 3, 33, 9}, {6, 3, 7, 9}, 21);
  check_matmul({1, 70, 130}, {130, 65}, {1, 70, 65}, 23);  // one product of a batched shape
}

TEST(Matmul, EmptyOperands) {
  // k == 0: zeros.
  const Tensor z = fastann::ops::matmul(Tensor::empty({2, 0}), Tensor::empty({0, 3}));
  ASSERT_EQ(z.shape(), (Shape{2, 3}));
  for (int64_t i = 0; i < z.numel(); ++i) EXPECT_EQ(z.data<float>()[i], 0.0f) << i;
  const Tensor zb = fastann::ops::matmul(Tensor::empty({4, 2, 0}), Tensor::empty({0, 3}));
  ASSERT_EQ(zb.shape(), (Shape{4, 2, 3}));
  for (int64_t i = 0; i < zb.numel(); ++i) EXPECT_EQ(zb.data<float>()[i], 0.0f) << i;
  // An empty batch or matrix dimension: an empty result of the broadcast shape.
  EXPECT_EQ(fastann::ops::matmul(Tensor::empty({0, 3, 4}), Tensor::empty({4, 2})).shape(), (Shape{0, 3, 2}));
  EXPECT_EQ(fastann::ops::matmul(Tensor::empty({3, 0, 4}), Tensor::empty({1, 4, 2})).shape(), (Shape{3, 0, 2}));
}

TEST(Matmul, ShapeMismatchAndMixedDtypesAreValueErrors) {
  EXPECT_THROW(fastann::ops::matmul(Tensor::empty({3, 4}), Tensor::empty({5, 2})), fastann::ValueError);
  EXPECT_THROW(fastann::ops::matmul(Tensor::empty({4}), Tensor::empty({3})), fastann::ValueError);
  EXPECT_THROW(fastann::ops::matmul(Tensor::empty({3, 4}), Tensor::empty({3})), fastann::ValueError);
  EXPECT_THROW(fastann::ops::matmul(Tensor::empty({2, 3, 4}), Tensor::empty({3, 4, 2})), fastann::ValueError);
  EXPECT_THROW(fastann::ops::matmul(Tensor::empty(Shape{}), Tensor::empty({3, 2})), fastann::ValueError);  // 0-d
  EXPECT_THROW(fastann::ops::matmul(Tensor::empty({3, 4}), Tensor::empty({4, 2}, DType::bfloat16)),
               fastann::ValueError);
  try {
    fastann::ops::matmul(Tensor::empty({3, 4}), Tensor::empty({5, 2}));
    FAIL() << "expected ValueError";
  } catch (const fastann::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("(3, 4)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("(5, 2)"), std::string::npos) << msg;
  }
}

}  // namespace

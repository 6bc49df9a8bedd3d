// The row ops through their kernel tables: the bias gradient (column sums, each column added in row order, so the
// float32 result equals a sequential float32 sum bit for bit, whatever the thread split, and lies within the float32
// bound of a double reference), the row gather from host indices and from a RowIndex (exact copies, out-of-range
// indices named in the ValueError), the finite scan (the first NaN or infinity wherever it falls among the scan's
// chunks, -1 for an all-finite tensor), and the errors of a (device, dtype) with no kernel and of bad operands.
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "fastann/error.hpp"
#include "fastann/tensor.hpp"
#include "op_test_support.hpp"
#include "ops/rows/rows.hpp"

namespace {

using fastann::Device;
using fastann::DType;
using fastann::Tensor;
using fastann_test::expect_unavailable;
using fastann_test::same_bits;

constexpr double kU = 1.0 / 16777216.0;  // 2^-24, the unit roundoff of float32

std::vector<float> random_values(size_t n, unsigned seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// ---- bias_grad ----

void check_bias_grad(int64_t rows, int64_t cols, unsigned seed) {
  std::vector<float> dz = random_values(static_cast<size_t>(rows * cols), seed);
  // Mixed magnitudes make the float32 sum depend on the order of the additions.
  for (size_t i = 0; i < dz.size(); i += 7) dz[i] *= 4096.0f;
  const Tensor tdz = Tensor::from_values(dz.data(), {rows, cols});
  Tensor db = Tensor::empty({cols});
  std::fill(db.data<float>(), db.data<float>() + cols, std::numeric_limits<float>::quiet_NaN());
  fastann::ops::bias_grad(tdz, db);
  const float* out = db.data<float>();
  for (int64_t j = 0; j < cols; ++j) {
    float seq = 0.0f;  // the documented order: row 0, row 1, ...
    double ref = 0.0, mag = 0.0;
    for (int64_t i = 0; i < rows; ++i) {
      const float v = dz[static_cast<size_t>(i * cols + j)];
      seq += v;
      ref += v;
      mag += std::fabs(v);
    }
    ASSERT_TRUE(same_bits(out[j], seq)) << "column " << j << " of (" << rows << ", " << cols << "): " << out[j]
                                        << " != row-order sum " << seq;
    // Recursive float32 summation: |error| <= (rows - 1) * u * sum |dz|.
    ASSERT_NEAR(out[j], ref, static_cast<double>(rows) * kU * mag) << "column " << j;
  }
}

TEST(BiasGrad, ColumnSumsAreRowOrderFloat32Sums) {
  check_bias_grad(1, 1, 1);
  check_bias_grad(3, 5, 2);        // fewer rows than the kernel's four-row pass
  check_bias_grad(37, 70, 3);      // four-row passes and a remainder
  check_bias_grad(1000, 3000, 4);  // split over the thread pool by columns
  check_bias_grad(64, 1, 5);
}

TEST(BiasGrad, NoRowsGivesZeros) {
  const Tensor dz = Tensor::empty({0, 6});
  Tensor db = Tensor::empty({6});
  std::fill(db.data<float>(), db.data<float>() + 6, std::numeric_limits<float>::quiet_NaN());
  fastann::ops::bias_grad(dz, db);
  for (int j = 0; j < 6; ++j) EXPECT_EQ(db.data<float>()[j], 0.0f) << j;
}

TEST(BiasGrad, BadShapesAndMixedDtypesAreValueErrors) {
  const Tensor dz = Tensor::empty({4, 3});
  Tensor db4 = Tensor::empty({4});
  EXPECT_THROW(fastann::ops::bias_grad(dz, db4), fastann::ValueError);
  const Tensor dz1 = Tensor::empty({12});
  Tensor db3 = Tensor::empty({3});
  EXPECT_THROW(fastann::ops::bias_grad(dz1, db3), fastann::ValueError);
  Tensor db_bf16 = Tensor::empty({3}, DType::bfloat16);
  EXPECT_THROW(fastann::ops::bias_grad(dz, db_bf16), fastann::ValueError);
}

TEST(BiasGrad, DtypeWithoutKernelIsUnavailableError) {
  const Tensor dz = Tensor::empty({4, 3}, DType::bfloat16);
  Tensor db = Tensor::empty({3}, DType::bfloat16);
  expect_unavailable([&] { fastann::ops::bias_grad(dz, db); }, "bias_grad");
}

// ---- gather_rows ----

TEST(GatherRows, HostIndicesCopyTheRowsExactly) {
  const int64_t rows = 10, cols = 7;
  const std::vector<float> src = random_values(static_cast<size_t>(rows * cols), 11);
  const Tensor tsrc = Tensor::from_values(src.data(), {rows, cols});
  const std::vector<int64_t> idx = {3, 0, 9, 3, 5};  // a repeated row, the first and the last
  const int64_t n = static_cast<int64_t>(idx.size());
  Tensor dst = Tensor::empty({n + 1, cols});  // one row more than gathered: left as it was
  std::fill(dst.data<float>(), dst.data<float>() + dst.numel(), -123.0f);
  fastann::ops::gather_rows(tsrc, idx.data(), n, dst);
  const float* d = dst.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      ASSERT_TRUE(same_bits(d[i * cols + j], src[static_cast<size_t>(idx[static_cast<size_t>(i)] * cols + j)]))
          << "row " << i << " col " << j;
    }
  }
  for (int64_t j = 0; j < cols; ++j) EXPECT_EQ(d[n * cols + j], -123.0f) << "row past n, col " << j;
}

TEST(GatherRows, RowsOfOneDimensionalAndThreeDimensionalSources) {
  // A 1-D source has rows of one element.
  const std::vector<float> v = {10.0f, 11.0f, 12.0f, 13.0f};
  const std::vector<int64_t> idx = {2, 2, 0, 3};
  Tensor d1 = Tensor::empty({4});
  fastann::ops::gather_rows(Tensor::from_values(v.data(), {4}), idx.data(), 4, d1);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(d1.data<float>()[i], v[static_cast<size_t>(idx[static_cast<size_t>(i)])]);
  // A (3, 2, 5) source has rows of 10 elements.
  const std::vector<float> s3 = random_values(30, 12);
  const std::vector<int64_t> idx3 = {1, 2};
  Tensor d3 = Tensor::empty({2, 2, 5});
  fastann::ops::gather_rows(Tensor::from_values(s3.data(), {3, 2, 5}), idx3.data(), 2, d3);
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 10; ++j) {
      EXPECT_TRUE(
          same_bits(d3.data<float>()[i * 10 + j], s3[static_cast<size_t>(idx3[static_cast<size_t>(i)] * 10 + j)]))
          << i << ", " << j;
    }
  }
}

TEST(GatherRows, RowIndexGathersItsRange) {
  const int64_t rows = 8, cols = 3;
  const std::vector<float> src = random_values(static_cast<size_t>(rows * cols), 13);
  const Tensor tsrc = Tensor::from_values(src.data(), {rows, cols});
  const std::vector<int64_t> order = {7, 1, 4, 4, 0, 6};
  fastann::ops::RowIndex ri;
  ri.assign(order.data(), static_cast<int64_t>(order.size()), Device::cpu());
  EXPECT_EQ(ri.size(), 6);
  EXPECT_EQ(ri.device(), Device::cpu());
  EXPECT_EQ(ri.data(), order.data());  // on the CPU the caller's array itself
  Tensor dst = Tensor::empty({3, cols});
  fastann::ops::gather_rows(tsrc, ri, 2, 3, dst);  // order[2 .. 5)
  for (int64_t i = 0; i < 3; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      ASSERT_TRUE(same_bits(dst.data<float>()[i * cols + j],
                            src[static_cast<size_t>(order[static_cast<size_t>(2 + i)] * cols + j)]))
          << i << ", " << j;
    }
  }
  EXPECT_THROW(fastann::ops::gather_rows(tsrc, ri, 4, 3, dst), fastann::ValueError);   // past the 6 indices
  EXPECT_THROW(fastann::ops::gather_rows(tsrc, ri, -1, 2, dst), fastann::ValueError);  // negative begin
  EXPECT_THROW(ri.assign(order.data(), -1, Device::cpu()), fastann::ValueError);
}

void expect_index_error(const Tensor& src, const std::vector<int64_t>& idx, Tensor& dst, const std::string& named,
                        bool row_index) {
  try {
    if (row_index) {
      fastann::ops::RowIndex ri;
      ri.assign(idx.data(), static_cast<int64_t>(idx.size()), Device::cpu());
      fastann::ops::gather_rows(src, ri, 0, ri.size(), dst);
    } else {
      fastann::ops::gather_rows(src, idx.data(), static_cast<int64_t>(idx.size()), dst);
    }
    FAIL() << "expected ValueError for index " << named;
  } catch (const fastann::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("index " + named), std::string::npos) << msg;
  }
}

TEST(GatherRows, IndexOutsideTheSourceIsValueErrorNamingIt) {
  const Tensor src = Tensor::empty({10, 4});
  Tensor dst = Tensor::empty({3, 4});
  for (bool row_index : {false, true}) {
    expect_index_error(src, {1, 12, 2}, dst, "12", row_index);
    expect_index_error(src, {0, -1}, dst, "-1", row_index);
    expect_index_error(src, {9, 10}, dst, "10", row_index);  // one past the last row
  }
}

TEST(GatherRows, BadOperandsAreValueErrors) {
  const Tensor src = Tensor::empty({10, 4});
  const std::vector<int64_t> idx = {0, 1, 2};
  Tensor small = Tensor::empty({2, 4});
  EXPECT_THROW(fastann::ops::gather_rows(src, idx.data(), 3, small), fastann::ValueError);  // too few rows
  Tensor bf16 = Tensor::empty({3, 4}, DType::bfloat16);
  EXPECT_THROW(fastann::ops::gather_rows(src, idx.data(), 3, bf16), fastann::ValueError);  // mixed dtypes
  Tensor dst = Tensor::empty({3, 4});
  EXPECT_THROW(fastann::ops::gather_rows(src, idx.data(), -1, dst), fastann::ValueError);  // negative count
}

TEST(GatherRows, DtypeWithoutKernelIsUnavailableError) {
  const Tensor src = Tensor::empty({5, 2}, DType::bfloat16);
  Tensor dst = Tensor::empty({2, 2}, DType::bfloat16);
  const std::vector<int64_t> idx = {4, 0};
  expect_unavailable([&] { fastann::ops::gather_rows(src, idx.data(), 2, dst); }, "gather_rows");
}

// ---- first_non_finite ----

int64_t reference_first_non_finite(const std::vector<float>& x) {
  for (size_t i = 0; i < x.size(); ++i) {
    if (!std::isfinite(x[i])) return static_cast<int64_t>(i);
  }
  return -1;
}

TEST(FirstNonFinite, FindsTheFirstNaNOrInfinityInAnyChunk) {
  const size_t n = 200000;  // several of the scan's 4096-element blocks and thread chunks
  std::vector<float> base = random_values(n, 21, -1e30f, 1e30f);
  // Extreme finite values are not flagged.
  base[5] = FLT_MAX;
  base[6] = -FLT_MAX;
  base[7] = FLT_MIN;
  base[8] = std::numeric_limits<float>::denorm_min();
  base[9] = -0.0f;
  const Tensor all_finite = Tensor::from_values(base.data(), {static_cast<int64_t>(n)});
  EXPECT_EQ(fastann::ops::first_non_finite(all_finite), -1);
  EXPECT_EQ(reference_first_non_finite(base), -1);

  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    std::vector<std::pair<size_t, float>> bad;
  };
  const std::vector<Case> cases = {
      {{{199990, nan}}},                               // near the end only
      {{{199990, nan}, {70000, inf}}},                 // an infinity earlier, in another chunk
      {{{0, -inf}}},                                   // the first element
      {{{n - 1, inf}}},                                // the last element
      {{{8191, nan}, {4100, -inf}}},                   // one 4096-element block holding two
      {{{4096, nan}, {4095, inf}}},                    // either side of a block boundary
      {{{131073, inf}, {65537, nan}, {199999, nan}}},  // three thread chunks
      {{{65536, nan}}},
  };
  for (const Case& c : cases) {
    std::vector<float> x = base;
    for (const auto& [i, v] : c.bad) x[i] = v;
    const int64_t want = reference_first_non_finite(x);
    ASSERT_GE(want, 0);
    const Tensor t = Tensor::from_values(x.data(), {static_cast<int64_t>(n)});
    EXPECT_EQ(fastann::ops::first_non_finite(t), want) << "first bad element at " << want;
    // Seen as a matrix: the index is the flat row-major one.
    EXPECT_EQ(fastann::ops::first_non_finite(t.reshape({500, 400})), want);
  }
}

TEST(FirstNonFinite, SmallAndEmptyTensors) {
  EXPECT_EQ(fastann::ops::first_non_finite(Tensor::empty({0})), -1);
  const std::vector<float> one = {std::numeric_limits<float>::quiet_NaN()};
  EXPECT_EQ(fastann::ops::first_non_finite(Tensor::from_values(one.data(), {1})), 0);
  const std::vector<float> three = {1.0f, 2.0f, -std::numeric_limits<float>::infinity()};
  EXPECT_EQ(fastann::ops::first_non_finite(Tensor::from_values(three.data(), {3})), 2);
}

TEST(FirstNonFinite, DtypeWithoutKernelIsUnavailableError) {
  const Tensor t = Tensor::empty({16}, DType::bfloat16);
  expect_unavailable([&] { fastann::ops::first_non_finite(t); }, "first_non_finite");
}

}  // namespace

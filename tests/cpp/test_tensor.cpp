// Tensor: owning buffers, views of caller memory, row slices, reshape, and the errors of bad shapes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fastann/fastann.hpp>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace {

using fastann::Shape;
using fastann::Tensor;

TEST(Tensor, DefaultIsUndefined) {
  Tensor t;
  EXPECT_FALSE(t.defined());
  EXPECT_EQ(t.ndim(), 0);
  EXPECT_EQ(t.numel(), 0);
}

TEST(Tensor, OwningTensorIsZeroedAndAligned) {
  Tensor t({3, 5});
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.shape(), (Shape{3, 5}));
  EXPECT_EQ(t.numel(), 15);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(t.data()[i], 0.0f);
  EXPECT_TRUE(t.is_cpu());
  EXPECT_EQ(t.device(), fastann::Device::cpu());
}

TEST(Tensor, CopiesShareStorageClonesDoNot) {
  Tensor a({4});
  Tensor b = a;  // shares the buffer, like a NumPy view
  b.data()[2] = 7.0f;
  EXPECT_EQ(a.data()[2], 7.0f);
  Tensor c = a.clone();
  c.data()[2] = 1.0f;
  EXPECT_EQ(a.data()[2], 7.0f);
  EXPECT_NE(c.data(), a.data());
}

TEST(Tensor, ViewUsesCallerMemory) {
  std::vector<float> buf{1, 2, 3, 4, 5, 6};
  Tensor v = Tensor::view(buf.data(), {2, 3});
  EXPECT_EQ(v.data(), buf.data());
  v.data()[4] = 50.0f;
  EXPECT_EQ(buf[4], 50.0f);
  const std::vector<float>& cbuf = buf;
  Tensor cv = Tensor::view(cbuf.data(), {3, 2});
  EXPECT_EQ(cv.data(), buf.data());
}

TEST(Tensor, FromDataCopies) {
  float src[4] = {1, 2, 3, 4};
  Tensor t = Tensor::from_data(src, {2, 2});
  src[0] = 100.0f;
  EXPECT_EQ(t.data()[0], 1.0f);
  EXPECT_EQ(t.data()[3], 4.0f);
}

TEST(Tensor, RowsAreViews) {
  std::vector<float> buf(12);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<float>(i);
  Tensor t = Tensor::view(buf.data(), {4, 3});
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 3}));
  EXPECT_EQ(r.data(), buf.data() + 3);
  EXPECT_EQ(r.data()[0], 3.0f);
  EXPECT_EQ(t.rows(4, 4).numel(), 0);
  EXPECT_THROW(t.rows(2, 5), fastann::ValueError);
  EXPECT_THROW(t.rows(3, 2), fastann::ValueError);
  EXPECT_THROW(t.rows(-1, 2), fastann::ValueError);
}

TEST(Tensor, ReshapeSharesMemoryAndChecksSize) {
  Tensor t({2, 6});
  Tensor r = t.reshape({3, 4});
  EXPECT_EQ(r.shape(), (Shape{3, 4}));
  EXPECT_EQ(r.data(), t.data());
  EXPECT_EQ(t.reshape({12}).ndim(), 1);
  try {
    (void)t.reshape({5, 2});
    FAIL() << "reshape of 12 elements into (5, 2) did not throw";
  } catch (const fastann::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("(2, 6)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("(5, 2)"), std::string::npos) << e.what();
  }
  EXPECT_THROW((void)t.reshape({-2, -6}), fastann::ValueError);
}

TEST(Tensor, BadShapesThrowValueError) {
  EXPECT_THROW(Tensor({-1, 2}), fastann::ValueError);
  EXPECT_THROW(Tensor(Shape{1, 1, 1, 1, 1, 1, 1, 1, 1}), fastann::ValueError);  // more than kMaxDims
  EXPECT_THROW(Tensor::empty({INT64_MAX, 4}), fastann::ValueError);
  EXPECT_THROW(Tensor::view(static_cast<float*>(nullptr), {2}), fastann::ValueError);
  EXPECT_NO_THROW(Tensor::view(static_cast<float*>(nullptr), {0, 3}));
  // All fastann errors are fastann::Error (a std::runtime_error).
  EXPECT_THROW(Tensor({-1}), fastann::Error);
  EXPECT_THROW(Tensor({-1}), std::runtime_error);
}

// A tensor that fits the address space but not the memory left fails with OutOfMemoryError naming its shape, before
// it is zero-filled (with overcommit the block would be granted, and filling it would bring the OOM killer).
TEST(Tensor, MoreThanTheFreeMemoryFailsBeforeTheZeroFill) {
  for (const Shape& shape : {Shape{int64_t{1} << 40}, Shape{int64_t{1} << 20, int64_t{1} << 21}}) {
    try {
      Tensor t(shape);
      FAIL() << "a tensor of shape " << fastann::shape_str(shape) << " was allocated";
    } catch (const fastann::OutOfMemoryError& e) {
      EXPECT_NE(std::string(e.what()).find("of shape " + fastann::shape_str(shape)), std::string::npos) << e.what();
    }
  }
}

TEST(Tensor, DimIndexing) {
  Tensor t({2, 3, 4});
  EXPECT_EQ(t.dim(0), 2);
  EXPECT_EQ(t.dim(-1), 4);
  EXPECT_EQ(t.dim(-3), 2);
  EXPECT_THROW(t.dim(3), fastann::ValueError);
  EXPECT_THROW(t.dim(-4), fastann::ValueError);
}

TEST(Tensor, CopyFromAndFill) {
  Tensor a({2, 3});
  a.fill(2.5f);
  Tensor b({6});
  b.copy_from(a);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(b.data()[i], 2.5f);
  Tensor c({5});
  EXPECT_THROW(c.copy_from(a), fastann::ValueError);
}

TEST(Tensor, ShapeStr) {
  EXPECT_EQ(fastann::shape_str({}), "()");
  EXPECT_EQ(fastann::shape_str({3}), "(3,)");
  EXPECT_EQ(fastann::shape_str({2, 3}), "(2, 3)");
}

TEST(Device, Parse) {
  EXPECT_EQ(fastann::Device::parse("cpu"), fastann::Device::cpu());
  EXPECT_EQ(fastann::Device::parse("cuda:1"), fastann::Device::cuda(1));
  EXPECT_EQ(fastann::Device::cuda(2).str(), "cuda:2");
  EXPECT_THROW(fastann::Device::parse("gpu"), fastann::ValueError);
  EXPECT_THROW(fastann::Device::parse("cuda:x"), fastann::ValueError);
}

TEST(Version, HeaderMatchesLibrary) {
  EXPECT_STREQ(fastann::version(), FASTANN_VERSION_STRING);
  EXPECT_EQ(std::string(FASTANN_VERSION_STRING), std::to_string(FASTANN_VERSION_MAJOR) + "." +
                                                     std::to_string(FASTANN_VERSION_MINOR) + "." +
                                                     std::to_string(FASTANN_VERSION_PATCH));
}

}  // namespace

// --- dtypes -----------------------------------------------------------------------------------------------------

#if defined(__SANITIZE_ADDRESS__)
#define FASTANN_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FASTANN_TEST_ASAN 1
#endif
#endif
#ifndef FASTANN_TEST_ASAN
#define FASTANN_TEST_ASAN 0
#endif

namespace dtypes {

using fastann::bfloat16;
using fastann::DType;

TEST(TensorDType, DefaultIsFloat32AndEveryDTypeHasItsSize) {
  EXPECT_EQ(Tensor({2}).dtype(), DType::float32);
  const std::pair<DType, size_t> sizes[] = {
      {DType::float32, 4}, {DType::bfloat16, 2}, {DType::int32, 4}, {DType::int64, 8}};
  for (const auto& [dt, size] : sizes) {
    Tensor t({3, 5}, fastann::Device::cpu(), dt);
    EXPECT_EQ(t.dtype(), dt);
    EXPECT_EQ(t.itemsize(), size);
    EXPECT_EQ(t.nbytes(), 15 * size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw_data()) % 64, 0u);
    const auto* bytes = static_cast<const unsigned char*>(t.raw_data());
    for (size_t i = 0; i < t.nbytes(); ++i) ASSERT_EQ(bytes[i], 0) << fastann::dtype_name(dt);
    EXPECT_EQ(fastann::parse_dtype(fastann::dtype_name(dt)), dt);
  }
  EXPECT_THROW(fastann::parse_dtype("float16"), fastann::ValueError);
}

TEST(TensorDType, TypedAccessChecksTheDType) {
  Tensor i = Tensor::empty({4}, DType::int64);
  EXPECT_NO_THROW(i.data<int64_t>());
  EXPECT_THROW(i.data(), fastann::TypeError);  // the float32 view
  EXPECT_THROW(i.data<int32_t>(), fastann::TypeError);
  try {
    i.data<float>();
    FAIL();
  } catch (const fastann::TypeError& e) {
    EXPECT_NE(std::string(e.what()).find("int64"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("float32"), std::string::npos) << e.what();
  }
}

TEST(TensorDType, ByteSizeOverflowRaisesBeforeAllocating) {
  // 2^61 int64 elements fit in int64_t as a count but are 2^64 bytes.
  const int64_t n = int64_t{1} << 61;
  EXPECT_THROW(Tensor::empty({n}, DType::int64), fastann::ValueError);
  EXPECT_THROW(Tensor::empty({int64_t{1} << 31, int64_t{1} << 31}, DType::float32), fastann::ValueError);
  EXPECT_THROW(Tensor::view_bytes(reinterpret_cast<void*>(64), {n}, DType::int64), fastann::ValueError);
  // The same count of 2-byte elements is only 2^62 bytes: representable, so the error is the allocation's. (Not
  // under AddressSanitizer, whose allocator aborts on such a request instead of returning null.)
#if !FASTANN_TEST_ASAN
  EXPECT_THROW(Tensor::empty({n}, DType::bfloat16), fastann::OutOfMemoryError);
#endif
}

TEST(TensorDType, Bfloat16RoundsToNearestEvenAndKeepsSpecialValues) {
  // Independent reference: round the float32 bit pattern to its top 16 bits by hand, ties to even.
  const float cases[] = {0.0f,     -0.0f,   1.0f,        -2.5f,       3.14159265f,       1e-40f,
                         65504.0f, 3.0e38f, 1.00390625f, 1.01171875f, 1.0f + 1.0f / 256, 1.0f + 3.0f / 256};
  for (float f : cases) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    const uint32_t lower = u & 0xffffu, upper = u >> 16;
    const uint32_t want = lower > 0x8000u || (lower == 0x8000u && (upper & 1u)) ? upper + 1 : upper;
    EXPECT_EQ(bfloat16(f).bits, want) << f;
  }
  EXPECT_EQ(static_cast<float>(bfloat16(1.0f + 1.0f / 256)), 1.0f);              // tie to even (down)
  EXPECT_EQ(static_cast<float>(bfloat16(1.0f + 3.0f / 256)), 1.0f + 1.0f / 64);  // tie to even (up)
  EXPECT_TRUE(std::isinf(static_cast<float>(bfloat16(std::numeric_limits<float>::infinity()))));
  EXPECT_TRUE(std::isnan(static_cast<float>(bfloat16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isinf(static_cast<float>(bfloat16(3.4e38f))));  // rounds past the largest finite bfloat16
}

TEST(TensorDType, AstypeConvertsAndChecks) {
  const float v[] = {1.5f, -2.75f, 1.0f + 1.0f / 256, 100.9f};
  Tensor f = Tensor::from_data(v, {2, 2});
  Tensor h = f.astype(DType::bfloat16);
  ASSERT_EQ(h.dtype(), DType::bfloat16);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(h.data<bfloat16>()[i].bits, bfloat16(v[i]).bits);
  Tensor back = h.astype(DType::float32);
  EXPECT_EQ(back.data()[0], 1.5f);
  EXPECT_EQ(back.data()[2], 1.0f);
  Tensor i = f.astype(DType::int32);
  EXPECT_EQ(i.data<int32_t>()[1], -2);  // toward zero, as NumPy's astype
  EXPECT_EQ(i.data<int32_t>()[3], 100);
  EXPECT_EQ(i.astype(DType::int64).data<int64_t>()[3], 100);
  const int64_t big[] = {int64_t{1} << 40};
  EXPECT_THROW(Tensor::from_values(big, {1}).astype(DType::int32), fastann::ValueError);
  const float nan[] = {std::numeric_limits<float>::quiet_NaN()};
  EXPECT_THROW(Tensor::from_data(nan, {1}).astype(DType::int64), fastann::ValueError);
}

TEST(TensorDType, ViewsRowsAndCopiesKeepTheDType) {
  std::vector<int64_t> buf{0, 1, 2, 3, 4, 5, 6, 7, 8};
  Tensor t = Tensor::view_bytes(buf.data(), {3, 3}, DType::int64);
  Tensor r = t.rows(1, 3);
  EXPECT_EQ(r.dtype(), DType::int64);
  EXPECT_EQ(r.data<int64_t>()[0], 3);
  EXPECT_EQ(r.reshape({6}).data<int64_t>()[5], 8);
  Tensor c = r.clone();
  EXPECT_EQ(c.dtype(), DType::int64);
  EXPECT_EQ(c.data<int64_t>()[2], 5);
  Tensor f({6});
  EXPECT_THROW(f.copy_from(r.reshape({6})), fastann::ValueError);  // dtype mismatch
  Tensor g = Tensor::empty({6}, DType::int64);
  g.copy_from(r.reshape({6}));
  EXPECT_EQ(g.data<int64_t>()[0], 3);
  g.fill(7.9f);
  EXPECT_EQ(g.data<int64_t>()[4], 7);
}

}  // namespace dtypes

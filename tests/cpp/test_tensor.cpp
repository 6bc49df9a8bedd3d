// Tensor: owning buffers, views of caller memory, row slices, reshape, and the errors of bad shapes.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <fastann/fastann.hpp>

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
  EXPECT_EQ(std::string(FASTANN_VERSION_STRING),
            std::to_string(FASTANN_VERSION_MAJOR) + "." + std::to_string(FASTANN_VERSION_MINOR) + "." +
                std::to_string(FASTANN_VERSION_PATCH));
}

}  // namespace

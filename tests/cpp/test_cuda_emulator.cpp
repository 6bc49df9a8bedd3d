// The test-only CUDA emulator (csrc/cuda/emulator.cpp, FASTANN_CUDA_EMULATOR=ON) keeps the promises the Python tests
// rely on: device pointers are poisoned (dereferencing one on the host crashes), a host pointer passed as device
// memory and a device pointer passed as host memory are errors, so are freed memory, overruns and another device's
// memory, and the device has a size. Built only in the emulator build (tests/cpp/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include <fastann/fastann.hpp>

#include "cuda/backend.hpp"
#include "ops/ops.hpp"

namespace {

namespace cuda = fastann::cuda;
using fastann::Device;
using fastann::Tensor;

TEST(CudaEmulator, IsABuiltDevice) {
  EXPECT_TRUE(cuda::built());
  ASSERT_GE(cuda::device_count(), 1);  // default FASTANN_CUDA_EMULATOR_DEVICES
  EXPECT_EQ(cuda::device_name(0), "fastann CUDA emulator (host)");
  EXPECT_THROW(cuda::require_device(cuda::device_count()), fastann::UnavailableError);
  EXPECT_NE(cuda::create_stream(0), nullptr);
}

TEST(CudaEmulator, DevicePointersArePoisoned) {
  Tensor t = Tensor::empty({4}, Device::cuda(0));
  const auto u = reinterpret_cast<uintptr_t>(t.data());
  EXPECT_GE(u, uintptr_t{1} << 47);  // outside the user address space
  testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_DEATH(
      {
        volatile float v = *t.data();
        (void)v;
      },
      "");
}

TEST(CudaEmulator, RoundTripAndOpsThroughTheHost) {
  const std::vector<float> a = {1, 2, 3, 4, 5, 6}, b = {1, 0, 0, 1, 1, 1};
  Tensor ha = Tensor::from_data(a.data(), {2, 3}), hb = Tensor::from_data(b.data(), {3, 2});
  Tensor da = ha.to(Device::cuda(0)), db = hb.to(Device::cuda(0));
  Tensor dc = Tensor::empty({2, 2}, Device::cuda(0));
  fastann::ops::gemm(false, false, 1.0f, da, db, 0.0f, dc);
  const Tensor hc = dc.to(Device::cpu());
  EXPECT_EQ(std::vector<float>(hc.data(), hc.data() + 4), (std::vector<float>{4, 5, 10, 11}));
  // A row view of a device tensor is a device pointer too (the tag is additive).
  const Tensor row = da.rows(1, 2).to(Device::cpu());
  EXPECT_EQ(std::vector<float>(row.data(), row.data() + 3), (std::vector<float>{4, 5, 6}));
}

TEST(CudaEmulator, PointerDisciplineIsChecked) {
  std::vector<float> h(8, 0.0f);
  EXPECT_THROW(cuda::fill(0, h.data(), 8, 1.0f), fastann::CudaError);  // host pointer as device memory
  Tensor d = Tensor::empty({8}, Device::cuda(0));
  EXPECT_THROW(cuda::copy(d.data(), -1, h.data(), -1, 32), fastann::CudaError);  // device pointer as host memory
  EXPECT_THROW(cuda::fill(0, d.data(), 9, 1.0f), fastann::CudaError);            // overrun
  float* stale = d.data();
  d = Tensor();
  EXPECT_THROW(cuda::fill(0, stale, 8, 1.0f), fastann::CudaError);  // freed
}

TEST(CudaEmulator, DeviceMemoryIsBounded) {
  size_t free_bytes = 0, total = 0;
  cuda::mem_info(0, &free_bytes, &total);
  EXPECT_GT(total, 0u);
  EXPECT_LE(free_bytes, total);
  EXPECT_THROW(cuda::allocate(total + 1, 0), fastann::OutOfMemoryError);
  cuda::empty_cache();
  const cuda::MemoryStats before = cuda::memory_stats(0);
  { const auto p = cuda::allocate(1000, 0); }
  { const auto p = cuda::allocate(1000, 0); }  // the cached block
  const cuda::MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.device_allocs, before.device_allocs + 1);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
}

// The emulator's allocator is the real one's CachingPool: a block stays with the stream it was allocated for, and a
// dropped stream's blocks move to the default stream (create_stream's handle retires it).
TEST(CudaEmulator, BlocksStayWithTheirStream) {
  cuda::empty_cache();
  std::shared_ptr<void> s1 = cuda::create_stream(0), s2 = cuda::create_stream(0);
  EXPECT_NE(s1, s2);
  void* on_s1 = nullptr;
  {
    cuda::StreamScope scope(s1);
    on_s1 = cuda::allocate(1000, 0).get();  // freed at once: back to s1's list
  }
  // Held, so that the default and s2 lists stay empty.
  const std::shared_ptr<void> on_default = cuda::allocate(1000, 0);
  EXPECT_NE(on_default.get(), on_s1);  // the default stream does not get it
  std::shared_ptr<void> on_s2;
  {
    cuda::StreamScope scope(s2);
    on_s2 = cuda::allocate(1000, 0);
    EXPECT_NE(on_s2.get(), on_s1);
  }
  {
    cuda::StreamScope scope(s1);
    EXPECT_EQ(cuda::allocate(1000, 0).get(), on_s1);
  }
  s1.reset();
  EXPECT_EQ(cuda::allocate(1000, 0).get(), on_s1);  // retired: now the default stream's
  cuda::empty_cache();
  const cuda::MemoryStats after = cuda::memory_stats(0);
  EXPECT_EQ(after.reserved_bytes, after.allocated_bytes);  // every stream's cached blocks were freed
}

}  // namespace

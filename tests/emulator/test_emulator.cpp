// The test-only CUDA emulator (tests/emulator/emulator.cpp, FASTANN_CUDA_EMULATOR=ON) keeps the promises the Python
// tests rely on: device pointers are poisoned (dereferencing one on the host crashes), a host pointer passed as device
// memory and a device pointer passed as host memory are errors, so are freed memory, overruns and another device's
// memory, and the device has a size. Built only in the emulator build (tests/cpp/CMakeLists.txt).
#include <gtest/gtest.h>

#include <cstdint>
#include <fastann/fastann.hpp>
#include <memory>
#include <vector>

#include "ops/ops.hpp"
#include "runtime/backend.hpp"

namespace {

namespace rt = fastann::runtime;
// The emulator is the runtime's CUDA backend in this build.
rt::Backend& emu() { return rt::backend(fastann::DeviceType::CUDA); }
using fastann::Device;
using fastann::Tensor;

TEST(CudaEmulator, IsABuiltDevice) {
  EXPECT_TRUE(rt::has_backend(fastann::DeviceType::CUDA));
  ASSERT_GE(emu().device_count(), 1);  // default FASTANN_CUDA_EMULATOR_DEVICES
  EXPECT_EQ(emu().device_name(0), "fastann CUDA emulator (host)");
  EXPECT_THROW(emu().require_device(emu().device_count()), fastann::UnavailableError);
  EXPECT_NE(emu().create_stream(0), nullptr);
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
  EXPECT_THROW(emu().fill(0, h.data(), 8, 1.0f), fastann::CudaError);  // host pointer as device memory
  Tensor d = Tensor::empty({8}, Device::cuda(0));
  EXPECT_THROW(emu().copy(d.data(), -1, h.data(), -1, 32), fastann::CudaError);  // device pointer as host memory
  EXPECT_THROW(emu().fill(0, d.data(), 9, 1.0f), fastann::CudaError);            // overrun
  float* stale = d.data();
  d = Tensor();
  EXPECT_THROW(emu().fill(0, stale, 8, 1.0f), fastann::CudaError);  // freed
}

TEST(CudaEmulator, DeviceMemoryIsBounded) {
  size_t free_bytes = 0, total = 0;
  emu().mem_info(0, &free_bytes, &total);
  EXPECT_GT(total, 0u);
  EXPECT_LE(free_bytes, total);
  EXPECT_THROW(emu().allocate(total + 1, 0), fastann::OutOfMemoryError);
  emu().empty_cache();
  const rt::MemoryStats before = emu().memory_stats(0);
  {
    const auto p = emu().allocate(1000, 0);
  }
  {
    const auto p = emu().allocate(1000, 0);
  }  // the cached block
  const rt::MemoryStats after = emu().memory_stats(0);
  EXPECT_EQ(after.device_allocs, before.device_allocs + 1);
  EXPECT_EQ(after.cache_hits, before.cache_hits + 1);
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes);
}

// The emulator's allocator is the real one's CachingPool: a block stays with the stream it was allocated for, and a
// dropped stream's blocks move to the default stream (create_stream's handle retires it).
TEST(CudaEmulator, BlocksStayWithTheirStream) {
  emu().empty_cache();
  std::shared_ptr<void> s1 = emu().create_stream(0), s2 = emu().create_stream(0);
  EXPECT_NE(s1, s2);
  void* on_s1 = nullptr;
  {
    rt::StreamScope scope(s1);
    on_s1 = emu().allocate(1000, 0).get();  // freed at once: back to s1's list
  }
  // Held, so that the default and s2 lists stay empty.
  const std::shared_ptr<void> on_default = emu().allocate(1000, 0);
  EXPECT_NE(on_default.get(), on_s1);  // the default stream does not get it
  std::shared_ptr<void> on_s2;
  {
    rt::StreamScope scope(s2);
    on_s2 = emu().allocate(1000, 0);
    EXPECT_NE(on_s2.get(), on_s1);
  }
  {
    rt::StreamScope scope(s1);
    EXPECT_EQ(emu().allocate(1000, 0).get(), on_s1);
  }
  s1.reset();
  EXPECT_EQ(emu().allocate(1000, 0).get(), on_s1);  // retired: now the default stream's
  emu().empty_cache();
  const rt::MemoryStats after = emu().memory_stats(0);
  EXPECT_EQ(after.reserved_bytes, after.allocated_bytes);  // every stream's cached blocks were freed
}

}  // namespace

// --- the C++ model API on a device ----------------------------------------------------------------------------------

fastann::Sequential device_test_model() {
  fastann::Sequential m;
  fastann::Dense hidden(8, "tanh");
  hidden.input_dim = 3;
  hidden.kernel_initializer.seed = 5;
  fastann::Dense out(2, "softmax");
  out.kernel_initializer.seed = 6;
  m.add(hidden);
  m.add(out);
  m.compile(fastann::OptimizerConfig::defaults("adam"), {"categorical_crossentropy"}, {"accuracy"});
  return m;
}

TEST(CudaEmulatorModel, TrainsAndPredictsOnTheDeviceAsOnTheHost) {
  // The emulator runs the CPU kernels, so a model on cuda:0 must give the CPU model's numbers bit for bit: any
  // difference is a host-side orchestration bug (a lost copy, a stale buffer), any host access to device memory a
  // crash.
  const int64_t n = 50;
  std::vector<float> x, y;
  for (int64_t i = 0; i < n; ++i) {
    const float a = static_cast<float>((i * 37) % 17) / 17.0f - 0.5f, b = static_cast<float>((i * 11) % 13) / 13.0f;
    x.insert(x.end(), {a, b, a * b});
    y.insert(y.end(), {a > 0 ? 1.0f : 0.0f, a > 0 ? 0.0f : 1.0f});
  }
  const Tensor tx = Tensor::view(x.data(), {n, 3}), ty = Tensor::view(y.data(), {n, 2});
  fastann::Sequential cpu = device_test_model(), gpu = device_test_model();
  gpu.to(Device::cuda(0));
  EXPECT_EQ(gpu.device(), Device::cuda(0));
  fastann::FitOptions o;
  o.epochs = 3;
  o.batch_size = 8;
  o.seed = 7;
  o.validation_split = 0.2;
  const fastann::History hc = cpu.fit(tx, ty, o), hg = gpu.fit(tx, ty, o);
  ASSERT_EQ(hc.history.size(), hg.history.size());
  for (size_t k = 0; k < hc.history.size(); ++k) EXPECT_EQ(hc.history[k].second, hg.history[k].second);
  const std::vector<Tensor> wc = cpu.get_weights(), wg = gpu.get_weights();
  ASSERT_EQ(wc.size(), wg.size());
  for (size_t k = 0; k < wc.size(); ++k) {
    ASSERT_TRUE(wg[k].is_cpu());  // weights come back to the host
    EXPECT_EQ(std::vector<float>(wc[k].data(), wc[k].data() + wc[k].numel()),
              std::vector<float>(wg[k].data(), wg[k].data() + wg[k].numel()));
  }
  // Host input -> host output; device input -> device output (no staging).
  const Tensor pc = cpu.predict(tx), pg = gpu.predict(tx);
  ASSERT_TRUE(pg.is_cpu());
  EXPECT_EQ(std::vector<float>(pc.data(), pc.data() + pc.numel()),
            std::vector<float>(pg.data(), pg.data() + pg.numel()));
  const Tensor pd = gpu.predict(tx.to(Device::cuda(0)), 7);
  ASSERT_EQ(pd.device(), Device::cuda(0));
  const Tensor back = pd.to(Device::cpu());
  EXPECT_EQ(std::vector<float>(pc.data(), pc.data() + pc.numel()),
            std::vector<float>(back.data(), back.data() + back.numel()));
  EXPECT_EQ(cpu.evaluate(tx, ty, 16), gpu.evaluate(tx, ty, 16));
  // Back to the host: the same weights and optimizer state, and training goes on identically.
  gpu.to(Device::cpu());
  EXPECT_EQ(gpu.get_optimizer_state().iterations, cpu.get_optimizer_state().iterations);
  o.validation_split = 0.0;
  o.epochs = 1;
  cpu.fit(tx, ty, o);
  gpu.fit(tx, ty, o);
  const Tensor qc = cpu.predict(tx), qg = gpu.predict(tx);
  EXPECT_EQ(std::vector<float>(qc.data(), qc.data() + qc.numel()),
            std::vector<float>(qg.data(), qg.data() + qg.numel()));
}

TEST(CudaEmulatorModel, StreamedDataEqualsDeviceResidentData) {
  const int64_t n = 40;
  std::vector<float> x(static_cast<size_t>(n * 3)), y(static_cast<size_t>(n * 2), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < 3; ++j)
      x[static_cast<size_t>(i * 3 + j)] = static_cast<float>((i * 7 + j * 3) % 11) / 11.0f;
    y[static_cast<size_t>(i * 2 + (i % 2))] = 1.0f;
  }
  const Tensor tx = Tensor::view(x.data(), {n, 3}), ty = Tensor::view(y.data(), {n, 2});
  fastann::FitOptions o;
  o.epochs = 2;
  o.batch_size = 6;
  o.seed = 3;
  std::vector<std::vector<float>> preds;
  for (const int64_t limit : {int64_t{-1}, int64_t{0}}) {  // automatic (resident), then always streamed
    fastann::set_dataset_memory_limit(limit);
    fastann::Sequential m = device_test_model();
    m.to(Device::cuda(0));
    m.fit(tx, ty, o);
    const Tensor p = m.predict(tx);
    preds.emplace_back(p.data(), p.data() + p.numel());
  }
  fastann::set_dataset_memory_limit(-1);
  EXPECT_EQ(preds[0], preds[1]);
}

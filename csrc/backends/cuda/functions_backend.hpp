// The runtime::Backend over the device functions of backend.hpp (queries, memory, copies, streams). Whoever defines
// those functions registers it as runtime::cuda_backend(): the CUDA backend (runtime.cpp) or, in test-only builds,
// the host emulator (tests/emulator/emulator.cpp). Never both in one build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "backends/cuda/backend.hpp"
#include "runtime/backend.hpp"

namespace fastann::cuda {

class FunctionsBackend final : public runtime::Backend {
 public:
  DeviceType type() const override { return DeviceType::CUDA; }
  int device_count() override { return cuda::device_count(); }
  std::string device_name(int device) override { return cuda::device_name(device); }
  void require_device(int device) override { cuda::require_device(device); }
  void mem_info(int device, size_t* free_bytes, size_t* total_bytes) override {
    cuda::mem_info(device, free_bytes, total_bytes);
  }
  runtime::MemoryStats memory_stats(int device) override { return cuda::memory_stats(device); }
  void empty_cache() override { cuda::empty_cache(); }
  void set_allow_tf32(bool enabled) override { cuda::set_allow_tf32(enabled); }
  bool allow_tf32() override { return cuda::allow_tf32(); }
  std::shared_ptr<void> allocate(size_t bytes, int device) override { return cuda::allocate(bytes, device); }
  std::shared_ptr<void> allocate_pinned(size_t bytes) override { return cuda::allocate_pinned(bytes); }
  void copy(void* dst, int dst_device, const void* src, int src_device, size_t bytes) override {
    cuda::copy(dst, dst_device, src, src_device, bytes);
  }
  void fill(int device, float* p, int64_t n, float value) override { cuda::fill(device, p, n, value); }
  std::shared_ptr<void> create_stream(int device) override { return cuda::create_stream(device); }
  void synchronize(int device) override { cuda::synchronize(device); }
};

}  // namespace fastann::cuda

// The CPU backend of the runtime interface: host memory (64-byte aligned), memcpy, one device, no streams.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fastann/error.hpp"
#include "runtime/backend.hpp"
#include "runtime/plugins.hpp"

namespace fastann::runtime {

namespace {

constexpr size_t kAlign = 64;  // a cache line; every SIMD load width

class CpuBackend final : public Backend {
 public:
  DeviceType type() const override { return DeviceType::CPU; }
  int device_count() override { return 1; }
  std::string device_name(int device) override {
    require_device(device);
    return "cpu";
  }
  void require_device(int device) override {
    if (device != 0 && device != -1) {
      throw UnavailableError("CPU device " + std::to_string(device) + " does not exist: the CPU is device 0");
    }
  }
  void mem_info(int /*device*/, size_t* free_bytes, size_t* total_bytes) override {
    *free_bytes = 0;  // not tracked
    *total_bytes = 0;
  }
  MemoryStats memory_stats(int /*device*/) override { return {}; }
  void empty_cache() override {}

  std::shared_ptr<void> allocate(size_t bytes, int /*device*/) override {
    if (bytes > SIZE_MAX - kAlign) throw out_of_memory(bytes);
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    if (bytes == 0) bytes = kAlign;
    void* p = std::aligned_alloc(kAlign, bytes);
    if (p == nullptr) throw out_of_memory(bytes);
    return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
  }
  std::shared_ptr<void> allocate_pinned(size_t bytes) override { return allocate(bytes, 0); }
  void copy(void* dst, int, const void* src, int, size_t bytes) override {
    if (bytes != 0 && dst != src) std::memmove(dst, src, bytes);
  }
  void fill(int, float* p, int64_t n, float value) override {
    for (int64_t i = 0; i < n; ++i) p[i] = value;
  }

  std::shared_ptr<void> create_stream(int /*device*/) override { return nullptr; }  // work runs on the caller
  void synchronize(int /*device*/) override {}

 private:
  static OutOfMemoryError out_of_memory(size_t bytes) {
    return OutOfMemoryError("out of memory: cannot allocate " + std::to_string(bytes) + " bytes");
  }
};

}  // namespace

Backend& cpu_backend() {
  static CpuBackend* b = new CpuBackend();  // never destroyed: buffers freed during static destruction are fine
  return *b;
}

}  // namespace fastann::runtime

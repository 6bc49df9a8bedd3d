// The caching device allocator: the policy of caching_pool.hpp (rounding, best fit, per-stream free lists and their
// safety argument) over cudaMalloc for device memory and cudaMallocHost for the pinned host pool.
#include <cuda_runtime_api.h>

#include <string>

#include "backends/cuda/backend.hpp"
#include "backends/cuda/caching_pool.hpp"
#include "backends/cuda/internal.hpp"

namespace fastann::cuda {

namespace {

// CachingPool's Raw: the CUDA runtime.
struct CudaMemory {
  void* allocate(int device, size_t size, int64_t /*reserved_bytes*/) {
    void* p = nullptr;
    cudaError_t err;
    if (device == kPinnedPool) {
      err = cudaMallocHost(&p, size);
    } else {
      DeviceGuard g(device);
      err = cudaMalloc(&p, size);
    }
    if (err == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();  // not sticky: clear it so later calls work (the pool retries, or reports it)
      return nullptr;
    }
    FASTANN_CUDA_CHECK(err);
    return p;
  }

  // Work still queued that used the blocks was queued before their release, on whatever stream: synchronise the
  // whole device first. Errors of the frees are ignored: the blocks are gone from the cache either way.
  template <typename ForEach>
  void free(int device, ForEach&& for_each_block) {
    if (device == kPinnedPool) {
      (void)cudaDeviceSynchronize();
      for_each_block([](void* p) { (void)cudaFreeHost(p); });
    } else {
      DeviceGuard g(device);
      (void)cudaDeviceSynchronize();
      for_each_block([](void* p) { (void)cudaFree(p); });
    }
  }

  std::string out_of_memory_note(int /*device*/) { return {}; }
};

using Allocator = CachingPool<CudaMemory>;

// Never destroyed: tensors freed during static destruction (after the CUDA runtime may be gone) still find it;
// the driver reclaims the memory at exit.
Allocator& allocator() {
  static Allocator* a = new Allocator();
  return *a;
}

}  // namespace

std::shared_ptr<void> allocate(size_t bytes, int device) {
  require_device(device);
  void* p = allocator().allocate(bytes, device, stream());
  return std::shared_ptr<void>(p, [device](void* q) { allocator().release(q, device); });
}

std::shared_ptr<void> allocate_pinned(size_t bytes) {
  require_device(0);
  void* p = allocator().allocate(bytes, kPinnedPool, nullptr);
  return std::shared_ptr<void>(p, [](void* q) { allocator().release(q, kPinnedPool); });
}

void retire_stream(int device, cudaStream_t stream) noexcept { allocator().retire_stream(device, stream); }

MemoryStats memory_stats(int device) { return allocator().stats(device); }

void empty_cache() { allocator().empty_cache(); }

}  // namespace fastann::cuda

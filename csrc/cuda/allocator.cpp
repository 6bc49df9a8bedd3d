// The caching device allocator: freed blocks go back to a per-device cache (best fit by size) instead of cudaFree,
// so the training loop's steady state never calls cudaMalloc. Sizes are rounded up (512 bytes below 1 MiB, 2 MiB
// above) so that buffers of similar size share blocks. A cached block is handed out only when it is at most twice the
// request (no 1 GiB block for 1 KiB). When cudaMalloc fails the cache is emptied and the allocation retried once.
// Safety: all work runs on one stream per device (internal.hpp), so a block freed after a kernel that uses it was
// queued is reused only by work queued later on that stream. Pinned host memory is cached the same way.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "cuda/backend.hpp"
#include "cuda/internal.hpp"

namespace fastann::cuda {

namespace {

constexpr size_t kSmall = size_t{1} << 20;
constexpr int kPinned = -1;  // "device" index of the pinned host pool

size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  const size_t unit = bytes < kSmall ? 512 : (size_t{2} << 20);
  return (bytes + unit - 1) / unit * unit;
}

struct Pool {
  std::multimap<size_t, void*> free_blocks;    // size -> block
  std::unordered_map<void*, size_t> live;      // block -> size
  MemoryStats stats;
};

class Allocator {
 public:
  void* allocate(size_t bytes, int device) {
    const size_t size = round_size(bytes);
    std::lock_guard<std::mutex> lock(mu_);
    Pool& pool = pools_[device];
    auto it = pool.free_blocks.lower_bound(size);
    void* p = nullptr;
    size_t got = size;
    if (it != pool.free_blocks.end() && it->first <= 2 * size) {
      p = it->second;
      got = it->first;
      pool.free_blocks.erase(it);
      ++pool.stats.cache_hits;
    } else {
      cudaError_t err = raw_alloc(&p, size, device);
      if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        release_cached(device);
        err = raw_alloc(&p, size, device);
      }
      if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        std::ostringstream os;
        os << "out of " << (device == kPinned ? "pinned host" : "GPU") << " memory: cannot allocate " << size
           << " bytes (" << static_cast<double>(size) / (1u << 30) << " GiB); " << pool.stats.allocated_bytes
           << " bytes are in use by fastann on this device";
        throw OutOfMemoryError(os.str());
      }
      FASTANN_CUDA_CHECK(err);
      ++pool.stats.device_allocs;
      pool.stats.reserved_bytes += static_cast<int64_t>(size);
    }
    pool.live.emplace(p, got);
    pool.stats.allocated_bytes += static_cast<int64_t>(got);
    pool.stats.peak_allocated_bytes = std::max(pool.stats.peak_allocated_bytes, pool.stats.allocated_bytes);
    return p;
  }

  void release(void* p, int device) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    Pool& pool = pools_[device];
    auto it = pool.live.find(p);
    if (it == pool.live.end()) return;  // not ours: cannot happen
    pool.stats.allocated_bytes -= static_cast<int64_t>(it->second);
    pool.free_blocks.emplace(it->second, p);
    pool.live.erase(it);
  }

  MemoryStats stats(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pools_.find(device);
    return it == pools_.end() ? MemoryStats{} : it->second.stats;
  }

  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : pools_) release_cached(kv.first);
  }

 private:
  static cudaError_t raw_alloc(void** p, size_t size, int device) {
    if (device == kPinned) return cudaMallocHost(p, size);
    DeviceGuard g(device);
    return cudaMalloc(p, size);
  }

  // Frees the device's cached blocks (mu_ held). Work still queued that used them was queued before their release,
  // so synchronise first.
  void release_cached(int device) {
    Pool& pool = pools_[device];
    if (pool.free_blocks.empty()) return;
    if (device == kPinned) {
      (void)cudaDeviceSynchronize();
      for (auto& kv : pool.free_blocks) (void)cudaFreeHost(kv.second);
    } else {
      DeviceGuard g(device);
      (void)cudaDeviceSynchronize();
      for (auto& kv : pool.free_blocks) (void)cudaFree(kv.second);
    }
    for (auto& kv : pool.free_blocks) pool.stats.reserved_bytes -= static_cast<int64_t>(kv.first);
    pool.free_blocks.clear();
  }

  std::mutex mu_;
  std::map<int, Pool> pools_;
};

// Never destroyed: tensors freed during static destruction (after the CUDA runtime may be gone) still find it;
// the driver reclaims the memory at exit.
Allocator& allocator() {
  static Allocator* a = new Allocator();
  return *a;
}

}  // namespace

std::shared_ptr<void> allocate(size_t bytes, int device) {
  require_device(device);
  void* p = allocator().allocate(bytes, device);
  return std::shared_ptr<void>(p, [device](void* q) { allocator().release(q, device); });
}

std::shared_ptr<void> allocate_pinned(size_t bytes) {
  require_device(0);
  void* p = allocator().allocate(bytes, kPinned);
  return std::shared_ptr<void>(p, [](void* q) { allocator().release(q, kPinned); });
}

void retire_stream(int /*device*/, cudaStream_t /*stream*/) noexcept {}

MemoryStats memory_stats(int device) { return allocator().stats(device); }

void empty_cache() { allocator().empty_cache(); }

}  // namespace fastann::cuda

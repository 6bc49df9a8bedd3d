// The caching device allocator: freed blocks go back to a per-device cache (best fit by size) instead of cudaFree,
// so the training loop's steady state never calls cudaMalloc. Sizes are rounded up (512 bytes below 1 MiB, 2 MiB
// above) so that buffers of similar size share blocks. A cached block is handed out only when it is at most twice the
// request (no 1 GiB block for 1 KiB). When cudaMalloc fails the cache is emptied and the allocation retried once.
//
// Streams. Each model queues its work on a stream of its own (internal.hpp: stream()), so a device's cache is split
// by stream: a block is tagged with the stream that was current when it was allocated, returns to that stream's free
// list when its last owner drops it, and an allocation is served only from the current stream's free list.
// Safety argument:
//  * The freeing host thread drops a block after queueing the block's last use. That use was queued on the block's
//    stream (tensors are used by the work of the model that allocated them), and the next user of a cached block is
//    work queued later on the same stream, which the stream orders after that use. Handing the block to another
//    stream instead could overwrite it while the kernel that reads it is still queued there; hence no sharing.
//  * The legacy default stream (null) is the exception that makes the fallback safe: streams come from
//    create_stream, which makes blocking streams, and work on the legacy default stream waits for all previously
//    queued work of every blocking stream of the device (and they wait for it). So a block used on any stream and
//    later freed to the null list is only reused by null-stream work ordered after that use.
//  * retire_stream runs after the dying stream was synchronised, so nothing queued on it is pending: its free blocks
//    move to the null list, and its live blocks are re-tagged to null (freed later, they go to the null list, which
//    is safe by the previous point whatever stream used them). This also means no list outlives its stream handle,
//    which the driver may reuse for a new stream.
//  * Blocks are only returned to the driver (release_cached, empty_cache) after a device-wide synchronisation.
// A block used by work on a stream other than its own (passed between models running concurrently) is not covered:
// the caller must order that work with the block's stream before dropping the block.
// Pinned host memory is cached the same way in one pool without streams: its users copy synchronously.
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

using FreeList = std::multimap<size_t, void*>;  // size -> block

struct Block {
  size_t size = 0;
  cudaStream_t stream = nullptr;  // the stream whose free list it returns to
};

struct Pool {
  std::map<cudaStream_t, FreeList> free_blocks;  // per stream (null: the legacy default stream)
  std::unordered_map<void*, Block> live;
  MemoryStats stats;
};

class Allocator {
 public:
  void* allocate(size_t bytes, int device) {
    const size_t size = round_size(bytes);
    // The pinned pool is not split by stream (its users copy synchronously).
    const cudaStream_t s = device == kPinned ? nullptr : stream();
    std::lock_guard<std::mutex> lock(mu_);
    Pool& pool = pools_[device];
    void* p = nullptr;
    size_t got = size;
    auto list = pool.free_blocks.find(s);
    FreeList::iterator it;
    if (list != pool.free_blocks.end() && (it = list->second.lower_bound(size)) != list->second.end() &&
        it->first <= 2 * size) {
      p = it->second;
      got = it->first;
      list->second.erase(it);
      ++pool.stats.cache_hits;
    } else {
      cudaError_t err = raw_alloc(&p, size, device);
      if (err == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        release_cached(device);  // every stream's cached blocks
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
    pool.live.emplace(p, Block{got, s});
    pool.stats.allocated_bytes += static_cast<int64_t>(got);
    pool.stats.peak_allocated_bytes = std::max(pool.stats.peak_allocated_bytes, pool.stats.allocated_bytes);
    return p;
  }

  void release(void* p, int device) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    Pool& pool = pools_[device];
    auto it = pool.live.find(p);
    if (it == pool.live.end()) return;  // not ours: cannot happen
    pool.stats.allocated_bytes -= static_cast<int64_t>(it->second.size);
    // To the free list of the stream it was allocated for (or null after that stream was retired), whatever
    // stream is current now: see the safety argument at the top.
    pool.free_blocks[it->second.stream].emplace(it->second.size, p);
    pool.live.erase(it);
  }

  // The stream's work has finished (its handle synchronised it): its free blocks join the null list and its live
  // blocks will return there. Splices map nodes (no allocation), so it cannot throw.
  void retire_stream(int device, cudaStream_t s) noexcept {
    if (s == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto pit = pools_.find(device);
    if (pit == pools_.end()) return;
    Pool& pool = pit->second;
    auto from = pool.free_blocks.find(s);
    if (from != pool.free_blocks.end()) {
      auto to = pool.free_blocks.find(nullptr);
      if (to == pool.free_blocks.end()) {
        auto node = pool.free_blocks.extract(from);  // re-key the whole list
        node.key() = nullptr;
        pool.free_blocks.insert(std::move(node));
      } else {
        to->second.merge(from->second);  // a multimap takes every node
        pool.free_blocks.erase(from);
      }
    }
    for (auto& kv : pool.live) {
      if (kv.second.stream == s) kv.second.stream = nullptr;
    }
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

  // Frees the device's cached blocks of every stream (mu_ held). Work still queued that used them was queued
  // before their release, on whatever stream, so synchronise the whole device first.
  void release_cached(int device) {
    Pool& pool = pools_[device];
    bool any = false;
    for (auto& kv : pool.free_blocks) any = any || !kv.second.empty();
    if (!any) {
      pool.free_blocks.clear();
      return;
    }
    auto free_all = [&pool](cudaError_t (*free_fn)(void*)) {
      (void)cudaDeviceSynchronize();
      for (auto& kv : pool.free_blocks) {
        for (auto& blk : kv.second) {
          (void)free_fn(blk.second);
          pool.stats.reserved_bytes -= static_cast<int64_t>(blk.first);
        }
      }
    };
    if (device == kPinned) {
      free_all(&cudaFreeHost);
    } else {
      DeviceGuard g(device);
      free_all(&cudaFree);
    }
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

void retire_stream(int device, cudaStream_t stream) noexcept { allocator().retire_stream(device, stream); }

MemoryStats memory_stats(int device) { return allocator().stats(device); }

void empty_cache() { allocator().empty_cache(); }

}  // namespace fastann::cuda

// The caching policy of the CUDA backend's memory allocator, written once for its two users: the real backend
// (allocator.cpp: cudaMalloc, cudaMallocHost) and the test-only host emulator (tests/emulator/emulator.cpp: host
// memory), so that tests run on the emulator exercise the policy the GPU runs. Plain C++ without CUDA headers: the
// emulator build has no CUDA toolkit. How raw memory is obtained and returned is the template parameter Raw (below);
// everything else is here.
//
// Policy. Freed blocks go back to a per-device cache (best fit by size) instead of to the driver, so the training
// loop's steady state never calls cudaMalloc. Sizes are rounded up (512 bytes below 1 MiB, 2 MiB above) so that
// buffers of similar size share blocks. A cached block is handed out only when it is at most twice the request (no
// 1 GiB block for 1 KiB). When the raw allocation fails the device's cache is released and the allocation retried
// once. Pinned host memory is cached the same way, in one pool (device kPinnedPool) without streams: its users copy
// synchronously.
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
//    which the driver (or the emulator's heap) may reuse for a new stream.
//  * Blocks are only returned to the driver after everything queued on the device has finished (Raw::free
//    synchronises the device first): the work that used them may have been queued on any stream.
// A block used by work on a stream other than its own (passed between models running concurrently) is not covered:
// the caller must order that work with the block's stream before dropping the block.
//
// Raw, the memory source (called with the pool's mutex held, so it must not call back into the pool):
//   void* allocate(int device, size_t size, int64_t reserved_bytes);
//       `size` bytes (a rounded size, never 0) of `device` (kPinnedPool: pinned host memory), 256-byte aligned; null
//       when out of memory (the pool then releases its cache and retries once), an exception for other failures.
//       reserved_bytes: what the pool already holds from this source for the device (the emulator's size limit).
//   template <typename ForEach> void free(int device, ForEach&& for_each_block);
//       Returns cached blocks: for_each_block(free_one) calls free_one(void* p) for every block, and free_one must
//       not throw. Done once per release so that what must precede the frees (waiting for the device's queued work,
//       making it current) is paid once. Called only when there is at least one block.
//   std::string out_of_memory_note(int device);  // appended to the OutOfMemoryError message ("" for none)
//
// LiveMap holds the live blocks by address: std::unordered_map for the cheapest allocate/release (the real
// allocator), std::map where containing-block lookups are needed (find_live: the emulator's pointer checks).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <unordered_map>
#include <utility>

#include "backends/cuda/backend.hpp"
#include "fastann/error.hpp"

namespace fastann::cuda {

// "Device" index of the pinned host pool.
constexpr int kPinnedPool = -1;

// The block size serving a request of `bytes` bytes.
constexpr size_t round_block_size(size_t bytes) noexcept {
  constexpr size_t kSmall = size_t{1} << 20;
  if (bytes == 0) bytes = 1;
  const size_t unit = bytes < kSmall ? 512 : (size_t{2} << 20);
  return (bytes + unit - 1) / unit * unit;
}

template <typename Raw, template <typename...> class LiveMap = std::unordered_map>
class CachingPool {
 public:
  explicit CachingPool(Raw raw = Raw()) : raw_(std::move(raw)) {}
  CachingPool(const CachingPool&) = delete;
  CachingPool& operator=(const CachingPool&) = delete;

  // A block of at least `bytes` bytes of `device` for work queued on `stream` (an opaque cudaStream_t; null: the
  // legacy default stream; ignored for kPinnedPool). Throws OutOfMemoryError when even an empty cache does not help.
  void* allocate(size_t bytes, int device, void* stream) {
    const size_t size = round_block_size(bytes);
    if (device == kPinnedPool) stream = nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    Pool& pool = pools_[device];
    void* p = nullptr;
    size_t got = size;
    auto list = pool.free_blocks.find(stream);
    typename FreeList::iterator it;
    if (list != pool.free_blocks.end() && (it = list->second.lower_bound(size)) != list->second.end() &&
        it->first <= 2 * size) {
      p = it->second;
      got = it->first;
      list->second.erase(it);
      ++pool.stats.cache_hits;
    } else {
      p = raw_.allocate(device, size, pool.stats.reserved_bytes);
      if (p == nullptr) {
        release_cached(device, pool);  // every stream's cached blocks
        p = raw_.allocate(device, size, pool.stats.reserved_bytes);
      }
      if (p == nullptr) {
        std::ostringstream os;
        os << "out of " << (device == kPinnedPool ? "pinned host" : "GPU") << " memory: cannot allocate " << size
           << " bytes (" << static_cast<double>(size) / (1u << 30) << " GiB); " << pool.stats.allocated_bytes
           << " bytes are in use by fastann on this device" << raw_.out_of_memory_note(device);
        throw OutOfMemoryError(os.str());
      }
      ++pool.stats.device_allocs;
      pool.stats.reserved_bytes += static_cast<int64_t>(size);
    }
    pool.live.emplace(p, Block{got, bytes, stream});
    pool.stats.allocated_bytes += static_cast<int64_t>(got);
    pool.stats.peak_allocated_bytes = std::max(pool.stats.peak_allocated_bytes, pool.stats.allocated_bytes);
    return p;
  }

  // Returns a block from allocate to its stream's free list (the stream it was allocated for, or null after that
  // stream was retired), whatever stream is current now: see the safety argument at the top.
  void release(void* p, int device) noexcept {
    std::lock_guard<std::mutex> lock(mu_);
    Pool& pool = pools_[device];
    auto it = pool.live.find(p);
    if (it == pool.live.end()) return;  // not ours: cannot happen
    pool.stats.allocated_bytes -= static_cast<int64_t>(it->second.size);
    pool.free_blocks[it->second.stream].emplace(it->second.size, p);
    pool.live.erase(it);
  }

  // The stream's work has finished (its handle synchronised it): its free blocks join the null list and its live
  // blocks will return there. Splices map nodes (no allocation), so it cannot throw.
  void retire_stream(int device, void* stream) noexcept {
    if (stream == nullptr) return;
    std::lock_guard<std::mutex> lock(mu_);
    auto pit = pools_.find(device);
    if (pit == pools_.end()) return;
    Pool& pool = pit->second;
    auto from = pool.free_blocks.find(stream);
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
      if (kv.second.stream == stream) kv.second.stream = nullptr;
    }
  }

  MemoryStats stats(int device) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = pools_.find(device);
    return it == pools_.end() ? MemoryStats{} : it->second.stats;
  }

  // Returns every device's cached blocks (of every stream) to the raw source.
  void empty_cache() {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& kv : pools_) release_cached(kv.first, kv.second);
  }

  // The live block of `device` containing p, one past its requested end included (an empty view at the end):
  // true and its start and requested size, else false. Needs an ordered LiveMap (std::map).
  bool find_live(int device, const void* p, void** begin, size_t* requested) {
    std::lock_guard<std::mutex> lock(mu_);
    auto pit = pools_.find(device);
    if (pit == pools_.end()) return false;
    const auto& live = pit->second.live;
    auto it = live.upper_bound(const_cast<void*>(p));
    if (it == live.begin()) return false;
    --it;
    const auto start = reinterpret_cast<uintptr_t>(it->first), at = reinterpret_cast<uintptr_t>(p);
    if (at - start > it->second.requested) return false;
    *begin = it->first;
    *requested = it->second.requested;
    return true;
  }

 private:
  using FreeList = std::multimap<size_t, void*>;  // size -> block

  struct Block {
    size_t size = 0;         // block size (rounded)
    size_t requested = 0;    // what the live owner asked for (the extent the emulator lets kernels touch)
    void* stream = nullptr;  // the stream whose free list it returns to
  };

  struct Pool {
    std::map<void*, FreeList> free_blocks;  // per stream (null: the legacy default stream)
    LiveMap<void*, Block> live;
    MemoryStats stats;
  };

  // Returns the pool's cached blocks of every stream (mu_ held).
  void release_cached(int device, Pool& pool) {
    bool any = false;
    for (auto& kv : pool.free_blocks) any = any || !kv.second.empty();
    if (any) {
      raw_.free(device, [&pool](auto&& free_one) {
        for (auto& kv : pool.free_blocks) {
          for (auto& blk : kv.second) {
            free_one(blk.second);
            pool.stats.reserved_bytes -= static_cast<int64_t>(blk.first);
          }
        }
      });
    }
    pool.free_blocks.clear();
  }

  Raw raw_;
  std::mutex mu_;
  std::map<int, Pool> pools_;
};

}  // namespace fastann::cuda

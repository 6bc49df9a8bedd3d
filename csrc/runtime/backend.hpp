// The one device interface core/, ops/, nn/ and the bindings use: an abstract Backend per device type (memory,
// copies, streams, synchronisation, queries), the registry that finds it, and the thread's current stream.
// Backends (csrc/backends/cpu, the CUDA backend in csrc/backends/cuda, the test-only emulator in tests/emulator)
// implement Backend; nothing here names CUDA.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "fastann/tensor.hpp"

namespace fastann::runtime {

// The caching allocator's counters of one device (all 0 for a backend without a cache).
struct MemoryStats {
  int64_t allocated_bytes = 0;  // in live blocks (block sizes, rounded up)
  int64_t reserved_bytes = 0;   // obtained from the device, live or cached
  int64_t peak_allocated_bytes = 0;
  int64_t device_allocs = 0;  // device allocations that succeeded
  int64_t cache_hits = 0;     // allocations served from the cache
};

// One device type's implementation. `device` is the device index (0 .. device_count()); a pointer's device in copy()
// is -1 for host memory. Every call taking `device` checks it (UnavailableError naming the problem). Work is
// queued on current_stream() and ordered with it; calls returning host data (copies to the host) synchronise.
class Backend {
 public:
  virtual ~Backend() = default;

  virtual DeviceType type() const = 0;

  // --- queries (never throw for a missing driver: that is "0 devices") ---
  virtual int device_count() = 0;
  virtual std::string device_name(int device) = 0;
  // Throws UnavailableError naming the problem when `device` cannot be used (no driver, out of range).
  virtual void require_device(int device) = 0;
  // Free and total memory of `device` in bytes.
  virtual void mem_info(int device, size_t* free_bytes, size_t* total_bytes) = 0;
  virtual MemoryStats memory_stats(int device) = 0;
  virtual void empty_cache() = 0;  // returns every cached (unused) block to the device
  // TF32 tensor cores for float32 GEMMs (off by default); a no-op where there are none.
  virtual void set_allow_tf32(bool /*enabled*/) {}
  virtual bool allow_tf32() { return false; }

  // --- memory ---
  // At least `bytes` bytes on `device` (aligned for any element type), released when the last owner drops it.
  // OutOfMemoryError when the device has no room.
  virtual std::shared_ptr<void> allocate(size_t bytes, int device) = 0;
  // Host memory for staging transfers to this backend's devices (page-locked where that matters).
  virtual std::shared_ptr<void> allocate_pinned(size_t bytes) = 0;
  // Copies `bytes` bytes; synchronous with respect to the host.
  virtual void copy(void* dst, int dst_device, const void* src, int src_device, size_t bytes) = 0;
  // p[0 .. n) = value (float32 elements on `device`).
  virtual void fill(int device, float* p, int64_t n, float value) = 0;

  // --- streams ---
  // A new stream on `device`. The handle owns it: when the last copy is dropped the stream's queued work is waited
  // for, its cached memory returns to the device's default pool, and the stream is destroyed.
  virtual std::shared_ptr<void> create_stream(int device) = 0;
  // Waits for the work queued on current_stream() of `device`.
  virtual void synchronize(int device) = 0;
};

// --- the registry: one backend per device type, filled once on first use ---
// The backend of a device type, or null when this build has none (e.g. CUDA without the CUDA backend).
Backend* find_backend(DeviceType type);
// The backend of a device type; UnavailableError when this build has none.
Backend& backend(DeviceType type);
// The backend of `device` (the index is not checked here: the backend's calls do). UnavailableError naming the
// device when this build has no backend for its type.
Backend& backend(Device device);
inline bool has_backend(DeviceType type) { return find_backend(type) != nullptr; }
// The number of devices of a type: 0 when the build has no backend for it, no driver or no device (never throws).
int device_count(DeviceType type);

// --- streams: which stream this thread's backend calls queue their work on ---
// For its lifetime, makes `stream` (a create_stream handle; null: the device's default stream) the one this
// thread's backend calls queue their work on and allocate memory for. Scopes nest; the previous stream is restored.
class StreamScope {
 public:
  explicit StreamScope(const std::shared_ptr<void>& stream);
  ~StreamScope();
  StreamScope(const StreamScope&) = delete;
  StreamScope& operator=(const StreamScope&) = delete;

 private:
  void* prev_ = nullptr;
};
// The stream set by the innermost StreamScope of this thread (null: the default stream), as the backend's opaque
// handle (a cudaStream_t for CUDA).
void* current_stream();

}  // namespace fastann::runtime

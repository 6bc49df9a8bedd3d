// The CPU backend of the runtime interface: host memory (64-byte aligned), memcpy, one device, no streams.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fastann/error.hpp"
#include "runtime/backend.hpp"
#include "runtime/plugins.hpp"

namespace fastann::runtime {

namespace {

constexpr size_t kAlign = 64;  // a cache line; every SIMD load width

// Allocations from this size on are checked against the memory available first (reading it costs some
// microseconds, nothing next to touching this much memory).
constexpr size_t kCheckedAllocation = size_t{64} << 20;

// The value of `key` (in kB) in a /proc/meminfo-style file, in bytes; -1 when absent.
int64_t kb_field(const std::string& path, const std::string& key) {
  std::ifstream in(path);
  std::string k;
  int64_t v = 0;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    if (ls >> k >> v && k == key) return v * 1024;
  }
  return -1;
}

// The first number in a file (a cgroup limit or usage); -1 when unreadable or "max".
int64_t number_in(const std::string& path) {
  std::ifstream in(path);
  int64_t v = -1;
  if (!(in >> v)) return -1;
  return v;
}

// The memory this process may still use in its cgroup (limit - usage, page cache that can be dropped counted as
// free), or -1 without a limit. cgroup v2 and v1; the process's own cgroup path, else the mount root (a container
// that sees only its own cgroup).
int64_t cgroup_headroom() {
  std::ifstream cg("/proc/self/cgroup");
  std::string line, v2_path, v1_path;
  while (std::getline(cg, line)) {
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (line.compare(0, a, "0") == 0 && controllers.empty()) v2_path = path;
    if (controllers == "memory" || controllers.find("memory,") == 0 ||
        controllers.find(",memory") != std::string::npos) {
      v1_path = path;
    }
  }
  struct Files {
    std::string dir, limit, usage, inactive;
  };
  std::vector<Files> candidates;
  for (const std::string& dir : {"/sys/fs/cgroup/memory" + v1_path, std::string("/sys/fs/cgroup/memory")}) {
    candidates.push_back({dir, "/memory.limit_in_bytes", "/memory.usage_in_bytes", "total_inactive_file"});
  }
  for (const std::string& dir : {"/sys/fs/cgroup" + v2_path, std::string("/sys/fs/cgroup")}) {
    candidates.push_back({dir, "/memory.max", "/memory.current", "inactive_file"});
  }
  for (const Files& f : candidates) {
    const int64_t limit = number_in(f.dir + f.limit), usage = number_in(f.dir + f.usage);
    if (limit < 0 || usage < 0) continue;
    if (limit >= (int64_t{1} << 60)) return -1;  // v1 writes "no limit" as a huge number
    std::ifstream stat(f.dir + "/memory.stat");
    std::string key;
    int64_t value = 0, inactive = 0;
    while (stat >> key >> value) {
      if (key == f.inactive) inactive = value;
    }
    return std::max<int64_t>(0, limit - std::max<int64_t>(0, usage - inactive));
  }
  return -1;
}

// Free and total host memory in bytes: what can be allocated and touched without the kernel's OOM killer (memory
// not in use, reclaimable caches and free swap; within the process's cgroup limit), and the machine's memory.
void host_memory(size_t* free_bytes, size_t* total_bytes) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  int64_t total = pages > 0 && page > 0 ? static_cast<int64_t>(pages) * page : 0;
  int64_t avail = kb_field("/proc/meminfo", "MemAvailable:");
  if (avail >= 0) {
    const int64_t swap = kb_field("/proc/meminfo", "SwapFree:");
    avail += std::max<int64_t>(swap, 0);
  } else {
    // No estimate of reclaimable memory: only what can never fit is refused (nothing, when even that is unknown).
    avail = total > 0 ? total : INT64_MAX;
  }
  const int64_t headroom = cgroup_headroom();
  if (headroom >= 0) avail = std::min(avail, headroom);
  *free_bytes = static_cast<size_t>(std::max<int64_t>(avail, 0));
  *total_bytes = static_cast<size_t>(total);
}

std::string gib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1u << 30));
  return buf;
}

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
    host_memory(free_bytes, total_bytes);
  }
  MemoryStats memory_stats(int /*device*/) override { return {}; }
  void empty_cache() override {}

  std::shared_ptr<void> allocate(size_t bytes, int /*device*/) override {
    if (bytes > SIZE_MAX - kAlign) throw out_of_memory(bytes);
    bytes = (bytes + kAlign - 1) / kAlign * kAlign;
    if (bytes == 0) bytes = kAlign;
    if (bytes >= kCheckedAllocation) {
      // With overcommit, a block larger than the memory left is granted, and the first touch (the zero-fill, the
      // initializer) brings the OOM killer: refuse it here instead, while the caller can still report it.
      size_t free_bytes = 0, total_bytes = 0;
      host_memory(&free_bytes, &total_bytes);
      if (bytes > free_bytes) {
        throw OutOfMemoryError("out of memory: cannot allocate " + std::to_string(bytes) + " bytes (" + gib(bytes) +
                               "): only " + gib(free_bytes) + " of memory are available");
      }
    }
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

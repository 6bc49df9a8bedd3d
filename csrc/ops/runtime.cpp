// Library-wide runtime settings: the public API's (version, thread count, input checks, the dataset memory limit) and
// the CPU kernels' instruction set (ops/runtime.hpp).
#include "ops/runtime.hpp"

#include <atomic>

#include "backends/cpu/dispatch.hpp"
#include "backends/cpu/threadpool.hpp"
#include "core/check.hpp"
#include "fastann/model.hpp"
#include "fastann/version.hpp"

namespace fastann {

const char* version() { return FASTANN_VERSION_STRING; }

void set_num_threads(int n) {
  FASTANN_CHECK_ARG(n >= 1, "set_num_threads: the number of threads must be >= 1, got " << n);
  cpu::set_num_threads(n);
}

int get_num_threads() { return cpu::get_num_threads(); }

namespace {
std::atomic<bool> g_check_finite{true};
std::atomic<int64_t> g_dataset_limit{-1};
}  // namespace

void set_dataset_memory_limit(int64_t bytes) {
  FASTANN_CHECK_ARG(bytes >= -1, "set_dataset_memory_limit: bytes must be >= 0 (or -1: automatic), got " << bytes);
  g_dataset_limit.store(bytes, std::memory_order_relaxed);
}
int64_t dataset_memory_limit() { return g_dataset_limit.load(std::memory_order_relaxed); }

void set_check_finite(bool enabled) { g_check_finite.store(enabled, std::memory_order_relaxed); }
bool get_check_finite() { return g_check_finite.load(std::memory_order_relaxed); }

namespace ops {

std::string cpu_isa() { return cpu::isa_name(cpu::active_isa()); }
void set_cpu_isa(const std::string& name) { cpu::set_isa(cpu::isa_from_name(name)); }
bool cpu_isa_supported(const std::string& name) { return cpu::isa_supported(cpu::isa_from_name(name)); }

}  // namespace ops

}  // namespace fastann

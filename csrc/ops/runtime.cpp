// Library-wide runtime settings of the public API: version, thread count, input checks.
#include <atomic>

#include "cpu/threadpool.hpp"
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
}  // namespace

void set_check_finite(bool enabled) { g_check_finite.store(enabled, std::memory_order_relaxed); }
bool get_check_finite() { return g_check_finite.load(std::memory_order_relaxed); }

}  // namespace fastann

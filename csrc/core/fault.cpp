// Allocation-failure injection (see fault.hpp).
#include "core/fault.hpp"

#include <atomic>
#include <string>

#include "fastann/error.hpp"

namespace fastann::fault {

namespace {
std::atomic<int64_t> g_countdown{-1};  // allocations left before the armed failure; -1: unarmed
}  // namespace

void fail_allocation_after(int64_t n) { g_countdown.store(n < 0 ? -1 : n, std::memory_order_relaxed); }

bool allocation_failure_pending() { return g_countdown.load(std::memory_order_relaxed) >= 0; }

void on_allocation(const char* what) {
  if (g_countdown.load(std::memory_order_relaxed) < 0) return;
  if (g_countdown.fetch_sub(1, std::memory_order_relaxed) == 0) {
    throw OutOfMemoryError(std::string("out of memory (an injected allocation failure: ") + what + ")");
  }
}

}  // namespace fastann::fault

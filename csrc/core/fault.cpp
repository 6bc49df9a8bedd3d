// Allocation- and thread-creation-failure injection (see fault.hpp).
#include "core/fault.hpp"

#include <atomic>
#include <string>
#include <system_error>

#include "fastann/error.hpp"

namespace fastann::fault {

namespace {
std::atomic<int64_t> g_countdown{-1};         // allocations left before the armed failure; -1: unarmed
std::atomic<int64_t> g_thread_countdown{-1};  // thread starts left before the armed failure; -1: unarmed

// Whether this event is the armed failure of `countdown` (which is then disarmed).
bool fires(std::atomic<int64_t>& countdown) {
  if (countdown.load(std::memory_order_relaxed) < 0) return false;
  return countdown.fetch_sub(1, std::memory_order_relaxed) == 0;
}
}  // namespace

void fail_allocation_after(int64_t n) { g_countdown.store(n < 0 ? -1 : n, std::memory_order_relaxed); }

bool allocation_failure_pending() { return g_countdown.load(std::memory_order_relaxed) >= 0; }

void on_allocation(const char* what) {
  if (fires(g_countdown)) {
    throw OutOfMemoryError(std::string("out of memory (an injected allocation failure: ") + what + ")");
  }
}

void fail_thread_creation_after(int64_t n) { g_thread_countdown.store(n < 0 ? -1 : n, std::memory_order_relaxed); }

void on_thread_creation() {
  if (fires(g_thread_countdown)) {
    throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again),
                            "an injected thread-creation failure");
  }
}

}  // namespace fastann::fault

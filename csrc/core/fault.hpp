// Allocation- and thread-creation-failure injection, for the tests of the strong guarantee
// (tests/python/reliability/test_integrity.py): as SQLite tests its out-of-memory paths, a test arms the hook to fail
// the Nth tensor allocation from now, runs a call, and checks that a call which failed left the model as it was, for
// every N until the call succeeds.
//
// The hook costs one relaxed atomic load per tensor allocation while unarmed (always, in every build: it is how the
// shipped library is tested).
#pragma once

#include <cstdint>

#include "fastann/export.hpp"

namespace fastann::fault {

// n >= 0: the next n tensor allocations succeed and the one after fails with OutOfMemoryError (once; the hook is
// then disarmed). n < 0: disarms it.
FASTANN_API void fail_allocation_after(int64_t n);
// Whether an armed failure has not happened yet.
FASTANN_API bool allocation_failure_pending();
// Called by every tensor allocation (core/tensor.cpp): throws OutOfMemoryError when this is the armed one.
void on_allocation(const char* what);

// Thread-creation failure, likewise: n >= 0: the next n worker threads start and the one after fails as
// std::thread does at the process's thread limit (std::system_error, EAGAIN), once. n < 0: disarms it.
FASTANN_API void fail_thread_creation_after(int64_t n);
// Called before the CPU thread pool starts a worker (backends/cpu/threadpool.cpp).
void on_thread_creation();

}  // namespace fastann::fault

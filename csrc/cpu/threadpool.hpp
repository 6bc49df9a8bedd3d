// Persistent worker pool for the CPU backend. Workers are created once and reused; no thread is created per call.
#pragma once

#include <cstdint>
#include <functional>

namespace fastann::cpu {

// Number of threads parallel_for may use (the calling thread included). Default: the cores this process may run
// on, or FASTANN_NUM_THREADS when set.
int get_num_threads();
void set_num_threads(int n);  // n >= 1, else throws std::invalid_argument

// Runs fn(begin, end) over [0, n) split into at most get_num_threads() contiguous chunks of at least `grain`
// items. Runs inline when one chunk suffices or when called from inside a worker (no nested parallelism).
// Blocks until all chunks are done; an exception thrown by fn is rethrown in the caller.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn);

}  // namespace fastann::cpu

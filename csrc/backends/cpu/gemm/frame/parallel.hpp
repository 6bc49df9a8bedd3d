// Private extension of the thread pool for the GEMM code: parallel_for with more chunks than threads, claimed
// dynamically (load balance when a core is shared with other work). Defined in threadpool.cpp.
#pragma once

#include <cstdint>

#include "backends/cpu/threadpool.hpp"

namespace fastann::cpu::gemm {

// fn(begin, end) over [0, n) cut into min(chunks, n) contiguous near-equal chunks, run by up to get_num_threads()
// threads (inline when nested or when another user thread holds the pool). Exceptions are rethrown in the caller.
void parallel_chunks(int64_t n, int64_t chunks, ChunkFnRef fn);

}  // namespace fastann::cpu::gemm

// Persistent worker pool for the CPU backend. Workers are created once and reused; no thread is created per call.
#pragma once

#include <cstdint>
#include <type_traits>

namespace fastann::cpu {

// A non-owning reference to a callable `void(int64_t begin, int64_t end)`. Unlike std::function it never allocates
// (parallel_for runs in the training loop's steady state); the callable must outlive the call, as it does when a
// lambda is passed directly.
class ChunkFnRef {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, ChunkFnRef>>>
  ChunkFnRef(const F& f)  // NOLINT: implicit, so lambdas pass straight through
      : obj_(&f), call_([](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
  void operator()(int64_t begin, int64_t end) const { call_(obj_, begin, end); }

 private:
  const void* obj_;
  void (*call_)(const void*, int64_t, int64_t);
};

// Number of threads parallel_for may use (the calling thread included). Default: the cores this process may run
// on, or FASTANN_NUM_THREADS when set.
int get_num_threads();
void set_num_threads(int n);  // n >= 1, else throws std::invalid_argument

// Runs fn(begin, end) over [0, n) split into at most get_num_threads() contiguous chunks of at least `grain`
// items. Runs inline when one chunk suffices or when called from inside a worker (no nested parallelism).
// Blocks until all chunks are done; an exception thrown by fn is rethrown in the caller.
void parallel_for(int64_t n, int64_t grain, ChunkFnRef fn);

}  // namespace fastann::cpu

// Persistent worker pool. One job at a time: the caller publishes (fn, n, chunk count) by bumping a generation
// word, runs chunk 0 itself, and waits for the workers' chunks. Workers spin briefly after each job (back-to-back
// calls in a training step hand off in well under a microsecond), then sleep on a condition variable.
// A second user thread calling parallel_for while a job runs gets its work done inline (never blocks on the pool).
// After fork() the child abandons the parent's pool (its threads do not exist there) and builds a fresh one.
#include "threadpool.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define FASTANN_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define FASTANN_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define FASTANN_CPU_RELAX() std::this_thread::yield()
#endif

namespace fastann::cpu {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kWorkerSpin = std::chrono::microseconds(200);  // spin before sleeping, waiting for the next job
constexpr int kChunkBits = 16;                                // low bits of the generation word: chunk count

thread_local bool t_in_parallel = false;  // inside a parallel_for chunk (worker or caller): nest inline

int default_num_threads() {
  if (const char* env = std::getenv("FASTANN_NUM_THREADS")) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end != env && v >= 1) return static_cast<int>(v > 4096 ? 4096 : v);
  }
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc >= 1 ? static_cast<int>(hc) : 1;
}

std::atomic<int> g_num_threads{0};

using ChunkFn = std::function<void(int64_t, int64_t)>;

class Pool {
 public:
  // Serialises callers; parallel_for only try-locks it.
  std::mutex call_mu;

  // Grows the pool to at least `workers` workers. Caller holds call_mu (no job in flight).
  void ensure_workers(int workers) {
    while (static_cast<int>(threads_.size()) < workers) {
      const int index = static_cast<int>(threads_.size()) + 1;  // chunk index this worker runs; 0 is the caller
      const uint64_t seen = gen_.load(std::memory_order_acquire);
      threads_.emplace_back([this, index, seen] { worker_loop(index, seen); });
    }
  }

  // Runs fn over [0, n) in `chunks` chunks (2 <= chunks <= workers + 1). Caller holds call_mu.
  void run(int64_t n, int chunks, const ChunkFn& fn) {
    fn_ = &fn;
    n_ = n;
    error_ = nullptr;
    remaining_.store(chunks - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(mu_);
      seq_ += 1;
      gen_.store((seq_ << kChunkBits) | static_cast<uint64_t>(chunks), std::memory_order_release);
    }
    wake_.notify_all();

    run_chunk(0, chunks);

    // Wait for the workers' chunks: spin (they are usually as quick as we were), then sleep.
    const auto spin_until = Clock::now() + std::chrono::microseconds(50);
    for (int it = 0; remaining_.load(std::memory_order_acquire) != 0; ++it) {
      FASTANN_CPU_RELAX();
      if ((it & 63) == 63 && Clock::now() > spin_until) {
        std::unique_lock<std::mutex> lk(mu_);
        done_.wait(lk, [this] { return remaining_.load(std::memory_order_acquire) == 0; });
        break;
      }
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void run_chunk(int index, int chunks) {
    const int64_t base = n_ / chunks, rem = n_ % chunks;
    const int64_t begin = index * base + (index < rem ? index : rem);
    const int64_t end = begin + base + (index < rem ? 1 : 0);
    const bool outer = t_in_parallel;
    t_in_parallel = true;
    try {
      (*fn_)(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lk(error_mu_);
      if (!error_) error_ = std::current_exception();
    }
    t_in_parallel = outer;
  }

  void worker_loop(int index, uint64_t seen) {
    t_in_parallel = true;
    for (;;) {
      uint64_t g = gen_.load(std::memory_order_acquire);
      if (g == seen) {
        const auto spin_until = Clock::now() + kWorkerSpin;
        for (int it = 0; (g = gen_.load(std::memory_order_acquire)) == seen; ++it) {
          FASTANN_CPU_RELAX();
          if ((it & 63) == 63 && Clock::now() > spin_until) {
            std::unique_lock<std::mutex> lk(mu_);
            wake_.wait(lk, [&] { return gen_.load(std::memory_order_acquire) != seen; });
          }
        }
      }
      seen = g;
      const int chunks = static_cast<int>(g & ((1u << kChunkBits) - 1));
      if (index >= chunks) continue;  // not part of this job: fn_/n_ may already belong to a later one
      run_chunk(index, chunks);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(mu_);  // pairs with the caller's predicate check
        done_.notify_one();
      }
    }
  }

  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t seq_ = 0;
  std::atomic<uint64_t> gen_{0};
  std::atomic<int> remaining_{0};
  const ChunkFn* fn_ = nullptr;
  int64_t n_ = 0;
  std::mutex error_mu_;
  std::exception_ptr error_;
};

// The pool is created on first parallel use and never destroyed (workers may be asleep in it at exit).
std::atomic<Pool*> g_pool{nullptr};
std::mutex g_pool_mu;

void atfork_prepare() { g_pool_mu.lock(); }
void atfork_parent() { g_pool_mu.unlock(); }
void atfork_child() {
  g_pool.store(nullptr, std::memory_order_relaxed);  // the parent's pool (and its workers) is abandoned
  t_in_parallel = false;
  g_pool_mu.unlock();
}

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  std::lock_guard<std::mutex> lk(g_pool_mu);
  static const bool registered = (pthread_atfork(atfork_prepare, atfork_parent, atfork_child), true);
  (void)registered;
  p = g_pool.load(std::memory_order_relaxed);
  if (!p) {
    p = new Pool();
    g_pool.store(p, std::memory_order_release);
  }
  return *p;
}

}  // namespace

int get_num_threads() {
  int n = g_num_threads.load(std::memory_order_relaxed);
  if (n <= 0) {
    static const int init = default_num_threads();
    int expected = 0;
    g_num_threads.compare_exchange_strong(expected, init, std::memory_order_relaxed);
    n = g_num_threads.load(std::memory_order_relaxed);
  }
  return n;
}

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("fastann: set_num_threads needs n >= 1, got " + std::to_string(n));
  g_num_threads.store(n, std::memory_order_relaxed);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t begin, int64_t end)>& fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t by_grain = n / grain;
  int64_t chunks = get_num_threads();
  if (by_grain < chunks) chunks = by_grain;
  if (chunks > (1 << kChunkBits) - 1) chunks = (1 << kChunkBits) - 1;
  if (chunks <= 1 || t_in_parallel) {
    fn(0, n);
    return;
  }
  Pool& p = pool();
  std::unique_lock<std::mutex> lk(p.call_mu, std::try_to_lock);
  if (!lk.owns_lock()) {  // another user thread is running a job: do ours inline rather than wait
    fn(0, n);
    return;
  }
  p.ensure_workers(static_cast<int>(chunks) - 1);
  p.run(n, static_cast<int>(chunks), fn);
}

}  // namespace fastann::cpu

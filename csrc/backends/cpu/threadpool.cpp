// Persistent worker pool. One job at a time: the caller publishes (fn, n, chunk count) under a new sequence number
// and then claims chunks itself; workers claim the rest. Chunks are claimed from a shared word tagged with the
// sequence number, so a worker that wakes late (or was descheduled) finds nothing left and never delays the caller,
// and a busy core simply ends up with fewer chunks. The caller claims from the front and workers from the back, so
// with two threads and an undisturbed machine each thread gets the same contiguous half of the chunks on every call
// (its operands stay in its core's L2 across back-to-back calls) while a slow thread still leaves its surplus to
// the other. Workers spin briefly after each job (back-to-back calls hand
// off in well under a microsecond), then sleep on a condition variable.
// A second user thread calling parallel_for while a job runs does its work inline (it never blocks on the pool).
// After fork() the child abandons the parent's pool (its threads do not exist there) and builds a fresh one.
#include "threadpool.hpp"

#include <pthread.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "core/env.hpp"
#include "core/fault.hpp"
#include "fastann/error.hpp"
#include "float_mode.hpp"
#include "gemm/frame/parallel.hpp"

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
constexpr auto kWorkerSpin = std::chrono::microseconds(300);  // spin before sleeping, waiting for the next job
constexpr auto kCallerSpin = std::chrono::microseconds(100);  // spin before sleeping, waiting for the last chunks
constexpr int64_t kMaxChunks = 0xFFFF;

thread_local bool t_in_parallel = false;  // inside a parallel_for chunk (worker or caller): nest inline

// n (>= 1), or env::max_threads() with a warning naming `what` when n is more.
int capped_threads(long n, const std::string& what) {
  const int cap = env::max_threads();
  if (n <= cap) return static_cast<int>(n);
  env::warn(what + " is more than 4x the " + std::to_string(env::available_cpus()) +
            " CPUs this process may run on; using " + std::to_string(cap) + " threads");
  return cap;
}

// The thread count at start-up: FASTANN_NUM_THREADS when it is a whole number >= 1 (capped at env::max_threads()),
// else the CPUs this process may run on; a value that cannot be used is reported, never half-read.
int default_num_threads() {
  const int cpus = env::available_cpus();
  const char* text = std::getenv("FASTANN_NUM_THREADS");
  if (!text || !*text) return cpus;
  const std::string shown = env::shown(text);
  long v = 0;
  if (!env::parse_int(text, 1, std::numeric_limits<long>::max(), &v)) {
    env::warn("FASTANN_NUM_THREADS='" + shown + "' is not a whole number >= 1; using " + std::to_string(cpus) +
              " threads (the CPUs this process may run on)");
    return cpus;
  }
  return capped_threads(v, "FASTANN_NUM_THREADS=" + shown);
}

std::atomic<int> g_num_threads{0};

using ChunkFn = ChunkFnRef;

// claim word: sequence number (bits 32..63) | first unclaimed chunk (bits 16..31) | one past the last (bits 0..15).
constexpr uint64_t claim_seq(uint64_t w) { return w >> 32; }
constexpr int64_t claim_front(uint64_t w) { return static_cast<int64_t>((w >> 16) & 0xFFFF); }
constexpr int64_t claim_back(uint64_t w) { return static_cast<int64_t>(w & 0xFFFF); }

class Pool {
 public:
  // Serialises callers; parallel_for only try-locks it.
  std::mutex call_mu;

  int workers() const { return static_cast<int>(threads_.size()); }

  // Grows the pool to at least `workers` workers. Caller holds call_mu (no job in flight).
  // A thread that cannot be started (the process's or the system's thread limit) throws UnavailableError, naming
  // the count; the workers this call started are stopped and joined first, so the pool is as before the call.
  void ensure_workers(int workers) {
    const size_t before = threads_.size();
    if (static_cast<int>(before) >= workers) return;
    threads_.reserve(static_cast<size_t>(workers));  // emplace_back below then never reallocates (or throws for it)
    while (static_cast<int>(threads_.size()) < workers) {
      const uint64_t seen = seq_;
      const size_t index = threads_.size();
      try {
        fault::on_thread_creation();
        threads_.emplace_back([this, index, seen] { worker_loop(index, seen); });
      } catch (const std::system_error& e) {
        const size_t started = threads_.size();
        retire_from(before);
        throw UnavailableError("could not start CPU worker thread " + std::to_string(started + 2) + " of " +
                               std::to_string(workers + 1) + " (" + e.code().message() +
                               "; the process may be at its thread or memory limit): use fewer threads, "
                               "set_num_threads(n) or FASTANN_NUM_THREADS=n with n <= " +
                               std::to_string(started + 1));
      } catch (...) {  // std::bad_alloc for the thread's state: likewise nothing stays
        retire_from(before);
        throw;
      }
    }
  }

  // Runs fn over [0, n) in `chunks` chunks (2 <= chunks <= kMaxChunks). Caller holds call_mu.
  void run(int64_t n, int64_t chunks, const ChunkFn& fn) {
    fn_ = &fn;
    n_ = n;
    chunks_ = chunks;
    error_ = nullptr;
    done_.store(0, std::memory_order_relaxed);
    seq_ = (seq_ + 1) & 0xFFFFFFFFu;
    // The caller takes chunk 0 before publishing: which thread runs which chunk then stays the same from call to
    // call (with 2 threads: chunk 0 here, chunk 1 on the worker, unless it is late), so operands a chunk reads
    // repeatedly (a layer's weights in back-to-back predict calls) stay in that core's L2.
    claim_.store((seq_ << 32) | (uint64_t{1} << 16) | static_cast<uint64_t>(chunks), std::memory_order_release);
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.store(seq_, std::memory_order_release);
    }
    wake_.notify_all();

    run_chunk(0, chunks);
    work(seq_, chunks, /*from_back=*/false);

    // Chunks still running on workers: spin (they are usually about as quick as we were), then sleep.
    if (done_.load(std::memory_order_acquire) != chunks) {
      const auto spin_until = Clock::now() + kCallerSpin;
      for (int it = 0; done_.load(std::memory_order_acquire) != chunks; ++it) {
        FASTANN_CPU_RELAX();
        if ((it & 63) == 63 && Clock::now() > spin_until) {
          std::unique_lock<std::mutex> lk(mu_);
          finished_.wait(lk, [&] { return done_.load(std::memory_order_acquire) == chunks; });
          break;
        }
      }
    }
    fn_ = nullptr;
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Claims (from the front or from the back) and runs chunks of job `seq` until none are left. chunks: the job's
  // chunk count (a worker reads it only after claiming a chunk of that job, which cannot finish before it reports
  // the chunk done); 0 when not known yet.
  void work(uint64_t seq, int64_t chunks, bool from_back) {
    uint64_t w = claim_.load(std::memory_order_acquire);
    for (;;) {
      if (claim_seq(w) != seq || claim_front(w) >= claim_back(w)) return;
      const uint64_t next = from_back ? w - 1 : w + (uint64_t{1} << 16);
      if (!claim_.compare_exchange_weak(w, next, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      // The chunk is ours; the job cannot finish before we report it done, so fn_/n_/chunks_ are this job's.
      run_chunk(from_back ? claim_back(w) - 1 : claim_front(w), chunks ? chunks : chunks_);
      w = claim_.load(std::memory_order_acquire);
    }
  }

  // Runs chunk `index` of the current job and reports it done.
  void run_chunk(int64_t index, int64_t chunks) {
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
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == chunks) {
      std::lock_guard<std::mutex> lk(mu_);  // pairs with the caller's predicate check
      finished_.notify_one();
    }
  }

  // Stops and joins the workers from `first` on (no job in flight: the caller holds call_mu). They are woken with a
  // new sequence number that no claim word carries, so the workers that stay find no chunk and go back to waiting.
  void retire_from(size_t first) {
    if (first >= threads_.size()) return;
    limit_.store(first, std::memory_order_release);
    seq_ = (seq_ + 1) & 0xFFFFFFFFu;
    {
      std::lock_guard<std::mutex> lk(mu_);
      gen_.store(seq_, std::memory_order_release);
    }
    wake_.notify_all();
    for (size_t i = first; i < threads_.size(); ++i) threads_[i].join();
    threads_.erase(threads_.begin() + static_cast<std::ptrdiff_t>(first), threads_.end());
    limit_.store(kNoLimit, std::memory_order_release);
  }

  void worker_loop(size_t index, uint64_t seen) {
    t_in_parallel = true;
    set_flush_denormals();  // workers run only fastann kernels (see float_mode.hpp)
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
      if (index >= limit_.load(std::memory_order_acquire)) return;  // retired (retire_from)
      seen = g;
      work(g, 0, /*from_back=*/true);
    }
  }

  static constexpr size_t kNoLimit = ~size_t{0};
  std::vector<std::thread> threads_;
  std::atomic<size_t> limit_{kNoLimit};  // workers with this index or above exit when woken (retire_from)
  std::mutex mu_;
  std::condition_variable wake_, finished_;
  uint64_t seq_ = 0;                // caller side (under call_mu)
  std::atomic<uint64_t> gen_{0};    // the latest published sequence number (wakes workers)
  std::atomic<uint64_t> claim_{0};  // see claim_seq/claim_next/claim_count
  std::atomic<int64_t> done_{0};    // chunks finished in the current job
  const ChunkFn* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;
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

// Runs fn over [0, n) as `chunks` contiguous chunks on up to get_num_threads() threads.
void run_chunks(int64_t n, int64_t chunks, const ChunkFn& fn) {
  const int threads = get_num_threads();
  if (chunks > n) chunks = n;
  if (chunks > kMaxChunks) chunks = kMaxChunks;
  if (chunks <= 1 || threads <= 1 || t_in_parallel) {
    fn(0, n);
    return;
  }
  Pool& p = pool();
  std::unique_lock<std::mutex> lk(p.call_mu, std::try_to_lock);
  if (!lk.owns_lock()) {  // another user thread is running a job: do ours inline rather than wait
    fn(0, n);
    return;
  }
  const int64_t helpers = chunks - 1 < threads - 1 ? chunks - 1 : threads - 1;
  p.ensure_workers(static_cast<int>(helpers));
  p.run(n, chunks, fn);
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
  g_num_threads.store(capped_threads(n, "set_num_threads(" + std::to_string(n) + ")"), std::memory_order_relaxed);
}

void parallel_for(int64_t n, int64_t grain, ChunkFnRef fn) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t by_grain = n / grain;
  const int64_t threads = get_num_threads();
  run_chunks(n, by_grain < threads ? by_grain : threads, fn);
}

namespace gemm {

void parallel_chunks(int64_t n, int64_t chunks, ChunkFnRef fn) {
  if (n <= 0) return;
  run_chunks(n, chunks < 1 ? 1 : chunks, fn);
}

}  // namespace gemm

}  // namespace fastann::cpu

// The CPU GEMM's kernel-set registry (csrc/backends/cpu/gemm/kernels/registry.cpp) and every registered set forced in
// turn against the reference GEMM: the ISA list comes from the registrations, so a new kernel folder is tested here
// without editing this file. Links the static library with the internal headers (they are hidden in the shared one).
#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <fastann/error.hpp>
#include <string>
#include <thread>
#include <vector>

#include "backends/cpu/cpu_features.hpp"
#include "backends/cpu/dispatch.hpp"
#include "backends/cpu/gemm/kernels/registry.hpp"
#include "backends/cpu/gemm/sgemm.hpp"
#include "backends/cpu/threadpool.hpp"
#include "core/env.hpp"
#include "core/fault.hpp"
#include "support/gemm_ref.hpp"

namespace {

namespace cpu = fastann::cpu;

// Restores the ISA and thread count a test changed.
class IsaRestore {
 public:
  IsaRestore() : isa_(cpu::active_isa()), threads_(cpu::get_num_threads()) {}
  ~IsaRestore() {
    cpu::set_isa(isa_);
    cpu::set_num_threads(threads_);
  }
  IsaRestore(const IsaRestore&) = delete;
  IsaRestore& operator=(const IsaRestore&) = delete;

 private:
  cpu::Isa isa_;
  int threads_;
};

TEST(CpuIsaRegistry, ListsTheBuiltInSetsByName) {
  const std::vector<std::string> names = cpu::isa_names();
  for (const char* n : {"generic", "avx2", "avx512"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  }
  for (const std::string& n : names) {
    const cpu::Isa isa = cpu::isa_from_name(n);
    EXPECT_EQ(cpu::isa_name(isa), n);
    if (isa->kernels) {
      const fastann::cpu::gemm::KernelSet& ks = *isa->kernels;
      EXPECT_EQ(std::string(ks.name), n);
      EXPECT_EQ(ks.mc % ks.mr, 0) << n;
      EXPECT_EQ(ks.nc % ks.nr, 0) << n;
      EXPECT_GE(ks.small_m_max, fastann::cpu::gemm::kSmallM) << n;
    }
  }
  // The portable set is always there and always usable.
  EXPECT_TRUE(cpu::isa_supported(cpu::isa_from_name("generic")));
}

TEST(CpuIsaRegistry, UnknownNameListsTheRegisteredOnes) {
  try {
    cpu::isa_from_name("sse1");
    FAIL() << "no error";
  } catch (const fastann::ValueError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("unknown ISA 'sse1'"), std::string::npos) << what;
    for (const std::string& n : cpu::isa_names()) EXPECT_NE(what.find(n), std::string::npos) << what;
  }
}

TEST(CpuIsaRegistry, DefaultIsTheSupportedSetOfHighestPriority) {
  if (const char* env = std::getenv("FASTANN_ISA"); env && *env) GTEST_SKIP() << "FASTANN_ISA=" << env << " is set";
  cpu::Isa best = nullptr;
  for (const std::string& n : cpu::isa_names()) {
    const cpu::Isa isa = cpu::isa_from_name(n);
    if (!cpu::isa_supported(isa)) continue;
    EXPECT_EQ(isa->needs & ~cpu::cpu_features(), 0u) << n;
    if (!best || isa->priority > best->priority) best = isa;
  }
  ASSERT_NE(best, nullptr);
  EXPECT_EQ(cpu::active_isa(), best) << cpu::isa_name(cpu::active_isa()) << " vs " << cpu::isa_name(best);
}

TEST(CpuIsaRegistry, ForcingAnUnsupportedSetFailsAndKeepsTheActiveOne) {
  const IsaRestore restore;
  const cpu::Isa before = cpu::active_isa();
  bool any = false;
  for (const std::string& n : cpu::isa_names()) {
    const cpu::Isa isa = cpu::isa_from_name(n);
    if (cpu::isa_supported(isa)) continue;
    any = true;
    EXPECT_THROW(cpu::set_isa(isa), fastann::ValueError) << n;
    EXPECT_EQ(cpu::active_isa(), before);
  }
  if (!any) GTEST_SKIP() << "every registered kernel set is supported here";
}

// |C - C_ref| <= tolerance from the float32 rounding of a k-term sum: 2 k u sum_p |a||b| (+ the beta term).
void expect_close(const std::vector<float>& got, const std::vector<float>& want, const std::vector<float>& bound,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size());
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!(std::fabs(got[i] - want[i]) <= bound[i])) ++bad;
  }
  EXPECT_EQ(bad, 0) << what;
}

struct Shape {
  int64_t m, n, k;
};

void check_gemm(bool ta, bool tb, const Shape& s, float alpha, float beta, const std::string& what) {
  const int64_t lda = (ta ? s.m : s.k) + 3, ldb = (tb ? s.k : s.n) + 1, ldc = s.n + 2;
  const int64_t a_rows = ta ? s.k : s.m, b_rows = tb ? s.n : s.k;
  std::vector<float> a(static_cast<size_t>(a_rows * lda)), b(static_cast<size_t>(b_rows * ldb));
  std::vector<float> c(static_cast<size_t>(s.m * ldc));
  uint32_t state = 12345u;
  auto next = [&state] {
    state = state * 1664525u + 1013904223u;
    return static_cast<float>(static_cast<int32_t>(state >> 8) - (1 << 23)) / static_cast<float>(1 << 23);
  };
  for (float& x : a) x = next();
  for (float& x : b) x = next();
  for (float& x : c) x = next();
  std::vector<float> want = c, got = c, bound(c.size());
  cpu::ref::sgemm(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, want.data(), ldc);
  cpu::sgemm(ta, tb, s.m, s.n, s.k, alpha, a.data(), lda, b.data(), ldb, beta, got.data(), ldc);
  const double u = 1.0 / (1 << 24);
  for (int64_t i = 0; i < s.m; ++i) {
    for (int64_t j = 0; j < s.n; ++j) {
      double abs_sum = 0.0;
      for (int64_t p = 0; p < s.k; ++p) {
        const float av = ta ? a[p * lda + i] : a[i * lda + p];
        const float bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        abs_sum += std::fabs(static_cast<double>(av) * bv);
      }
      const double scale = std::fabs(alpha) * abs_sum + std::fabs(beta * c[i * ldc + j]);
      bound[i * ldc + j] = static_cast<float>(2.0 * (s.k + 2) * u * scale + 1e-30);
    }
  }
  expect_close(got, want, bound, what);
}

TEST(CpuGemm, EveryRegisteredSetForcedAgainstTheReference) {
  const IsaRestore restore;
  // The small-m path (m <= 8), the single-column path, the small path (B in place), the packed path with a partial
  // last block in every dimension, and thin k.
  const Shape shapes[] = {{1, 37, 19},  {5, 130, 64},   {33, 1, 70}, {17, 23, 9},
                          {29, 45, 40}, {70, 300, 530}, {200, 90, 3}};
  int tested = 0;
  for (const std::string& n : cpu::isa_names()) {
    const cpu::Isa isa = cpu::isa_from_name(n);
    if (!cpu::isa_supported(isa)) continue;
    cpu::set_isa(isa);
    ASSERT_EQ(cpu::active_isa(), isa);
    ++tested;
    for (int threads : {1, 2}) {
      cpu::set_num_threads(threads);
      for (const Shape& s : shapes) {
        for (int t = 0; t < 4; ++t) {
          const bool ta = t & 1, tb = t & 2;
          const std::string what = n + " threads=" + std::to_string(threads) + " ta=" + std::to_string(ta) +
                                   " tb=" + std::to_string(tb) + " m=" + std::to_string(s.m) +
                                   " n=" + std::to_string(s.n) + " k=" + std::to_string(s.k);
          check_gemm(ta, tb, s, 1.0f, 0.0f, what);
          check_gemm(ta, tb, s, -0.5f, 0.75f, what + " alpha=-0.5 beta=0.75");
        }
      }
    }
  }
  EXPECT_GE(tested, 1);
}

// FASTANN_NUM_THREADS is read whole: an optional '+' and digits, nothing else; past long saturates.
TEST(CpuThreadPool, ThreadCountsParseWholeOrNotAtAll) {
  long v = -7;
  for (const char* bad : {"", "0", "-1", "abc", "3x", " 3", "3 ", "1.5", "0x4", "+", "++2", "-0"}) {
    EXPECT_FALSE(fastann::env::parse_int(bad, 1, 100, &v)) << "'" << bad << "'";
  }
  EXPECT_EQ(v, -7);  // untouched by a failed parse
  EXPECT_TRUE(fastann::env::parse_int("42", 1, 100, &v));
  EXPECT_EQ(v, 42);
  EXPECT_TRUE(fastann::env::parse_int("+3", 1, 100, &v));
  EXPECT_EQ(v, 3);
  EXPECT_TRUE(fastann::env::parse_int("101", 1, 100, &v));
  EXPECT_EQ(v, 100);
  EXPECT_TRUE(fastann::env::parse_int("99999999999999999999999", 1, 100, &v));
  EXPECT_EQ(v, 100);
  EXPECT_EQ(fastann::env::shown("a\x01\xd9\xa3"), "a\\x01\\xd9\\xa3");
  EXPECT_EQ(fastann::env::shown("abcdef", 3), "abc...");
}

TEST(CpuThreadPool, OversubscriptionIsCappedAtFourTimesTheCpus) {
  IsaRestore restore;
  const int cap = fastann::env::max_threads();
  EXPECT_EQ(cap, 4 * fastann::env::available_cpus());
  fastann::env::set_collect_warnings(true);
  (void)fastann::env::take_warnings();
  cpu::set_num_threads(cap + 1);
  EXPECT_EQ(cpu::get_num_threads(), cap);
  const std::vector<std::string> warned = fastann::env::take_warnings();
  fastann::env::set_collect_warnings(false);
  ASSERT_EQ(warned.size(), 1u);
  EXPECT_NE(warned[0].find("set_num_threads(" + std::to_string(cap + 1) + ")"), std::string::npos) << warned[0];
  EXPECT_THROW(cpu::set_num_threads(0), std::invalid_argument);
  EXPECT_EQ(cpu::get_num_threads(), cap);
}

// The threads of this process (Linux: /proc/self/task; -1 elsewhere).
int process_threads() {
  int n = -1;
  if (DIR* d = ::opendir("/proc/self/task")) {
    n = 0;
    while (const dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// A worker the OS refuses to start (the fault hook fails it as std::thread does at the thread limit): the call throws
// UnavailableError naming the count and runs none of its chunks; the workers it started are stopped, and the next
// call (the limit gone) grows the pool and runs every chunk exactly once.
TEST(CpuThreadPool, AWorkerTheOsRefusesIsAnErrorAndThePoolStillWorks) {
  IsaRestore restore;
  const int threads = fastann::env::max_threads();
  cpu::set_num_threads(threads);
  constexpr int64_t n = 4096;
  std::vector<std::atomic<int>> seen(n);
  auto body = [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) seen[i].fetch_add(1, std::memory_order_relaxed);
  };
  std::thread([] {}).join();  // a sanitizer's own background thread starts with the first thread: count it first
  const int tasks_before = process_threads();
  fastann::fault::fail_thread_creation_after(1);  // one more worker starts (and is stopped again), then one fails
  bool threw = false;
  try {
    cpu::parallel_for(n, 1, body);
  } catch (const fastann::UnavailableError& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find("could not start CPU worker thread"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("of " + std::to_string(threads)), std::string::npos) << e.what();
  }
  fastann::fault::fail_thread_creation_after(-1);
  // No worker left behind (a joined thread can linger in /proc for a moment after join returns: wait up to 2 s).
  for (int i = 0; i < 200 && process_threads() > tasks_before; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(process_threads(), tasks_before);
  // Earlier tests may have grown the pool to this size already; then no thread is started and nothing fails.
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), threw ? 0 : 1) << i;
  cpu::parallel_for(n, 1, body);
  for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i].load(), threw ? 1 : 2) << i;
}

}  // namespace

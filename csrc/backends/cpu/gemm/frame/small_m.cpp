// The GEMM frame's small-m path: products with at most kSmallM rows of C (or a single column), B streamed once by
// the kernels' few-row routines, columns or fixed k slabs split over threads.
#include <algorithm>

#include "parallel.hpp"
#include "product.hpp"

namespace fastann::cpu::gemm {
namespace {

// Products with at most kSmallM rows of C (and, transposed, single-column products C^T = op(B)^T op(A)^T) skip
// packing: B is streamed once by the small-m kernels (see kernel_set.hpp). Threads split the columns of C (each
// column computed by one thread over the full k) or, for large B in the axpy form, fixed slabs of k (see k_slabs),
// so results do not depend on the thread count.

// Elements of B streamed per thread below which the small path stays on one thread (a handoff costs ~1-2 us,
// about the time one core needs to stream 200 KB from L2).
constexpr int64_t kSmallMinPerThread = 48 * 1024;
constexpr int64_t kSmallColumnUnit = 64;  // column split granularity (whole kernel blocks)

}  // namespace

bool plan_small(const Product& P, SmallPlan* s) {
  if (P.k <= 0 || P.alpha == 0.0f || P.m <= 0 || P.n <= 0) return false;
  SmallPlan q{false, P.m, P.n, P.k, P.a, 0, 0, P.b, P.ldb, P.c, P.ldc, P.alpha, P.beta, P.bias, 1, P.ep};
  if (P.m <= kSmallM) {
    if (!P.tb) {  // axpy over the rows of B
      q.rsa = P.ta ? 1 : P.lda;
      q.csa = P.ta ? P.lda : 1;
    } else if (!P.ta) {  // dot products of A rows with B's stored rows
      q.dot = true;
      q.rsa = P.lda;
    } else {
      return false;
    }
  } else if (P.n == 1 && P.ldc == 1) {
    // C^T (1 x m) = op(B)^T (1 x k) op(A)^T (k x m), with op(B)^T(0, p) = tb ? b[p] : b[p * ldb].
    q.m = 1;
    q.n = P.m;
    q.c = P.c;
    q.ldc = P.m;
    q.bias_inc = 0;
    if (P.ta) {  // op(A)^T is A as stored (k x m): axpy
      q.a = P.b;
      q.rsa = 0;
      q.csa = P.tb ? 1 : P.ldb;
      q.b = P.a;
      q.ldb = P.lda;
    } else {  // op(A)^T is A stored transposed: dot products with A's rows; op(B)^T must be contiguous
      if (!P.tb && P.ldb != 1) return false;
      q.dot = true;
      q.a = P.b;
      q.rsa = P.k;
      q.b = P.a;
      q.ldb = P.lda;
    }
  } else {
    return false;
  }
  *s = q;
  return true;
}

namespace {

// Columns [j0, j1) of a small plan, with the epilogue's block function.
void run_small_cols(const KernelSet& ks, const SmallPlan& s, int64_t j0, int64_t j1) {
  const int64_t cols = j1 - j0;
  if (cols <= 0) return;
  const float* bias = s.bias ? s.bias + j0 * s.bias_inc : nullptr;
  float* c = s.c + j0;
  if (s.dot) {
    ks.small_dot(s.m, cols, s.k, s.a, s.rsa, s.b + j0 * s.ldb, s.ldb, c, s.ldc, s.alpha, s.beta, bias, s.bias_inc);
  } else {
    ks.small_m(s.m, cols, s.k, s.a, s.rsa, s.csa, s.b + j0, s.ldb, c, s.ldc, s.alpha, s.beta, bias, s.bias_inc);
  }
  if (s.ep && s.ep->block_fn) s.ep->block_fn(c, s.ldc, s.m, cols, s.ep->ctx);
}

// Large B in the axpy form is cut into slabs of whole rows (k ranges) instead: a column split makes each thread read
// part of every row of B, so with the row stride a multiple of 2 KB a thread's lines fall into half of its L2's
// sets, and a 784x512 layer followed by a 512x256 one (1 MB per thread) thrashes the L2 of each core (one-row
// predict of a 784-512-256-10 MLP: 20 us; slabs: 14 us). Each slab's partial product is one FMA chain per element
// over the slab's rows; the partials are added in slab order, then the epilogue. The slab count depends only on the
// shape, never on the thread count, so the bits do not either.
constexpr int64_t kSlabMinElems = 64 * 1024;  // elements of B per slab
constexpr int64_t kSlabMinRows = 64;          // partials (slabs x m x n) stay <= 1/8 of B for m <= kSmallM
constexpr int64_t kMaxSlabs = 16;

int64_t k_slabs(const SmallPlan& s) {
  int64_t slabs = 1;
  if (s.dot) return slabs;
  while (2 * slabs <= kMaxSlabs && s.k / (2 * slabs) >= kSlabMinRows && s.k * s.n / (2 * slabs) >= kSlabMinElems) {
    slabs *= 2;
  }
  return slabs;
}

// Slab t's rows of B times the matching columns of op(A): part (m x n, row stride n) = op(A)[:, k0:k1] B[k0:k1, :].
void run_slab(const KernelSet& ks, const SmallPlan& s, int64_t slabs, int64_t t, float* part) {
  const int64_t k0 = t * s.k / slabs, k1 = (t + 1) * s.k / slabs;
  ks.small_m(s.m, s.n, k1 - k0, s.a + k0 * s.csa, s.rsa, s.csa, s.b + k0 * s.ldb, s.ldb, part, s.n, 1.0f, 0.0f, nullptr,
             0);
}

void run_small_slabs(const KernelSet& ks, const SmallPlan& s, int64_t slabs, int max_threads) {
  const int64_t mn = s.m * s.n;
  float* part = scratch_b(slabs * mn);  // the calling thread's; workers write disjoint slabs of it
  const int64_t threads = std::min<int64_t>({static_cast<int64_t>(max_threads), slabs, s.k * s.n / kSmallMinPerThread});
  if (threads <= 1) {
    for (int64_t t = 0; t < slabs; ++t) run_slab(ks, s, slabs, t, part + t * mn);
  } else {
    const SmallPlan* sp = &s;
    const KernelSet* kp = &ks;
    // Contiguous slab groups: the caller gets the first rows of B and a worker the last, call after call.
    parallel_chunks(slabs, threads, [sp, kp, slabs, part, mn](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) run_slab(*kp, *sp, slabs, t, part + t * mn);
    });
  }
  for (int64_t t = 1; t < slabs; ++t) {
    const float* pt = part + t * mn;
    for (int64_t e = 0; e < mn; ++e) part[e] += pt[e];
  }
  for (int64_t i = 0; i < s.m; ++i) {
    const float* sum = part + i * s.n;
    float* cr = s.c + i * s.ldc;
    for (int64_t j = 0; j < s.n; ++j) {
      float r = s.alpha != 1.0f ? s.alpha * sum[j] : sum[j];
      if (s.beta != 0.0f) r += s.beta * cr[j];
      if (s.bias) r += s.bias[j * s.bias_inc];
      cr[j] = r;
    }
  }
  if (s.ep && s.ep->block_fn) s.ep->block_fn(s.c, s.ldc, s.m, s.n, s.ep->ctx);
}

}  // namespace

void run_small_plan(const KernelSet& ks, const SmallPlan& s, int max_threads) {
  const int64_t slabs = k_slabs(s);
  if (slabs > 1) {
    run_small_slabs(ks, s, slabs, max_threads);
    return;
  }
  const int64_t units = ceil_div(s.n, kSmallColumnUnit);
  const int64_t by_size = s.k * s.n / kSmallMinPerThread;
  const int64_t threads = std::min<int64_t>({static_cast<int64_t>(max_threads), by_size, units});
  if (threads <= 1) {
    run_small_cols(ks, s, 0, s.n);
    return;
  }
  const SmallPlan* sp = &s;
  const KernelSet* kp = &ks;
  parallel_chunks(units, threads, [sp, kp](int64_t begin, int64_t end) {
    run_small_cols(*kp, *sp, begin * kSmallColumnUnit, std::min(sp->n, end * kSmallColumnUnit));
  });
}

}  // namespace fastann::cpu::gemm

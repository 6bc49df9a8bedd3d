// The steady state of training allocates nothing: the number of heap allocations made by Sequential::fit does not
// grow with the number of batches per epoch (with sample or class weights and streaming metrics such as AUC too), and
// predict_into into caller memory allocates a small constant number of times, whatever the number of rows.
//
// This program replaces the global operator new/delete (every form) with counting versions, which a C++ program may
// do; the count covers every thread (fastann's pool workers too) and the standard library. Tensor buffers and GEMM
// scratch come from aligned_alloc, not operator new: with GNU ld the test is linked with --wrap for malloc, calloc,
// realloc, aligned_alloc and posix_memalign (FASTANN_TEST_WRAP_MALLOC), which counts those calls made by fastann's
// objects (the static library) as well.
#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fastann/fastann.hpp>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {

std::atomic<long> g_new_calls{0};     // operator new (all forms)
std::atomic<long> g_malloc_calls{0};  // malloc & co. called from fastann's (and this test's) objects

}  // namespace

#if FASTANN_TEST_WRAP_MALLOC
extern "C" {
void* __real_malloc(size_t size);
void* __real_calloc(size_t n, size_t size);
void* __real_realloc(void* p, size_t size);
void* __real_aligned_alloc(size_t align, size_t size);
int __real_posix_memalign(void** p, size_t align, size_t size);

void* __wrap_malloc(size_t size) {
  g_malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __real_malloc(size);
}
void* __wrap_calloc(size_t n, size_t size) {
  g_malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __real_calloc(n, size);
}
void* __wrap_realloc(void* p, size_t size) {
  g_malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __real_realloc(p, size);
}
void* __wrap_aligned_alloc(size_t align, size_t size) {
  g_malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __real_aligned_alloc(align, size);
}
int __wrap_posix_memalign(void** p, size_t align, size_t size) {
  g_malloc_calls.fetch_add(1, std::memory_order_relaxed);
  return __real_posix_memalign(p, align, size);
}
}  // extern "C"
#define FASTANN_RAW_MALLOC __real_malloc
#define FASTANN_RAW_ALIGNED_ALLOC __real_aligned_alloc
#else
#define FASTANN_RAW_MALLOC std::malloc
#define FASTANN_RAW_ALIGNED_ALLOC std::aligned_alloc
#endif

// --- counting replacements of the global allocation functions ------------------------------------------------------
namespace {

void* counted_new(size_t size, bool nothrow) {
  g_new_calls.fetch_add(1, std::memory_order_relaxed);
  void* p = FASTANN_RAW_MALLOC(size ? size : 1);
  if (!p && !nothrow) throw std::bad_alloc();
  return p;
}

void* counted_aligned_new(size_t size, std::align_val_t al, bool nothrow) {
  g_new_calls.fetch_add(1, std::memory_order_relaxed);
  const size_t align = static_cast<size_t>(al) < sizeof(void*) ? sizeof(void*) : static_cast<size_t>(al);
  const size_t bytes = ((size ? size : 1) + align - 1) / align * align;  // aligned_alloc wants a multiple
  void* p = FASTANN_RAW_ALIGNED_ALLOC(align, bytes);
  if (!p && !nothrow) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(size_t size) { return counted_new(size, false); }
void* operator new[](size_t size) { return counted_new(size, false); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return counted_new(size, true); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return counted_new(size, true); }
void* operator new(size_t size, std::align_val_t al) { return counted_aligned_new(size, al, false); }
void* operator new[](size_t size, std::align_val_t al) { return counted_aligned_new(size, al, false); }
void* operator new(size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return counted_aligned_new(size, al, true);
}
void* operator new[](size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return counted_aligned_new(size, al, true);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }

namespace {

using fastann::Dense;
using fastann::Sequential;
using fastann::Tensor;

struct Counts {
  long news = 0, mallocs = 0;
  long total() const { return news + mallocs; }
};

Counts now() { return {g_new_calls.load(), g_malloc_calls.load()}; }

Counts since(const Counts& before) {
  const Counts c = now();
  return {c.news - before.news, c.mallocs - before.mallocs};
}

template <class F>
Counts count(F&& f) {
  const Counts before = now();
  f();
  return since(before);
}

std::vector<float> random_rows(int64_t n, int64_t d, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n * d));
  for (float& x : v) x = u(gen);
  return v;
}

constexpr int64_t kFeatures = 12, kBatch = 16, kFewBatches = 10, kManyBatches = 200;

struct Data {
  std::vector<float> x, y, w;
  int64_t n;
  Tensor xt() { return Tensor::view(x.data(), {n, kFeatures}); }
  Tensor yt() { return Tensor::view(y.data(), {n, 1}); }
  Tensor wt() { return Tensor::view(w.data(), {n}); }
};

Data binary_data(int64_t n, uint32_t seed) {
  Data d;
  d.n = n;
  d.x = random_rows(n, kFeatures, seed);
  d.y.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r)
    d.y[static_cast<size_t>(r)] = d.x[static_cast<size_t>(r * kFeatures)] > 0 ? 1.0f : 0.0f;
  d.w.resize(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) d.w[static_cast<size_t>(r)] = 0.25f + static_cast<float>(r % 7) * 0.5f;
  return d;
}

// Training weights of a fit: none, per-sample weights (validation data weighted too), or class weights.
enum class Weights { none, sample, by_class };

Sequential make_model(const char* optimizer, bool streaming_metrics = false, bool extra_layers = false) {
  Sequential m;
  if (extra_layers) {  // Input, BatchNormalization, Dropout and the three kinds of regularizer
    m.add(fastann::Input(kFeatures));
    Dense d(32, "relu");
    d.kernel_regularizer = fastann::Regularizer::L2(0.01);
    d.bias_regularizer = fastann::Regularizer::L1(0.01);
    d.activity_regularizer = fastann::Regularizer::L1L2(0.001, 0.001);
    m.add(d);
    m.add(fastann::BatchNormalization());
    m.add(fastann::Dropout(0.3, 5));
  } else {
    m.add(Dense(32, "relu").with_input_dim(kFeatures));
  }
  m.add(Dense(24, "tanh"));
  m.add(fastann::Activation("swish"));
  if (extra_layers) m.add(fastann::Dropout(0.1, 6));
  m.add(Dense(1, "sigmoid"));
  m.build(kFeatures, 1);
  if (streaming_metrics) {
    // Confusion-count metrics whose state is read for every progress report, weighted and not.
    fastann::MetricConfig auc50("auc");
    auc50.num_thresholds = 50;
    auc50.display_name = "auc50";
    m.compile(fastann::OptimizerConfig::defaults(optimizer), {"binary_crossentropy"},
              {"accuracy", "auc", "precision", "recall", auc50}, {"auc", "accuracy"});
  } else {
    m.compile(fastann::OptimizerConfig::defaults(optimizer), {"binary_crossentropy"}, {"accuracy", "mse"});
  }
  return m;
}

struct Case {
  const char* optimizer;
  bool shuffle;
  bool validation;  // validation data of as many batches as the training data
  bool poll;        // a should_stop callback polled after every batch
  int threads;
  Weights weights = Weights::none;
  bool streaming_metrics = false;  // AUC, Precision, Recall (and weighted metrics) instead of accuracy and mse
  bool progress = false;           // a progress hook called after every batch (the running logs computed each time)
  bool extra_layers = false;       // BatchNormalization, Dropout, regularizers
};

std::string name(const Case& c) {
  return std::string(c.optimizer) + (c.shuffle ? " shuffle" : " no-shuffle") + (c.validation ? " +validation" : "") +
         (c.poll ? " +should_stop" : "") + (c.weights == Weights::sample ? " +sample_weight" : "") +
         (c.weights == Weights::by_class ? " +class_weight" : "") + (c.streaming_metrics ? " +auc" : "") +
         (c.progress ? " +progress" : "") + " threads=" + std::to_string(c.threads) +
         (c.extra_layers ? " +bn/dropout/regularizers" : "");
}

// Allocations of one fit of one epoch over `batches` batches, after warm-up fits (the workspace, the index buffer and
// the thread pool already sized for the larger case).
Counts fit_allocations(Sequential& m, Data& train, Data& val, int64_t batches, const Case& c) {
  Tensor x = train.xt().rows(0, batches * kBatch), y = train.yt().rows(0, batches * kBatch);
  fastann::FitOptions o;
  o.batch_size = kBatch;
  o.epochs = 1;
  o.shuffle = c.shuffle;
  o.seed = 17;
  if (c.validation) {
    o.validation_x = val.xt().rows(0, batches * kBatch);
    o.validation_y = val.yt().rows(0, batches * kBatch);
    if (c.weights == Weights::sample) o.validation_sample_weight = val.wt().rows(0, batches * kBatch);
  }
  if (c.weights == Weights::sample) o.sample_weight = train.wt().rows(0, batches * kBatch);
  if (c.weights == Weights::by_class) o.class_weight = {0.5f, 2.0f};
  fastann::FitCallbacks cb;
  long reports = 0;
  if (c.progress) {
    cb.on_progress = [&reports](int64_t, const fastann::Logs&) {
      ++reports;
      return fastann::FitSignal::proceed;
    };
    cb.progress_interval_ms = 0;
  }
  long polls = 0;
  if (c.poll) {
    cb.should_stop = [&polls] {
      ++polls;
      return false;
    };
    cb.poll_interval_ms = 0;
  }
  Counts counts;
  {
    const Counts before = now();
    fastann::History h = m.fit(x, y, o, cb);
    counts = since(before);  // before h is destroyed (its vectors were allocated inside fit)
    EXPECT_EQ(h.epoch.size(), 1u);
  }
  if (c.poll) {
    EXPECT_GT(polls, batches / 2);
  }
  if (c.progress) {
    EXPECT_EQ(reports, batches);
  }
  return counts;
}

class FitAllocations : public ::testing::TestWithParam<Case> {};

TEST_P(FitAllocations, DoNotGrowWithTheNumberOfBatches) {
  const Case c = GetParam();
  fastann::set_num_threads(c.threads);
  Data train = binary_data(kManyBatches * kBatch, 1), val = binary_data(kManyBatches * kBatch, 2);
  Sequential m = make_model(c.optimizer, c.streaming_metrics, c.extra_layers);
  // Warm-up: the largest case first, then the small one, a few times (the pool's threads and each thread's
  // grow-only GEMM scratch reach their sizes; which thread runs which part of a product can vary between calls).
  for (int rep = 0; rep < 3; ++rep) {
    fit_allocations(m, train, val, kManyBatches, c);
    fit_allocations(m, train, val, kFewBatches, c);
  }

  const Counts few = fit_allocations(m, train, val, kFewBatches, c);
  const Counts many = fit_allocations(m, train, val, kManyBatches, c);
  const Counts few2 = fit_allocations(m, train, val, kFewBatches, c);
  std::printf("[ alloc    ] fit, %s: %ld batches: %ld new + %ld malloc; %ld batches: %ld new + %ld malloc\n",
              name(c).c_str(), static_cast<long>(kFewBatches), few.news, few.mallocs, static_cast<long>(kManyBatches),
              many.news, many.mallocs);
  EXPECT_EQ(few.news, many.news) << name(c);
  EXPECT_EQ(few.mallocs, many.mallocs) << name(c);
  EXPECT_EQ(few.total(), few2.total()) << name(c);
  // The per-call allocations are bookkeeping (History, the epoch's logs), not per-batch work: a handful.
  EXPECT_LT(few.total(), 64) << name(c);
}

INSTANTIATE_TEST_SUITE_P(Sequential, FitAllocations,
                         ::testing::Values(Case{"adam", true, false, false, 1}, Case{"adam", true, false, false, 3},
                                           Case{"sgd", false, false, false, 2}, Case{"rmsprop", true, true, false, 2},
                                           Case{"adagrad", true, false, true, 2},
                                           Case{"adam", true, true, false, 2, Weights::sample, true, true},
                                           Case{"sgd", false, true, false, 1, Weights::sample, true, false},
                                           Case{"rmsprop", true, false, true, 2, Weights::by_class, true, true},
                                           Case{"adam", false, false, false, 3, Weights::by_class, false, false},
                                           Case{"adam", true, true, false, 2, Weights::none, false, false, true},
                                           Case{"sgd", false, false, false, 1, Weights::sample, true, true, true}),
                         [](const ::testing::TestParamInfo<Case>& info) {  // e.g. adam_shuffle_threads3
                           const Case& c = info.param;
                           return std::string(c.optimizer) + (c.shuffle ? "_shuffle" : "_noshuffle") +
                                  (c.validation ? "_validation" : "") + (c.poll ? "_shouldstop" : "") +
                                  (c.weights == Weights::sample ? "_sampleweight" : "") +
                                  (c.weights == Weights::by_class ? "_classweight" : "") +
                                  (c.streaming_metrics ? "_auc" : "") + (c.progress ? "_progress" : "") + "_threads" +
                                  std::to_string(c.threads) + (c.extra_layers ? "_bn_dropout_reg" : "");
                         });

TEST(FitAllocations, PerEpochCostIsConstant) {
  // More epochs add only the per-epoch bookkeeping (the History entries), never per-batch allocations.
  fastann::set_num_threads(2);
  Data train = binary_data(kManyBatches * kBatch, 1);
  Sequential m = make_model("adam");
  fastann::FitOptions o;
  o.batch_size = kBatch;
  o.seed = 3;
  auto fit_epochs = [&](int epochs, int64_t batches) {
    o.epochs = epochs;
    const Counts before = now();
    fastann::History h = m.fit(train.xt().rows(0, batches * kBatch), train.yt().rows(0, batches * kBatch), o);
    return since(before).total();
  };
  for (int rep = 0; rep < 3; ++rep) fit_epochs(2, kManyBatches);  // warm-up
  const long e1 = fit_epochs(1, kFewBatches), e4 = fit_epochs(4, kFewBatches), e4many = fit_epochs(4, kManyBatches);
  std::printf("[ alloc    ] fit epochs=1: %ld, epochs=4: %ld, epochs=4 with %ld x the batches: %ld\n", e1, e4,
              static_cast<long>(kManyBatches / kFewBatches), e4many);
  EXPECT_EQ(e4, e4many);
  EXPECT_LE(e4 - e1, 3 * 8);  // at most a few allocations per epoch (History vectors growing)
}

// A gradient reducer (fastann/distributed.hpp) on a sharded fit: the hook calls, the shard selection and the
// epoch-sum reduction add no per-batch allocations (this reducer scales by 1/2 as a 2-worker mean of equal
// gradients would, and allocates nothing itself).
class HalvingReducer final : public fastann::GradientReducer {
 public:
  void reduce(float* g, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) g[i] *= 0.5f;
    ++calls;
  }
  void reduce_sums(double* v, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) v[i] *= 2.0;
  }
  long calls = 0;
};

TEST(FitAllocations, AGradientReducerAndShardingAddNone) {
  fastann::set_num_threads(2);
  Data train = binary_data(kManyBatches * kBatch, 1);
  Sequential m = make_model("adam");
  auto reducer = std::make_shared<HalvingReducer>();
  m.set_gradient_reducer(reducer);
  fastann::FitOptions o;
  o.batch_size = kBatch;
  o.seed = 3;
  o.epochs = 1;
  o.shard_index = 1;
  o.shard_count = 2;
  auto fit_batches = [&](int64_t batches) {
    const Counts before = now();
    fastann::History h = m.fit(train.xt().rows(0, batches * kBatch), train.yt().rows(0, batches * kBatch), o);
    return since(before);
  };
  for (int rep = 0; rep < 3; ++rep) fit_batches(kManyBatches), fit_batches(kFewBatches);  // warm-up
  const Counts few = fit_batches(kFewBatches), many = fit_batches(kManyBatches);
  std::printf("[ alloc    ] sharded fit with a reducer: %ld batches: %ld new + %ld malloc; %ld: %ld + %ld\n",
              static_cast<long>(kFewBatches), few.news, few.mallocs, static_cast<long>(kManyBatches), many.news,
              many.mallocs);
  EXPECT_EQ(few.news, many.news);
  EXPECT_EQ(few.mallocs, many.mallocs);
  EXPECT_GT(reducer->calls, 0);
}

TEST(FitAllocations, TrainOnBatchAllocatesOnlyItsResult) {
  fastann::set_num_threads(2);
  Data train = binary_data(kBatch, 1);
  Sequential m = make_model("adam");
  const Tensor x = train.xt(), y = train.yt();  // made outside the count: a Shape is a std::vector
  m.train_on_batch(x, y);
  const Counts c = count([&] {
    for (int i = 0; i < 50; ++i) m.train_on_batch(x, y);
  });
  std::printf("[ alloc    ] 50 x train_on_batch: %ld new + %ld malloc\n", c.news, c.mallocs);
  EXPECT_EQ(c.mallocs, 0);
  EXPECT_EQ(c.news, 50);  // the returned std::vector<double> of [loss, metrics...]
}

TEST(FitAllocations, WeightedTrainOnBatchWithAucAllocatesOnlyItsResult) {
  fastann::set_num_threads(2);
  Data train = binary_data(kBatch, 1);
  Sequential m = make_model("adam", /*streaming_metrics=*/true);
  const Tensor x = train.xt(), y = train.yt(), w = train.wt();
  m.train_on_batch(x, y, w);
  const Counts c = count([&] {
    for (int i = 0; i < 50; ++i) m.train_on_batch(x, y, w);
  });
  std::printf("[ alloc    ] 50 x train_on_batch with sample weights and AUC: %ld new + %ld malloc\n", c.news,
              c.mallocs);
  EXPECT_EQ(c.mallocs, 0);
  EXPECT_EQ(c.news, 50);  // the returned std::vector<double> of [loss, metrics...]
}

// predict_into writes into caller memory. Its allocations, after a first call (thread pool, GEMM scratch), are a
// constant: the same for 1 row, one chunk of rows and many chunks.
TEST(PredictAllocations, PredictIntoAllocatesAConstantSmallNumber) {
  for (int threads : {1, 2}) {
    fastann::set_num_threads(threads);
    Sequential m = make_model("adam");
    const int64_t n = 10000;
    std::vector<float> x = random_rows(n, kFeatures, 5), out(static_cast<size_t>(n));
    const Tensor xt = Tensor::view(x.data(), {n, kFeatures});
    const Tensor ot = Tensor::view(out.data(), {n, 1});
    auto predict_rows = [&](int64_t rows, int64_t batch_size) {
      const Tensor xs = xt.rows(0, rows);
      Tensor os = ot.rows(0, rows);  // row slices of views: no allocation
      m.predict_into(xs, os, batch_size);
    };
    // Warm-up: the pool's threads and each thread's grow-only GEMM scratch reach their sizes. Which thread runs
    // which part of a product can vary from call to call, so every shape is run a few times.
    for (int rep = 0; rep < 4; ++rep) {
      for (int64_t rows : {n, int64_t{1000}, int64_t{1}}) predict_rows(rows, 0);
      predict_rows(n, 64);
    }
    const Counts one = count([&] { predict_rows(1, 0); });
    const Counts chunk = count([&] { predict_rows(1000, 0); });
    const Counts chunks = count([&] { predict_rows(n, 0); });         // 3 chunks of <= 4096 rows
    const Counts small_chunks = count([&] { predict_rows(n, 64); });  // 157 chunks
    std::printf(
        "[ alloc    ] predict_into threads=%d: 1 row %ld new + %ld malloc; 1000 rows %ld + %ld; "
        "10000 rows %ld + %ld; 10000 rows in chunks of 64: %ld + %ld\n",
        threads, one.news, one.mallocs, chunk.news, chunk.mallocs, chunks.news, chunks.mallocs, small_chunks.news,
        small_chunks.mallocs);
    EXPECT_EQ(one.news, chunk.news);
    EXPECT_EQ(one.news, chunks.news);
    EXPECT_EQ(one.news, small_chunks.news) << "allocations per chunk";
    EXPECT_EQ(one.mallocs, chunk.mallocs);
    EXPECT_EQ(one.mallocs, chunks.mallocs);
    EXPECT_EQ(one.mallocs, small_chunks.mallocs) << "allocations per chunk";
    // Per call, for this 4-layer model: two ping-pong activation buffers (each an aligned_alloc for the floats,
    // an operator new for its shared_ptr control block and one for its Shape), and the per-layer views of them.
    EXPECT_LE(one.news, 10);
    EXPECT_LE(one.mallocs, 2);
  }
}

TEST(PredictAllocations, SingleLayerPredictIntoAllocatesNothing) {
  Sequential m;
  m.add(Dense(3, "softmax").with_input_dim(kFeatures));
  std::vector<float> x = random_rows(100, kFeatures, 5), out(300);
  const Tensor xt = Tensor::view(x.data(), {100, kFeatures});
  Tensor o = Tensor::view(out.data(), {100, 3});
  m.predict_into(xt, o);
  const Counts c = count([&] { m.predict_into(xt, o); });
  EXPECT_EQ(c.total(), 0) << c.news << " new + " << c.mallocs << " malloc";
}

TEST(AllocationCounter, SeesOperatorNewAndFastannBuffers) {
  // The counters work: a std::vector allocates through operator new, a Tensor buffer through aligned_alloc.
  const Counts v = count([] {
    std::vector<int> big(1000);
    (void)big;
  });
  EXPECT_EQ(v.news, 1);
  const Counts t = count([] {
    Tensor big({1000});
    (void)big;
  });
  EXPECT_GE(t.news, 1);  // the shared_ptr control block
#if FASTANN_TEST_WRAP_MALLOC
  EXPECT_EQ(t.mallocs, 1);  // the 64-byte aligned buffer
#endif
}

}  // namespace

// The strong guarantee against every heap allocation (not only tensor buffers, which
// tests/python/reliability/test_integrity.py fails through the library's own hook): this program replaces the
// global operator new so that, once armed, the Nth call from now throws std::bad_alloc. Each mutating call is run
// with N = 0, 1, 2, ... until it succeeds, as SQLite tests its out-of-memory paths; after every failure the model's
// file bytes (architecture, weights, compile configuration, optimizer state) must be those from before the call,
// and the model must still train and save.
//
// Only the calling thread's allocations count (the pool's workers allocate nothing in these calls, and a failure
// in another thread would not be this call's); GoogleTest's own allocations happen outside the armed window.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fastann/fastann.hpp>
#include <functional>
#include <new>
#include <random>
#include <string>
#include <vector>

namespace {

thread_local long t_countdown = -1;  // allocations left before the armed failure; -1: unarmed

void* fallible_new(size_t size, bool nothrow) {
  if (t_countdown >= 0 && t_countdown-- == 0) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  void* p = std::malloc(size ? size : 1);
  if (!p && !nothrow) throw std::bad_alloc();
  return p;
}

void* fallible_aligned_new(size_t size, std::align_val_t al, bool nothrow) {
  if (t_countdown >= 0 && t_countdown-- == 0) {
    if (nothrow) return nullptr;
    throw std::bad_alloc();
  }
  const size_t align = static_cast<size_t>(al) < sizeof(void*) ? sizeof(void*) : static_cast<size_t>(al);
  void* p = std::aligned_alloc(align, ((size ? size : 1) + align - 1) / align * align);
  if (!p && !nothrow) throw std::bad_alloc();
  return p;
}

}  // namespace

void* operator new(size_t size) { return fallible_new(size, false); }
void* operator new[](size_t size) { return fallible_new(size, false); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return fallible_new(size, true); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return fallible_new(size, true); }
void* operator new(size_t size, std::align_val_t al) { return fallible_aligned_new(size, al, false); }
void* operator new[](size_t size, std::align_val_t al) { return fallible_aligned_new(size, al, false); }
void* operator new(size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return fallible_aligned_new(size, al, true);
}
void* operator new[](size_t size, std::align_val_t al, const std::nothrow_t&) noexcept {
  return fallible_aligned_new(size, al, true);
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

struct Data {
  int64_t n = 48, d = 5;
  std::vector<float> x, y;
  Data() {
    std::mt19937 gen(11);
    std::normal_distribution<float> dist;
    for (int64_t i = 0; i < n * d; ++i) x.push_back(dist(gen));
    for (int64_t i = 0; i < n; ++i) y.push_back(x[static_cast<size_t>(i * d)] > 0 ? 1.0f : 0.0f);
  }
  Tensor xt() { return Tensor::view(x.data(), {n, d}); }
  Tensor yt() { return Tensor::view(y.data(), {n, 1}); }
};

Data& data() {
  static Data d;
  return d;
}

Sequential trained_model() {
  Sequential m;
  m.add(Dense(8, "relu").with_input_dim(5));
  m.add(fastann::BatchNormalization());
  m.add(Dense(1, "sigmoid"));
  m.build(5, 2);
  m.compile(fastann::OptimizerConfig::defaults("adam"), {"binary_crossentropy"}, {"accuracy", "auc"});
  m.train_on_batch(data().xt(), data().yt());
  return m;
}

// Runs `call` on a fresh model with the (n+1)-th allocation of this thread failing; returns whether it failed.
bool fails_at(long n, Sequential& m, const std::function<void(Sequential&)>& call) {
  t_countdown = n;
  bool failed = false;
  try {
    call(m);
  } catch (const std::bad_alloc&) {
    failed = true;
  } catch (const fastann::OutOfMemoryError&) {
    failed = true;
  }
  const bool armed_left = t_countdown >= 0;
  t_countdown = -1;
  EXPECT_EQ(failed, !armed_left) << "allocation " << n << ": the failure and the call's outcome disagree";
  return failed;
}

void sweep(const char* name, const std::function<Sequential()>& make, const std::function<void(Sequential&)>& call,
           bool unchanged = true) {
  long failures = 0;
  for (long n = 0; n < 100000; ++n) {
    Sequential m = make();
    const std::string before = fastann::serialize_model(m);
    if (!fails_at(n, m, call)) break;
    ++failures;
    if (unchanged) {
      ASSERT_EQ(fastann::serialize_model(m), before)
          << name << ": the model changed when allocation " << n << " failed";
    }
    // Still usable: trains, predicts and saves.
    if (m.compiled() && m.built()) m.train_on_batch(data().xt(), data().yt());
    if (m.built()) {
      const std::string bytes = fastann::serialize_model(m);
      const Sequential back = fastann::load_model_from_memory(bytes.data(), bytes.size());
      EXPECT_EQ(back.num_layers(), m.num_layers()) << name;
    }
  }
  EXPECT_GT(failures, 0) << name << " allocated nothing";
}

}  // namespace

TEST(FaultInjection, EveryMutatingCallIsAllOrNothingUnderAllocationFailure) {
  sweep("add", trained_model, [](Sequential& m) { m.add(Dense(3, "tanh")); });
  sweep("pop", trained_model, [](Sequential& m) { m.pop(); });
  sweep("build", trained_model, [](Sequential& m) { m.build(5, 9); });
  sweep("compile", trained_model, [](Sequential& m) {
    m.compile(fastann::OptimizerConfig::defaults("rmsprop"), {"mse"}, {"mae"}, {"accuracy"});
  });
  sweep("compile keeping the state", trained_model, [](Sequential& m) {
    m.compile(fastann::OptimizerConfig::defaults("adam"), {"binary_crossentropy"}, {}, {}, true);
  });
  sweep("set_weights", trained_model, [](Sequential& m) { m.set_weights(m.get_weights()); });
  sweep("set_optimizer_state", trained_model, [](Sequential& m) { m.set_optimizer_state(m.get_optimizer_state()); });
  sweep("evaluate", trained_model, [](Sequential& m) { m.evaluate(data().xt(), data().yt(), 16); });
  sweep("predict", trained_model, [](Sequential& m) { m.predict(data().xt()); });
  sweep("serialize", trained_model, [](Sequential& m) { fastann::serialize_model(m); });
  sweep("load", trained_model, [](Sequential& m) {
    const std::string bytes = fastann::serialize_model(m);
    fastann::load_model_from_memory(bytes.data(), bytes.size());
  });
  // fit changes the weights once it trains: the model must only stay usable (and its setup changes nothing).
  sweep(
      "fit", trained_model,
      [](Sequential& m) {
        fastann::FitOptions o;
        o.epochs = 2;
        o.batch_size = 16;
        o.validation_split = 0.25;
        m.fit(data().xt(), data().yt(), o);
      },
      /*unchanged=*/false);
}

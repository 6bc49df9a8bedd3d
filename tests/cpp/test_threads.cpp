// The concurrency contract of a model (nn/call_gate.hpp, docs/reliability.md) through the C++ API, in threads: readers
// together and beside a fit, one trainer, structural changes refused with StateError naming both calls, never a wait.
// CI also runs this file under ThreadSanitizer (the "threads" tests of .ci/run), which reports any data race.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fastann/fastann.hpp>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

using fastann::Dense;
using fastann::Sequential;
using fastann::Tensor;

namespace {

struct Data {
  int64_t n = 512, d = 16;
  std::vector<float> x, y;
  Data() {
    std::mt19937 gen(5);
    std::normal_distribution<float> dist;
    for (int64_t i = 0; i < n * d; ++i) x.push_back(dist(gen));
    for (int64_t i = 0; i < n; ++i) y.push_back(x[static_cast<size_t>(i * d)] > 0 ? 1.0f : 0.0f);
  }
  Tensor xt() { return Tensor::view(x.data(), {n, d}); }
  Tensor yt() { return Tensor::view(y.data(), {n, 1}); }
};

Sequential model() {
  Sequential m;
  m.add(Dense(32, "relu").with_input_dim(16));
  m.add(Dense(1, "sigmoid"));
  m.build(16, 3);
  m.compile(fastann::OptimizerConfig::defaults("adam"), {"binary_crossentropy"}, {"accuracy"});
  return m;
}

bool all_finite(const std::vector<Tensor>& ws) {
  for (const Tensor& w : ws) {
    for (int64_t i = 0; i < w.numel(); ++i) {
      if (!std::isfinite(w.data()[i])) return false;
    }
  }
  return true;
}

}  // namespace

TEST(Threads, ReadersRunTogetherAndEvaluatesMatchTheSerialResult) {
  Data d;
  Sequential m = model();
  const std::vector<double> want = m.evaluate(d.xt(), d.yt(), 64);
  const Tensor want_p = m.predict(d.xt());
  std::atomic<int> bad{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (t % 2 == 0) {
          if (m.evaluate(d.xt(), d.yt(), 64) != want) ++bad;
        } else {
          const Tensor p = m.predict(d.xt());
          if (std::memcmp(p.data(), want_p.data(), sizeof(float) * static_cast<size_t>(p.numel())) != 0) ++bad;
          (void)m.get_weights();
          (void)m.layer_info(0);
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(bad.load(), 0);
}

// A reader beside a fit sees the weights between two updates, never a torn mix: every weight of this model gets the
// same gradient (the input's columns are equal and the weights start equal), so all of them are equal after every
// step, while a copy made in the middle of an update would hold two steps' values (about 1e-5 apart here). Under
// ThreadSanitizer it also shows predict, evaluate and save beside a fit race with nothing.
TEST(Threads, ReadersBesideAFitSeeTheWeightsBetweenTwoUpdates) {
  const int64_t n = 64, d = 65536;
  std::vector<float> x(static_cast<size_t>(n * d)), y(static_cast<size_t>(n));
  std::mt19937 gen(11);
  std::normal_distribution<float> dist;
  for (int64_t i = 0; i < n; ++i) {
    const float v = dist(gen);  // y = 2 v = sum of the row's d inputs v / d times a weight of 2
    std::fill(x.begin() + i * d, x.begin() + (i + 1) * d, v / static_cast<float>(d));
    y[static_cast<size_t>(i)] = 2.0f * v;
  }
  const Tensor xt = Tensor::view(x.data(), {n, d}), yt = Tensor::view(y.data(), {n, 1});
  Sequential m;
  Dense layer(1);
  layer.use_bias = false;
  layer.kernel_initializer = fastann::InitializerSpec{"zeros"};
  m.add(layer.with_input_dim(d));
  m.build(d, 1);
  m.compile(fastann::OptimizerConfig::defaults("sgd"), {"mse"}, {});
  std::atomic<bool> done{false};
  std::thread trainer([&] {
    fastann::FitOptions o;
    o.epochs = 40, o.batch_size = 8, o.shuffle = false;
    m.fit(xt, yt, o);
    done = true;
  });
  int snapshots = 0, torn = 0, bad_outputs = 0;
  float first = 0.0f, last = 0.0f;
  while (!done || snapshots == 0) {
    const std::vector<Tensor> w = m.get_weights();
    const float* k = w.at(0).data();
    const auto [lo, hi] = std::minmax_element(k, k + d);
    if (*hi - *lo > 1e-7f * std::max(1.0f, std::abs(*hi))) ++torn;
    if (snapshots++ == 0) first = *lo;
    last = *lo;
    const Tensor p = m.predict(Tensor::view(x.data(), {4, d}));
    for (int64_t i = 0; i < 4; ++i) bad_outputs += std::isfinite(p.data()[i]) ? 0 : 1;
    if (snapshots % 16 == 0) {
      EXPECT_EQ(m.evaluate(xt, yt, 64).size(), 1u);
      EXPECT_FALSE(fastann::serialize_model(m).empty());
    }
  }
  trainer.join();
  EXPECT_EQ(torn, 0) << "of " << snapshots << " snapshots";
  EXPECT_EQ(bad_outputs, 0);
  EXPECT_GT(snapshots, 1);
  EXPECT_NE(first, last);  // the weights moved while they were read
}

TEST(Threads, ChangesAndASecondFitDuringAFitRaiseAtOnceNamingBothCalls) {
  Data d;
  Sequential m = model();
  std::atomic<bool> started{false}, release{false};
  fastann::FitCallbacks cb;
  cb.on_epoch_begin = [&](int epoch) {  // the fit stays in flight (in its callback) until the checks are done
    started = true;
    while (epoch == 0 && !release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  };
  fastann::FitOptions o;
  o.epochs = 3;
  o.batch_size = 16;
  std::thread fitter([&] { m.fit(d.xt(), d.yt(), o, cb); });
  while (!started) std::this_thread::yield();
  const auto expect_refused = [&](const char* call, const std::function<void()>& f) {
    const auto t0 = std::chrono::steady_clock::now();
    try {
      f();
      ADD_FAILURE() << call << " ran during fit";
    } catch (const fastann::StateError& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(call), std::string::npos) << msg;
      EXPECT_NE(msg.find("fit() is running on this model in another thread"), std::string::npos) << msg;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2)) << call << " waited";
  };
  expect_refused("add", [&] { m.add(Dense(1)); });
  expect_refused("compile", [&] { m.compile(fastann::OptimizerConfig::defaults("sgd"), {"mse"}); });
  expect_refused("fit", [&] { m.fit(d.xt(), d.yt()); });
  expect_refused("train_on_batch", [&] { m.train_on_batch(d.xt(), d.yt()); });
  expect_refused("build", [&] { m.build(16); });
  expect_refused("set_weights", [&] { m.set_weights(m.get_weights()); });
  // Readers run beside it.
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(m.predict(d.xt()).dim(0), d.n);
    EXPECT_EQ(m.evaluate(d.xt(), d.yt(), 128).size(), 2u);
  }
  release = true;
  fitter.join();
  EXPECT_TRUE(all_finite(m.get_weights()));
  m.add(Dense(1));  // allowed again once the fit returned
  EXPECT_EQ(m.num_layers(), 3u);
}

TEST(Threads, AddBesidePredictNeverCorruptsAndIsRefusedOrDone) {
  Data d;
  Sequential m = model();
  std::atomic<bool> stop{false};
  std::atomic<int> predicted{0}, other_errors{0};
  std::thread reader([&] {
    while (!stop) {
      try {
        const Tensor p = m.predict(d.xt());
        if (p.dim(0) != d.n) ++other_errors;
        ++predicted;
      } catch (const fastann::StateError& e) {
        if (std::string(e.what()).find("while add() is running") == std::string::npos) ++other_errors;
      }
    }
  });
  int added = 0, refused = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  // At least one predict must get through (on a loaded machine the reader may start after 100 adds).
  while (std::chrono::steady_clock::now() < end && (added < 100 || predicted.load() == 0) && added < 2000) {
    try {
      m.add(Dense(1));
      ++added;
    } catch (const fastann::StateError& e) {
      EXPECT_NE(std::string(e.what()).find("add is not allowed while predict() is running"), std::string::npos)
          << e.what();
      ++refused;
    }
  }
  stop = true;
  reader.join();
  EXPECT_EQ(other_errors.load(), 0);
  EXPECT_GT(predicted.load(), 0);
  EXPECT_EQ(m.num_layers(), 2u + static_cast<size_t>(added));
}

TEST(Threads, FitCallbacksMaySetWeightsAndReadButNotChangeTheStructure) {
  Data d;
  Sequential m = model();
  const std::vector<Tensor> w0 = m.get_weights();
  std::string refused;
  fastann::FitCallbacks cb;
  cb.on_epoch_end = [&](int, const fastann::Logs&) {
    m.set_weights(w0);  // a restore, as EarlyStopping(restore_best_weights) does
    (void)m.evaluate(d.xt(), d.yt(), 64);
    try {
      m.add(Dense(1));
    } catch (const fastann::StateError& e) {
      refused = e.what();
    }
    return false;
  };
  fastann::FitOptions o;
  o.epochs = 2;
  m.fit(d.xt(), d.yt(), o, cb);
  EXPECT_NE(refused.find("add is not allowed while the model is being fit by fit()"), std::string::npos) << refused;
  const std::vector<Tensor> w1 = m.get_weights();
  ASSERT_EQ(w1.size(), w0.size());
  for (size_t i = 0; i < w0.size(); ++i) {
    EXPECT_EQ(std::memcmp(w0[i].data(), w1[i].data(), sizeof(float) * static_cast<size_t>(w0[i].numel())), 0);
  }
}

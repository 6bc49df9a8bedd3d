// The gradient-reduction hook and sharded fit (fastann/distributed.hpp), without MPI: two models fit in two threads
// with a reducer that averages their gradients, as an MPI reducer does across processes.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdint>
#include <fastann/fastann.hpp>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

namespace {

using fastann::Dense;
using fastann::Sequential;
using fastann::Tensor;

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const int64_t gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_, count_ = 0;
  int64_t gen_ = 0;
};

// The workers' buffers, summed by every worker in the same order (so all get bitwise the same result).
struct Shared {
  explicit Shared(int n) : barrier(n), floats(static_cast<size_t>(n)), doubles(static_cast<size_t>(n)) {}
  Barrier barrier;
  std::vector<std::vector<float>> floats;
  std::vector<std::vector<double>> doubles;
};

class ThreadMean final : public fastann::GradientReducer {
 public:
  ThreadMean(Shared& s, int index) : s_(s), i_(static_cast<size_t>(index)) {}
  void reduce(float* g, int64_t n) override {
    ++reduces;
    all(g, n, s_.floats, 1.0f / static_cast<float>(s_.floats.size()));
  }
  void reduce_sums(double* v, int64_t n) override {
    ++sums;
    all(v, n, s_.doubles, 1.0);
  }
  void gradients_ready(float*, int64_t begin, int64_t end) override {
    tail_begin = begin;
    tail_end = end;
  }
  int64_t reduces = 0, sums = 0, tail_begin = -1, tail_end = -1;

 private:
  template <typename T>
  void all(T* p, int64_t n, std::vector<std::vector<T>>& bufs, T scale) {
    bufs[i_].assign(p, p + n);
    s_.barrier.wait();
    for (int64_t k = 0; k < n; ++k) {
      T t = bufs[0][static_cast<size_t>(k)];
      for (size_t w = 1; w < bufs.size(); ++w) t += bufs[w][static_cast<size_t>(k)];
      p[k] = scale == T(1) ? t : t * scale;
    }
    s_.barrier.wait();
  }
  Shared& s_;
  size_t i_;
};

Sequential make_model() {
  Sequential m;
  m.add(Dense(12, "relu").with_input_dim(6));
  m.add(Dense(1, "sigmoid"));
  m.build(6, 3);
  m.compile(fastann::OptimizerConfig::defaults("adam"), {"binary_crossentropy"}, {"accuracy"});
  return m;
}

struct Data {
  std::vector<float> x, y;
  Tensor xt() { return Tensor::view(x.data(), {static_cast<int64_t>(y.size()), 6}); }
  Tensor yt() { return Tensor::view(y.data(), {static_cast<int64_t>(y.size()), 1}); }
};

Data make_data(int64_t n) {
  std::mt19937 gen(5);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Data d;
  for (int64_t i = 0; i < n; ++i) {
    float s = 0;
    for (int j = 0; j < 6; ++j) d.x.push_back(u(gen)), s += d.x.back();
    d.y.push_back(s > 0 ? 1.0f : 0.0f);
  }
  return d;
}

class ShardedFit : public ::testing::TestWithParam<int64_t> {};

// 3 workers, batch 8 (global batches of 24). The last global batch of 100 rows has 4 (split 4, 0, 0); of 110 rows,
// 14 (8, 6, 0); 96 rows have no short batch.
TEST_P(ShardedFit, EqualsOneFitOnTheGlobalBatch) {
  const int64_t n = GetParam();
  constexpr int kWorkers = 3;
  Data d = make_data(n);
  Shared shared(kWorkers);
  std::vector<Sequential> models;
  std::vector<std::shared_ptr<ThreadMean>> reducers;
  for (int w = 0; w < kWorkers; ++w) {
    models.push_back(make_model());
    reducers.push_back(std::make_shared<ThreadMean>(shared, w));
    models.back().set_gradient_reducer(reducers.back());
  }
  std::vector<fastann::History> hist(kWorkers);
  std::vector<std::thread> threads;
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      fastann::FitOptions o;
      o.batch_size = 8;
      o.epochs = 2;
      o.seed = 9;
      o.shard_index = w;
      o.shard_count = kWorkers;
      hist[static_cast<size_t>(w)] = models[static_cast<size_t>(w)].fit(d.xt(), d.yt(), o);
    });
  }
  for (auto& t : threads) t.join();

  Sequential ref = make_model();
  fastann::FitOptions o;
  o.batch_size = 8 * kWorkers;
  o.epochs = 2;
  o.seed = 9;
  const fastann::History h = ref.fit(d.xt(), d.yt(), o);
  const auto rw = ref.get_weights();
  for (int w = 0; w < kWorkers; ++w) {
    const auto ww = models[static_cast<size_t>(w)].get_weights();
    const auto w0 = models[0].get_weights();
    for (size_t k = 0; k < rw.size(); ++k) {
      for (int64_t i = 0; i < rw[k].numel(); ++i) {
        ASSERT_EQ(ww[k].data()[i], w0[k].data()[i]) << "worker " << w << " weight " << k;  // bitwise
        EXPECT_NEAR(ww[k].data()[i], rw[k].data()[i], 1e-5) << "weight " << k << " element " << i;
      }
    }
    for (const auto& kv : h.history) {
      const auto& mine = hist[static_cast<size_t>(w)][kv.first];
      ASSERT_EQ(mine.size(), kv.second.size());
      for (size_t e = 0; e < mine.size(); ++e) EXPECT_NEAR(mine[e], kv.second[e], 1e-6) << kv.first;
    }
    const auto& r = *reducers[static_cast<size_t>(w)];
    EXPECT_EQ(r.reduces, 2 * ((n + 23) / 24));
    EXPECT_EQ(r.sums, 2);
    EXPECT_EQ(r.tail_end - r.tail_begin, 32);  // the last layer's kernel (12x1) and bias, each padded to 16 floats
  }
}

INSTANTIATE_TEST_SUITE_P(Distributed, ShardedFit, ::testing::Values(int64_t{96}, int64_t{100}, int64_t{110}));

TEST(Distributed, ShardOptionsAreChecked) {
  Data d = make_data(40);
  Sequential m = make_model();
  fastann::FitOptions o;
  o.shard_count = 2;
  EXPECT_THROW(m.fit(d.xt(), d.yt(), o), fastann::StateError);  // no reducer
  Shared shared(1);
  m.set_gradient_reducer(std::make_shared<ThreadMean>(shared, 0));
  o.shard_index = 2;
  EXPECT_THROW(m.fit(d.xt(), d.yt(), o), fastann::ValueError);
  o.shard_index = 0;
  o.shard_count = 0;
  EXPECT_THROW(m.fit(d.xt(), d.yt(), o), fastann::ValueError);
  m.set_gradient_reducer(nullptr);
  EXPECT_EQ(m.gradient_reducer(), nullptr);
}

}  // namespace

// Sequential from C++: build, compile, fit, evaluate, predict; predictions against a forward pass computed here in
// double from get_weights(); the errors of misuse.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fastann/fastann.hpp>
#include <random>
#include <string>
#include <vector>

namespace {

using fastann::Dense;
using fastann::Sequential;
using fastann::Tensor;

// Rows of uniform [-1, 1) values from a fixed seed (the C++ side has no NumPy).
std::vector<float> random_rows(int64_t n, int64_t d, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n * d));
  for (float& x : v) x = u(gen);
  return v;
}

// A reference forward pass in double. Each layer: kernel (in, out) row-major, bias (out), activation.
struct RefLayer {
  std::vector<double> kernel, bias;
  int64_t in = 0, out = 0;
  std::string activation;
};

double act1(const std::string& name, double x) {
  if (name == "linear") return x;
  if (name == "relu") return x > 0 ? x : 0.0;
  if (name == "tanh") return std::tanh(x);
  if (name == "sigmoid") return 1.0 / (1.0 + std::exp(-x));
  ADD_FAILURE() << "no reference for activation " << name;
  return 0.0;
}

// Returns the final pre-activation (logits) in `logits` when given, and the outputs.
std::vector<double> ref_forward(const std::vector<RefLayer>& layers, const std::vector<float>& x, int64_t n,
                                std::vector<double>* logits = nullptr) {
  std::vector<double> cur(x.begin(), x.end());
  int64_t width = layers.front().in;
  for (const RefLayer& l : layers) {
    EXPECT_EQ(width, l.in);
    std::vector<double> z(static_cast<size_t>(n * l.out));
    for (int64_t r = 0; r < n; ++r) {
      for (int64_t j = 0; j < l.out; ++j) {
        double s = l.bias.empty() ? 0.0 : l.bias[static_cast<size_t>(j)];
        for (int64_t k = 0; k < l.in; ++k) {
          s += cur[static_cast<size_t>(r * l.in + k)] * l.kernel[static_cast<size_t>(k * l.out + j)];
        }
        z[static_cast<size_t>(r * l.out + j)] = s;
      }
    }
    if (logits) *logits = z;
    if (l.activation == "softmax") {
      for (int64_t r = 0; r < n; ++r) {
        double* row = z.data() + r * l.out;
        const double mx = *std::max_element(row, row + l.out);
        double sum = 0.0;
        for (int64_t j = 0; j < l.out; ++j) sum += (row[j] = std::exp(row[j] - mx));
        for (int64_t j = 0; j < l.out; ++j) row[j] /= sum;
      }
    } else {
      for (double& v : z) v = act1(l.activation, v);
    }
    cur = std::move(z);
    width = l.out;
  }
  return cur;
}

// The model's layers as RefLayers (Dense and Activation layers, via layer_info and get_layer_weights).
std::vector<RefLayer> ref_layers(const Sequential& m) {
  std::vector<RefLayer> out;
  for (size_t i = 0; i < m.num_layers(); ++i) {
    const fastann::LayerInfo info = m.layer_info(i);
    RefLayer l;
    l.in = info.input_dim;
    l.out = info.output_dim;
    l.activation = info.activation;
    const std::vector<Tensor> w = m.get_layer_weights(i);
    if (info.type == "Dense") {
      EXPECT_EQ(w.size(), info.use_bias ? 2u : 1u);
      EXPECT_EQ(w[0].shape(), (fastann::Shape{l.in, l.out}));
      l.kernel.assign(w[0].data(), w[0].data() + w[0].numel());
      if (info.use_bias) l.bias.assign(w[1].data(), w[1].data() + w[1].numel());
    } else {
      EXPECT_EQ(info.type, "Activation");
      EXPECT_TRUE(w.empty());
      l.kernel.assign(static_cast<size_t>(l.in * l.out), 0.0);  // identity
      for (int64_t k = 0; k < l.in; ++k) l.kernel[static_cast<size_t>(k * l.out + k)] = 1.0;
    }
    out.push_back(std::move(l));
  }
  return out;
}

void expect_close(const float* got, const std::vector<double>& want, double rtol, const char* what) {
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], rtol * (1.0 + std::fabs(want[i]))) << what << " element " << i;
  }
}

Sequential classifier(uint64_t seed) {
  Sequential m;
  m.add(Dense(6, "tanh").with_input_dim(4));
  m.add(Dense(5, "relu"));
  m.add(fastann::Activation("sigmoid"));
  m.add(Dense(3, "softmax"));
  m.build(4, seed);
  fastann::OptimizerConfig adam = fastann::OptimizerConfig::defaults("adam");
  adam.learning_rate = 0.01;
  m.compile(adam, {"categorical_crossentropy"}, {"accuracy"});
  return m;
}

// One-hot labels of the nearest of three directions.
std::vector<float> three_class_labels(const std::vector<float>& x, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n * 3), 0.0f);
  for (int64_t r = 0; r < n; ++r) {
    const float* row = x.data() + r * 4;
    const float s[3] = {row[0] + row[1], row[2] - row[0], row[3] - row[1]};
    const int c = static_cast<int>(std::max_element(s, s + 3) - s);
    y[static_cast<size_t>(r * 3 + c)] = 1.0f;
  }
  return y;
}

TEST(Sequential, FitDecreasesLossAndPredictsTheHandComputedForwardPass) {
  const int64_t n = 256;
  std::vector<float> x = random_rows(n, 4, 1);
  std::vector<float> y = three_class_labels(x, n);
  Sequential m = classifier(7);
  const Tensor xt = Tensor::view(x.data(), {n, 4}), yt = Tensor::view(y.data(), {n, 3});

  fastann::FitOptions o;
  o.epochs = 40;
  o.batch_size = 16;
  o.seed = 3;
  const fastann::History h = m.fit(xt, yt, o);
  ASSERT_EQ(h.epoch.size(), 40u);
  const std::vector<double>& loss = h["loss"];
  const std::vector<double>& acc = h["accuracy"];
  EXPECT_LT(loss.back(), 0.5 * loss.front()) << "first " << loss.front() << " last " << loss.back();
  EXPECT_GT(acc.back(), acc.front());
  EXPECT_GT(acc.back(), 0.8);
  EXPECT_THROW(h["val_loss"], fastann::ValueError);
  EXPECT_EQ(m.optimizer_iterations(), 40 * 16);

  // predict == the forward pass in double from the trained weights.
  std::vector<double> logits;
  const std::vector<double> want = ref_forward(ref_layers(m), x, n, &logits);
  const Tensor p = m.predict(xt);
  ASSERT_EQ(p.shape(), (fastann::Shape{n, 3}));
  expect_close(p.data(), want, 1e-5, "predict");

  // evaluate == mean categorical cross-entropy (from the logits) and accuracy, computed here.
  double ce = 0.0, correct = 0.0;
  for (int64_t r = 0; r < n; ++r) {
    const double* z = logits.data() + r * 3;
    const double mx = *std::max_element(z, z + 3);
    const double lse = mx + std::log(std::exp(z[0] - mx) + std::exp(z[1] - mx) + std::exp(z[2] - mx));
    const int label = static_cast<int>(std::max_element(y.data() + r * 3, y.data() + r * 3 + 3) - (y.data() + r * 3));
    ce += lse - z[label];
    correct += (std::max_element(z, z + 3) - z) == label ? 1.0 : 0.0;
  }
  const std::vector<double> ev = m.evaluate(xt, yt, 32);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_NEAR(ev[0], ce / n, 1e-5 * (1.0 + ce / n));
  EXPECT_DOUBLE_EQ(ev[1], correct / n);
  EXPECT_EQ(m.metrics_names(), (std::vector<std::string>{"loss", "accuracy"}));
}

TEST(Sequential, PredictDoesNotDependOnBatchSizeOrDestination) {
  const int64_t n = 301;
  std::vector<float> x = random_rows(n, 4, 2);
  Sequential m = classifier(11);
  const Tensor xt = Tensor::view(x.data(), {n, 4});
  const Tensor p = m.predict(xt);
  for (int64_t bs : {1, 7, 64, 300, 1000}) {
    const Tensor q = m.predict(xt, bs);
    EXPECT_EQ(std::memcmp(p.data(), q.data(), sizeof(float) * static_cast<size_t>(p.numel())), 0) << "batch " << bs;
  }
  std::vector<float> mine(static_cast<size_t>(n * 3), -1.0f);
  Tensor out = Tensor::view(mine.data(), {n, 3});
  m.predict_into(xt, out);
  EXPECT_EQ(std::memcmp(p.data(), mine.data(), sizeof(float) * mine.size()), 0);
  // One row at a time (the few-row GEMM path) gives the same numbers too, within float rounding.
  for (int64_t r = 0; r < n; r += 37) {
    const Tensor one = m.predict(xt.rows(r, r + 1));
    for (int j = 0; j < 3; ++j) EXPECT_NEAR(one.data()[j], p.data()[r * 3 + j], 1e-6f) << r;
  }
}

TEST(Sequential, RegressionWithSgdMomentumLearns) {
  const int64_t n = 512;
  std::vector<float> x = random_rows(n, 3, 5), y(static_cast<size_t>(n));
  for (int64_t r = 0; r < n; ++r) {
    const float* v = x.data() + r * 3;
    y[static_cast<size_t>(r)] = std::sin(2.0f * v[0]) + 0.5f * v[1] * v[2];
  }
  fastann::set_random_seed(123);
  Sequential m;
  m.add(Dense(16, "tanh").with_input_dim(3));
  m.add(Dense(1));
  fastann::OptimizerConfig sgd = fastann::OptimizerConfig::defaults("sgd");
  sgd.learning_rate = 0.05;
  sgd.momentum = 0.9;
  m.compile(sgd, {"mse"}, {"mae"});
  fastann::FitOptions o;
  o.epochs = 60;
  o.validation_split = 0.25;
  const fastann::History h = m.fit(Tensor::view(x.data(), {n, 3}), Tensor::view(y.data(), {n, 1}), o);
  EXPECT_LT(h["loss"].back(), 0.2 * h["loss"].front());
  EXPECT_LT(h["val_loss"].back(), 0.2 * h["val_loss"].front());
  EXPECT_EQ(h["mae"].size(), 60u);
  EXPECT_EQ(h["val_mae"].size(), 60u);

  const std::vector<double> want = ref_forward(ref_layers(m), x, n);
  const Tensor p = m.predict(Tensor::view(x.data(), {n, 3}));
  expect_close(p.data(), want, 1e-5, "predict");
}

TEST(Sequential, SameSeedsGiveBitwiseIdenticalTraining) {
  const int64_t n = 200;
  std::vector<float> x = random_rows(n, 4, 9);
  std::vector<float> y = three_class_labels(x, n);
  std::vector<std::vector<Tensor>> weights;
  for (int run = 0; run < 2; ++run) {
    Sequential m = classifier(42);
    fastann::FitOptions o;
    o.epochs = 3;
    o.seed = 5;
    m.fit(Tensor::view(x.data(), {n, 4}), Tensor::view(y.data(), {n, 3}), o);
    weights.push_back(m.get_weights());
  }
  ASSERT_EQ(weights[0].size(), 6u);
  for (size_t i = 0; i < weights[0].size(); ++i) {
    ASSERT_EQ(weights[0][i].shape(), weights[1][i].shape());
    EXPECT_EQ(std::memcmp(weights[0][i].data(), weights[1][i].data(),
                          sizeof(float) * static_cast<size_t>(weights[0][i].numel())),
              0)
        << "weight " << i;
  }
}

TEST(Sequential, SetWeightsThenPredict) {
  Sequential m;
  m.add(Dense(2, "relu").with_input_dim(3));
  m.add(Dense(1, "linear"));
  const float k0[6] = {1, -1, 0.5f, 2, 0, 0}, b0[2] = {0.25f, -10}, k1[2] = {2, 3}, b1[1] = {1};
  m.set_weights({Tensor::from_data(k0, {3, 2}), Tensor::from_data(b0, {2}), Tensor::from_data(k1, {2, 1}),
                 Tensor::from_data(b1, {1})});
  const float x[3] = {1, 2, 4};  // h = relu([1 + 1 + 0 + .25, -1 + 4 + 0 - 10]) = [2.25, 0]; y = 4.5 + 1
  const Tensor y = m.predict(Tensor::view(x, {1, 3}));
  EXPECT_EQ(y.data()[0], 5.5f);
  EXPECT_EQ(m.count_params(), 3 * 2 + 2 + 2 + 1);
}

TEST(SequentialErrors, PredictBeforeBuildThrowsStateError) {
  Sequential empty;
  const float x[4] = {1, 2, 3, 4};
  EXPECT_THROW(empty.predict(Tensor::view(x, {1, 4})), fastann::StateError);
  Sequential m;
  m.add(Dense(3));  // no input_dim: not built until it sees data
  EXPECT_FALSE(m.built());
  EXPECT_EQ(m.input_dim(), 0);
  try {
    m.predict(Tensor::view(x, {1, 4}));
    FAIL() << "predict on an unbuilt model did not throw";
  } catch (const fastann::StateError& e) {
    EXPECT_NE(std::string(e.what()).find("not built"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.count_params(), fastann::StateError);
}

TEST(SequentialErrors, WrongFeatureCountThrowsValueError) {
  Sequential m = classifier(1);
  std::vector<float> x = random_rows(5, 3, 1);
  try {
    m.predict(Tensor::view(x.data(), {5, 3}));
    FAIL() << "predict with 3 features on a 4-feature model did not throw";
  } catch (const fastann::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("3 features"), std::string::npos) << e.what();
  }
  EXPECT_THROW(m.predict(Tensor::view(x.data(), {15})), fastann::ValueError);
  std::vector<float> y(15, 0.0f);
  EXPECT_THROW(m.fit(Tensor::view(x.data(), {5, 3}), Tensor::view(y.data(), {5, 3})), fastann::ValueError);
  EXPECT_THROW(m.evaluate(Tensor::view(x.data(), {5, 3}), Tensor::view(y.data(), {5, 3})), fastann::ValueError);
}

// Losses and metrics come from the registries of csrc/nn/losses.cpp and metrics.cpp: every Keras name and alias
// compiles, and an unknown one is a ValueError listing them.
TEST(SequentialErrors, LossAndMetricNamesComeFromTheRegistries) {
  Sequential m;
  m.add(Dense(3, "softmax").with_input_dim(4));
  const auto adam = fastann::OptimizerConfig::defaults("adam");
  for (const char* loss : {"mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "huber_loss",
                           "categorical_crossentropy", "binary_crossentropy"}) {
    EXPECT_NO_THROW(m.compile(adam, {loss}, {"mean_squared_error", "mae", "accuracy", "auc"})) << loss;
  }
  try {
    m.compile(adam, {"msee"});
    FAIL() << "expected ValueError";
  } catch (const fastann::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown loss 'msee'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("huber_loss"), std::string::npos) << msg;
  }
  try {
    m.compile(adam, {"mse"}, {"f1"});
    FAIL() << "expected ValueError";
  } catch (const fastann::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("unknown metric 'f1'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("accuracy"), std::string::npos) << msg;
    EXPECT_NE(msg.find("mean_absolute_error"), std::string::npos) << msg;
  }
}

TEST(SequentialErrors, BadArgumentsAndStates) {
  std::vector<float> x = random_rows(8, 4, 1), y(8 * 3, 0.0f);
  const Tensor xt = Tensor::view(x.data(), {8, 4}), yt = Tensor::view(y.data(), {8, 3});
  Sequential m;
  m.add(Dense(3, "softmax").with_input_dim(4));
  EXPECT_THROW(m.fit(xt, yt), fastann::StateError);  // not compiled
  EXPECT_THROW(m.optimizer_config(), fastann::StateError);
  EXPECT_THROW(m.compile(fastann::OptimizerConfig::defaults("adam"), {"no_such_loss"}), fastann::ValueError);
  EXPECT_THROW(fastann::OptimizerConfig::defaults("no_such_optimizer"), fastann::ValueError);
  EXPECT_THROW(m.add(Dense(2, "no_such_activation")), fastann::ValueError);
  m.compile(fastann::OptimizerConfig::defaults("rmsprop"), {"categorical_crossentropy"});
  EXPECT_THROW(m.fit(xt, yt.rows(0, 7)), fastann::ValueError);                   // sample counts differ
  EXPECT_THROW(m.fit(xt, Tensor::view(y.data(), {8, 2})), fastann::ValueError);  // wrong output width
  fastann::FitOptions o;
  o.batch_size = 0;
  EXPECT_THROW(m.fit(xt, yt, o), fastann::ValueError);
  EXPECT_THROW(m.set_weights({}), fastann::ValueError);
  EXPECT_THROW(m.set_weights({Tensor({4, 2}), Tensor({3})}), fastann::ValueError);
  std::vector<float> out(8 * 2);
  Tensor wrong = Tensor::view(out.data(), {8, 2});
  EXPECT_THROW(m.predict_into(xt, wrong), fastann::ValueError);
  EXPECT_THROW(m.layer_info(5), fastann::ValueError);
  EXPECT_THROW(fastann::set_num_threads(0), fastann::ValueError);
}

TEST(SequentialErrors, CallbacksMayNotRestructureDuringFit) {
  std::vector<float> x = random_rows(16, 4, 1), y(16 * 3, 0.0f);
  for (int r = 0; r < 16; ++r) y[static_cast<size_t>(r * 3 + r % 3)] = 1.0f;
  Sequential m = classifier(2);
  fastann::FitCallbacks cb;
  bool threw = false;
  int epochs_seen = 0;
  cb.on_epoch_end = [&](int, const fastann::Logs& logs) {
    ++epochs_seen;
    EXPECT_EQ(logs.size(), 2u);
    try {
      m.add(Dense(2));
    } catch (const fastann::StateError&) {
      threw = true;
    }
    return true;  // stop after the first epoch
  };
  fastann::FitOptions o;
  o.epochs = 5;
  const fastann::History h = m.fit(Tensor::view(x.data(), {16, 4}), Tensor::view(y.data(), {16, 3}), o, cb);
  EXPECT_TRUE(threw);
  EXPECT_EQ(epochs_seen, 1);
  EXPECT_EQ(h.epoch.size(), 1u);
}

// --- sample and class weights, streaming metrics -----------------------------------------------------------------

// Binary data and a model with a sigmoid output; weights of the samples; references from ref_forward in double.
struct WeightedCase {
  int64_t n = 37;
  std::vector<float> x = random_rows(37, 4, 11), y, w;
  WeightedCase() {
    for (int64_t r = 0; r < n; ++r) {
      y.push_back(x[static_cast<size_t>(r * 4)] + 0.5f * x[static_cast<size_t>(r * 4 + 1)] > 0.1f ? 1.0f : 0.0f);
      w.push_back(0.1f + 0.3f * static_cast<float>(r % 5));
    }
  }
  Tensor xt() { return Tensor::view(x.data(), {n, 4}); }
  Tensor yt() { return Tensor::view(y.data(), {n, 1}); }
  Tensor wt() { return Tensor::view(w.data(), {n}); }
};

Sequential binary_model(double lr, std::vector<fastann::MetricConfig> metrics,
                        std::vector<fastann::MetricConfig> weighted = {}) {
  Sequential m;
  m.add(Dense(6, "tanh").with_input_dim(4));
  m.add(Dense(1, "sigmoid"));
  m.build(4, 7);
  fastann::OptimizerConfig sgd = fastann::OptimizerConfig::defaults("sgd");
  sgd.learning_rate = lr;
  m.compile(sgd, {"binary_crossentropy"}, metrics, weighted);
  return m;
}

TEST(SequentialWeights, LossIsWeightedSumOverSamples) {
  WeightedCase d;
  Sequential m = binary_model(0.0, {"accuracy"}, {"accuracy"});
  const std::vector<double> p = ref_forward(ref_layers(m), d.x, d.n);
  double wl = 0.0, wacc = 0.0, acc = 0.0, wsum = 0.0;
  for (int64_t r = 0; r < d.n; ++r) {
    const double pr = p[static_cast<size_t>(r)], yr = d.y[static_cast<size_t>(r)], wr = d.w[static_cast<size_t>(r)];
    wl += wr * -(yr * std::log(pr) + (1 - yr) * std::log(1 - pr));
    const double hit = (pr > 0.5) == (yr > 0.5) ? 1.0 : 0.0;
    acc += hit;
    wacc += wr * hit;
    wsum += wr;
  }
  EXPECT_EQ(m.metrics_names(), (std::vector<std::string>{"loss", "accuracy", "weighted_accuracy"}));
  for (int64_t bs : {1, 8, 100}) {
    const std::vector<double> v = m.evaluate(d.xt(), d.yt(), d.wt(), bs);
    EXPECT_NEAR(v[0], wl / static_cast<double>(d.n), 1e-5 * v[0]) << "batch size " << bs;  // Keras 3: / samples
    EXPECT_NEAR(v[1], acc / static_cast<double>(d.n), 1e-12);
    EXPECT_NEAR(v[2], wacc / wsum, 1e-6);
  }
  fastann::FitOptions o;
  o.batch_size = 8;
  o.shuffle = false;
  o.sample_weight = d.wt();
  const fastann::History h = m.fit(d.xt(), d.yt(), o);
  EXPECT_NEAR(h["loss"][0], wl / static_cast<double>(d.n), 1e-5 * h["loss"][0]);
}

TEST(SequentialWeights, ClassWeightIsTheMatchingSampleWeight) {
  WeightedCase d;
  std::vector<float> sw;
  for (float label : d.y) sw.push_back(label > 0.5f ? 3.0f : 0.5f);
  Sequential a = binary_model(0.1, {"auc"}), b = binary_model(0.1, {"auc"});
  fastann::FitOptions oa, ob;
  oa.epochs = ob.epochs = 3;
  oa.seed = ob.seed = 4;
  oa.batch_size = ob.batch_size = 8;
  oa.class_weight = {0.5f, 3.0f};
  ob.sample_weight = Tensor::view(sw.data(), {d.n});
  const fastann::History ha = a.fit(d.xt(), d.yt(), oa), hb = b.fit(d.xt(), d.yt(), ob);
  EXPECT_EQ(ha["loss"], hb["loss"]);
  EXPECT_EQ(ha["auc"], hb["auc"]);
  const std::vector<Tensor> wa = a.get_weights(), wb = b.get_weights();
  for (size_t i = 0; i < wa.size(); ++i) {
    EXPECT_EQ(0, std::memcmp(wa[i].data(), wb[i].data(), static_cast<size_t>(wa[i].numel()) * sizeof(float)));
  }
  EXPECT_EQ(a.train_on_batch(d.xt(), d.yt(), Tensor(), {0.5f, 3.0f}),
            b.train_on_batch(d.xt(), d.yt(), Tensor::view(sw.data(), {d.n})));
}

TEST(SequentialWeights, BadWeightsAreValueErrors) {
  WeightedCase d;
  Sequential m = binary_model(0.1, {});
  auto message = [&](const fastann::FitOptions& o) -> std::string {
    try {
      m.fit(d.xt(), d.yt(), o);
    } catch (const fastann::ValueError& e) {
      return e.what();
    }
    return "no error";
  };
  fastann::FitOptions o;
  o.sample_weight = d.wt().rows(0, 5);
  EXPECT_NE(message(o).find("fit: sample_weight must have shape (37,)"), std::string::npos) << message(o);
  d.w[3] = -1.0f;
  o.sample_weight = d.wt();
  EXPECT_NE(message(o).find("got -1 at row 3"), std::string::npos) << message(o);
  d.w[3] = 1.0f;
  o.class_weight = {1.0f, 2.0f};
  EXPECT_NE(message(o).find("cannot be given together"), std::string::npos) << message(o);
  o.sample_weight = Tensor();
  o.class_weight = {1.0f, 2.0f, 3.0f};
  EXPECT_NE(message(o).find("class_weight has 3 entries but the model has 2 classes"), std::string::npos) << message(o);
  o.class_weight = {1.0f, -2.0f};
  EXPECT_NE(message(o).find("class_weight for class 1 must be finite and >= 0"), std::string::npos) << message(o);
  o.class_weight = {};
  o.validation_sample_weight = d.wt();
  EXPECT_NE(message(o).find("validation_sample_weight needs validation_x"), std::string::npos) << message(o);
  EXPECT_THROW(m.evaluate(d.xt(), d.yt(), d.wt().rows(0, 36), 8), fastann::ValueError);
  EXPECT_THROW(m.train_on_batch(d.xt(), d.yt(), Tensor(), {1.0f, 1.0f, 1.0f}), fastann::ValueError);
}

TEST(SequentialMetrics, StreamingAucPrecisionRecallAndNames) {
  WeightedCase d;
  fastann::MetricConfig auc_fine("auc"), prec03("precision");
  auc_fine.num_thresholds = 2000;
  prec03.threshold = 0.3;
  prec03.display_name = "p03";
  Sequential m = binary_model(0.0, {"auc", "precision", "recall", auc_fine, prec03, "auc"});
  EXPECT_EQ(m.metrics_names(),
            (std::vector<std::string>{"loss", "auc", "precision", "recall", "auc_1", "p03", "auc_2"}));
  const std::vector<double> p = ref_forward(ref_layers(m), d.x, d.n);
  // Exact ROC AUC (ties as half) and confusion counts at the thresholds, in double.
  double pairs = 0.0, good = 0.0, tp = 0.0, fp = 0.0, fn = 0.0, tp3 = 0.0, fp3 = 0.0;
  for (int64_t i = 0; i < d.n; ++i) {
    const bool yi = d.y[static_cast<size_t>(i)] > 0.5f;
    const double pi = p[static_cast<size_t>(i)];
    tp += yi && pi > 0.5;
    fp += !yi && pi > 0.5;
    fn += yi && !(pi > 0.5);
    tp3 += yi && pi > 0.3;
    fp3 += !yi && pi > 0.3;
    if (!yi) continue;
    for (int64_t j = 0; j < d.n; ++j) {
      if (d.y[static_cast<size_t>(j)] > 0.5f) continue;
      const double pj = p[static_cast<size_t>(j)];
      pairs += 1.0;
      good += pi > pj ? 1.0 : (pi == pj ? 0.5 : 0.0);
    }
  }
  const std::vector<double> v = m.evaluate(d.xt(), d.yt(), 5);  // 8 batches: the counts stream over all of them
  EXPECT_NEAR(v[1], good / pairs, 0.02);
  EXPECT_NEAR(v[4], good / pairs, 2e-3);
  EXPECT_NEAR(v[2], tp / (tp + fp), 1e-12);
  EXPECT_NEAR(v[3], tp / (tp + fn), 1e-12);
  EXPECT_NEAR(v[5], tp3 / (tp3 + fp3), 1e-12);
  EXPECT_EQ(v[6], v[1]);
}

TEST(SequentialMetrics, BadMetricParameters) {
  fastann::MetricConfig k0("top_k_categorical_accuracy"), t1("auc"), th("precision");
  k0.k = 0;
  t1.num_thresholds = 1;
  th.threshold = 2.0;
  EXPECT_THROW(binary_model(0.0, {k0}), fastann::ValueError);
  EXPECT_THROW(binary_model(0.0, {t1}), fastann::ValueError);
  EXPECT_THROW(binary_model(0.0, {th}), fastann::ValueError);
  EXPECT_THROW(binary_model(0.0, {"sparse_top_k_categorical_accuracy"}), fastann::ValueError);
  EXPECT_THROW(binary_model(0.0, {"f1"}), fastann::ValueError);
}

// Sizes computed from shapes are checked before anything is allocated: a weight whose element count passes int64_t
// raises ValueError naming the shape (it once wrapped, and zero-filled 16 GiB buffers before failing); weights that
// fit in int64_t but not in memory raise OutOfMemoryError at once; a failed add leaves the model as it was.
TEST(Sequential, WeightShapesPastInt64AreRejectedBeforeAllocating) {
  Sequential first;
  try {
    first.add(Dense(int64_t{1} << 32).with_input_dim(int64_t{1} << 32));
    FAIL() << "a (2**32, 2**32) kernel was accepted";
  } catch (const fastann::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("(4294967296, 4294967296) is too large"), std::string::npos) << e.what();
  }
  Sequential big;  // (2**23, 2**40): 2**63 elements, one past int64_t
  EXPECT_THROW(big.add(Dense(int64_t{1} << 40).with_input_dim(int64_t{1} << 23)), fastann::ValueError);
  // A built model given a layer it has no memory for: OutOfMemoryError at once, its weights as they were.
  Sequential m;
  m.add(Dense(3).with_input_dim(4));
  const std::vector<Tensor> before = m.get_weights();
  try {
    m.add(Dense(int64_t{1} << 40));  // a (3, 2**40) kernel: 12 TiB
    FAIL() << "a 12 TiB kernel was accepted";
  } catch (const fastann::OutOfMemoryError& e) {
    EXPECT_NE(std::string(e.what()).find("kernel of shape (3, 1099511627776)"), std::string::npos) << e.what();
  }
  const std::vector<Tensor> after = m.get_weights();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i) {
    ASSERT_EQ(after[i].shape(), before[i].shape());
    EXPECT_EQ(std::memcmp(after[i].data(), before[i].data(), before[i].nbytes()), 0);
  }
}

TEST(Sequential, ReshapeAndFlattenProductsPastInt64AreRejected) {
  const std::string huge = std::to_string(int64_t{1} << 40);
  for (const std::string& target : {"[" + huge + ", " + huge + "]", "[" + huge + ", " + huge + ", -1]"}) {
    Sequential m;
    m.add(Dense(4).with_input_dim(4));
    try {
      m.add(fastann::layer("Reshape", R"({"target_shape": )" + target + "}"));
      FAIL() << "Reshape to " << target << " was accepted";
    } catch (const fastann::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find("is too large"), std::string::npos) << e.what();
    }
    EXPECT_EQ(m.get_weights().size(), 2u);
  }
  Sequential f;
  EXPECT_THROW(f.add(fastann::layer("Flatten", R"({"input_shape": [)" + huge + ", " + huge + "]}")),
               fastann::ValueError);
}

// batch_size = INT64_MAX is clipped to the samples (fit, evaluate, predict): no rows * width product overflows.
TEST(Sequential, BatchSizeInt64MaxIsClippedToTheSamples) {
  const int64_t n = 10;
  std::vector<float> x = random_rows(n, 3, 7), y = random_rows(n, 1, 8);
  const Tensor xt = Tensor::view(x.data(), {n, 3}), yt = Tensor::view(y.data(), {n, 1});
  auto model = [] {
    Sequential m;
    m.add(Dense(5, "relu").with_input_dim(3));
    m.add(Dense(1));
    m.compile(fastann::OptimizerConfig::defaults("sgd"), {"mse"});
    return m;
  };
  Sequential a = model(), b = model();
  b.set_weights(a.get_weights());
  const Tensor pa = a.predict(xt, INT64_MAX), pb = a.predict(xt, n);
  EXPECT_EQ(std::memcmp(pa.data(), pb.data(), pa.nbytes()), 0);
  EXPECT_EQ(a.evaluate(xt, yt, INT64_MAX), a.evaluate(xt, yt, n));
  fastann::FitOptions o;
  o.shuffle = false;
  o.epochs = 2;
  o.batch_size = INT64_MAX;
  const fastann::History ha = a.fit(xt, yt, o);
  o.batch_size = n;
  const fastann::History hb = b.fit(xt, yt, o);
  EXPECT_EQ(ha["loss"], hb["loss"]);
}

// epochs = INT64_MAX (Keras's "until a callback stops it") runs until on_epoch_end says stop.
TEST(Sequential, EpochsInt64MaxRunsUntilACallbackStops) {
  std::vector<float> x = random_rows(8, 3, 9), y = random_rows(8, 1, 10);
  Sequential m;
  m.add(Dense(1).with_input_dim(3));
  m.compile(fastann::OptimizerConfig::defaults("sgd"), {"mse"});
  fastann::FitOptions o;
  o.epochs = INT64_MAX;
  o.initial_epoch = INT64_MAX - 3;
  fastann::FitCallbacks cb;
  int64_t seen = 0;
  cb.on_epoch_end = [&](int64_t epoch, const fastann::Logs&) {
    EXPECT_EQ(epoch, INT64_MAX - 3 + seen);
    return ++seen == 2;
  };
  const fastann::History h = m.fit(Tensor::view(x.data(), {8, 3}), Tensor::view(y.data(), {8, 1}), o, cb);
  EXPECT_EQ(seen, 2);
  EXPECT_EQ(h.epoch, (std::vector<int64_t>{INT64_MAX - 3, INT64_MAX - 2}));
}

}  // namespace

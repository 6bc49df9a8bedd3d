// The model file from C++: round trips are bitwise, resumed training equals uninterrupted training, and hostile
// bytes (truncation at every offset, every single-byte corruption, edited headers) raise fastann::IOError, never
// crash. The Python suite (tests/test_model_file.py) covers the same reader through the bindings.
#include <gtest/gtest.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "fastann/fastann.hpp"

namespace {

using fastann::Tensor;

fastann::Sequential make_model(uint64_t seed) {
  fastann::Sequential m;
  fastann::Dense hidden(8, "tanh");
  hidden.input_dim = 3;
  hidden.name = "hidden";
  hidden.kernel_initializer.seed = seed;
  fastann::Dense out(2, "softmax");
  out.name = "out";
  out.kernel_initializer.seed = seed + 1;
  m.add(hidden);
  m.add(out);
  m.compile(fastann::OptimizerConfig::defaults("adam"), {"categorical_crossentropy"}, {"accuracy"});
  return m;
}

struct Data {
  std::vector<float> x, y;
  Tensor tx, ty;
};

Data make_data(int n) {
  Data d;
  for (int i = 0; i < n; ++i) {
    const float a = static_cast<float>((i * 37) % 17) / 17.0f - 0.5f;
    const float b = static_cast<float>((i * 11) % 13) / 13.0f - 0.5f;
    d.x.insert(d.x.end(), {a, b, a * b});
    const bool cls = a + b > 0;
    d.y.insert(d.y.end(), {cls ? 1.0f : 0.0f, cls ? 0.0f : 1.0f});
  }
  d.tx = Tensor::view(d.x.data(), {n, 3});
  d.ty = Tensor::view(d.y.data(), {n, 2});
  return d;
}

bool same(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

fastann::FitOptions no_shuffle(int epochs) {
  fastann::FitOptions o;
  o.epochs = epochs;
  o.batch_size = 8;
  o.shuffle = false;
  return o;
}

std::string temp_path(const char* name) { return testing::TempDir() + "fastann_" + name; }

TEST(ModelFile, SaveLoadPredictIsBitwiseIdentical) {
  fastann::Sequential m = make_model(3);
  const Data d = make_data(40);
  m.fit(d.tx, d.ty, no_shuffle(2));
  const std::string path = temp_path("roundtrip.fastann");
  fastann::save_model(m, path);
  fastann::Sequential loaded = fastann::load_model(path);
  EXPECT_TRUE(same(m.predict(d.tx), loaded.predict(d.tx)));
  EXPECT_EQ(loaded.name(), m.name());
  EXPECT_EQ(loaded.metrics_names(), m.metrics_names());
  EXPECT_EQ(loaded.optimizer_iterations(), m.optimizer_iterations());
  EXPECT_EQ(fastann::serialize_model(loaded), fastann::serialize_model(m));
  std::remove(path.c_str());
}

TEST(ModelFile, CompiledMetricsWithParametersRoundTrip) {
  fastann::Sequential m = make_model(3);
  fastann::MetricConfig top1("top_k_categorical_accuracy"), auc("auc"), prec("precision");
  top1.k = 1;
  top1.display_name = "top1";
  auc.num_thresholds = 64;
  prec.threshold = 0.25;
  m.compile(fastann::OptimizerConfig::defaults("adam"), {"categorical_crossentropy"},
            {"accuracy", top1, auc, prec, "auc"}, {"accuracy", "auc"});
  const Data d = make_data(40);
  std::vector<float> w(40);
  for (size_t i = 0; i < w.size(); ++i) w[i] = 0.5f + static_cast<float>(i % 3);
  const Tensor wt = Tensor::view(w.data(), {40});
  fastann::FitOptions o = no_shuffle(2);
  o.sample_weight = wt;
  m.fit(d.tx, d.ty, o);
  const std::string bytes = fastann::serialize_model(m);
  fastann::Sequential loaded = fastann::load_model_from_memory(bytes.data(), bytes.size());
  EXPECT_EQ(loaded.metrics_names(), (std::vector<std::string>{"loss", "accuracy", "top1", "auc", "precision", "auc_1",
                                                              "weighted_accuracy", "weighted_auc"}));
  EXPECT_EQ(loaded.metrics_names(), m.metrics_names());
  EXPECT_EQ(loaded.evaluate(d.tx, d.ty, wt, 8), m.evaluate(d.tx, d.ty, wt, 8));
  const std::vector<fastann::MetricConfig> got = loaded.metric_configs(false);
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[1].k, 1);
  EXPECT_EQ(got[2].num_thresholds, 64);
  EXPECT_EQ(got[3].threshold, 0.25);
  EXPECT_EQ(fastann::serialize_model(loaded), bytes);
  // Plain metrics stay plain names in the JSON (the form older files have).
  const std::string json = fastann::model_config_json(m);
  EXPECT_NE(json.find("\"metrics\":[\"accuracy\",{\"name\":\"top_k_categorical_accuracy\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"weighted_metrics\":[{\"name\":\"accuracy\",\"display_name\":\"weighted_accuracy\""),
            std::string::npos)
      << json;
}

TEST(ModelFile, ResumedFitEqualsUninterruptedFit) {
  const Data d = make_data(40);
  fastann::Sequential a = make_model(5), b = make_model(5);
  a.fit(d.tx, d.ty, no_shuffle(4));
  b.fit(d.tx, d.ty, no_shuffle(2));
  const std::string bytes = fastann::serialize_model(b);
  fastann::Sequential c = fastann::load_model_from_memory(bytes.data(), bytes.size());
  c.fit(d.tx, d.ty, no_shuffle(2));
  const auto wa = a.get_weights(), wc = c.get_weights();
  ASSERT_EQ(wa.size(), wc.size());
  for (size_t i = 0; i < wa.size(); ++i) EXPECT_TRUE(same(wa[i], wc[i])) << "weight " << i;
}

TEST(ModelFile, BatchNormDropoutAndRegularizersRoundTrip) {
  fastann::Sequential m;
  m.add(fastann::Input(3));
  fastann::Dense hidden(8, "relu");
  hidden.name = "hidden";
  hidden.kernel_initializer.seed = 1;
  hidden.kernel_regularizer = fastann::Regularizer::L2(0.01);
  hidden.activity_regularizer = fastann::Regularizer::L1L2(0.001, 0.002);
  m.add(hidden);
  fastann::BatchNormalization bn;
  bn.name = "bn";
  bn.momentum = 0.8;
  bn.center = false;
  m.add(bn);
  fastann::Dropout drop(0.25, 99);
  drop.name = "drop";
  m.add(drop);
  fastann::Dense out(2, "softmax");
  out.name = "out";
  out.kernel_initializer.seed = 2;
  m.add(out);
  m.compile(fastann::OptimizerConfig::defaults("adam"), {"categorical_crossentropy"}, {"accuracy"});
  const Data d = make_data(40);
  m.fit(d.tx, d.ty, no_shuffle(2));
  // gamma, moving_mean, moving_variance: one trainable and two non-trainable weights of 8.
  const fastann::LayerInfo li = m.layer_info(1);
  EXPECT_EQ(li.weight_names, (std::vector<std::string>{"gamma", "moving_mean", "moving_variance"}));
  EXPECT_EQ(li.trainable_weights, 1u);
  EXPECT_EQ(li.param_count, 24);
  EXPECT_EQ(li.non_trainable_param_count, 16);
  EXPECT_EQ(m.get_optimizer_state().slots[0].size(), 5u);  // hidden kernel + bias, gamma, out kernel + bias
  const std::string bytes = fastann::serialize_model(m);
  fastann::Sequential loaded = fastann::load_model_from_memory(bytes.data(), bytes.size());
  EXPECT_TRUE(same(m.predict(d.tx), loaded.predict(d.tx)));
  EXPECT_EQ(fastann::serialize_model(loaded), bytes);
  // Layer configs come back as Keras's {class_name, config} (the config a JSON object).
  const fastann::LayerSpec dense = loaded.layer_config(0);
  EXPECT_EQ(dense.class_name, "Dense");
  const auto has = [](const fastann::LayerSpec& s, const std::string& part) {
    return s.config.find(part) != std::string::npos;
  };
  EXPECT_TRUE(has(dense, R"("kernel_regularizer":{"name":"l2",)")) << dense.config;
  EXPECT_TRUE(has(dense, R"("activity_regularizer":{"name":"l1_l2","l1":0.001,"l2":0.002})")) << dense.config;
  EXPECT_TRUE(has(dense, R"("bias_regularizer":null)")) << dense.config;
  EXPECT_EQ(loaded.layer_config(2).class_name, "Dropout");
  EXPECT_TRUE(has(loaded.layer_config(2), R"("seed":"99")")) << loaded.layer_config(2).config;
  EXPECT_EQ(loaded.layer_config(1).class_name, "BatchNormalization");
  EXPECT_TRUE(has(loaded.layer_config(1), R"("momentum":0.8)")) << loaded.layer_config(1).config;
  // A spec is what add() takes: the same layers rebuilt from their specs predict the same.
  std::vector<fastann::LayerSpec> specs;
  for (size_t i = 0; i < loaded.num_layers(); ++i) specs.push_back(loaded.layer_config(i));
  fastann::Sequential again = fastann::Sequential::from_config(specs, 0);
  again.set_weights(loaded.get_weights());
  EXPECT_TRUE(same(again.predict(d.tx), loaded.predict(d.tx)));
}

TEST(ModelFile, OptimizerStateRoundTrips) {
  fastann::Sequential m = make_model(7);
  const Data d = make_data(16);
  m.fit(d.tx, d.ty, no_shuffle(1));
  const fastann::OptimizerState st = m.get_optimizer_state();
  ASSERT_EQ(st.slot_names, (std::vector<std::string>{"momentum", "velocity"}));
  const std::string bytes = fastann::serialize_model(m);
  fastann::Sequential loaded = fastann::load_model_from_memory(bytes.data(), bytes.size());
  const fastann::OptimizerState st2 = loaded.get_optimizer_state();
  EXPECT_EQ(st2.iterations, st.iterations);
  for (size_t s = 0; s < st.slots.size(); ++s) {
    for (size_t w = 0; w < st.slots[s].size(); ++w) EXPECT_TRUE(same(st.slots[s][w], st2.slots[s][w]));
  }
  // A state for another optimizer is refused before anything changes.
  fastann::OptimizerState wrong = st;
  wrong.slot_names = {"accumulator"};
  wrong.slots.resize(1);
  EXPECT_THROW(loaded.set_optimizer_state(wrong), fastann::ValueError);
}

class HostileBytes : public testing::Test {
 protected:
  void SetUp() override {
    fastann::Sequential m = make_model(1);
    bytes_ = fastann::serialize_model(m);
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes_[static_cast<size_t>(i)]);
    header_len_ = static_cast<size_t>(n);
  }

  static void expect_rejected(const std::string& b, const char* what) {
    EXPECT_THROW(fastann::load_model_from_memory(b.data(), b.size()), fastann::IOError) << what;
  }

  // The file with one header substring replaced by another of the same length (offsets stay valid).
  std::string edit_header(const std::string& from, const std::string& to) const {
    EXPECT_EQ(from.size(), to.size());
    std::string b = bytes_;
    const size_t at = b.find(from, 8);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_LT(at, 8 + header_len_) << from;
    b.replace(at, from.size(), to);
    return b;
  }

  std::string bytes_;
  size_t header_len_ = 0;
};

TEST_F(HostileBytes, TruncationAtEveryOffsetIsRejected) {
  for (size_t cut = 0; cut < bytes_.size(); ++cut) {
    const std::string b = bytes_.substr(0, cut);
    EXPECT_THROW(fastann::load_model_from_memory(b.data(), b.size()), fastann::IOError) << "cut at " << cut;
  }
}

TEST_F(HostileBytes, EverySingleByteCorruptionIsCaughtOrHarmless) {
  for (size_t i = 0; i < bytes_.size(); ++i) {
    std::string b = bytes_;
    b[i] = static_cast<char>(b[i] ^ 0x5A);
    if (i >= 8 + header_len_) {
      expect_rejected(b, "data byte (CRC-32)");
      continue;
    }
    try {
      fastann::load_model_from_memory(b.data(), b.size());
    } catch (const fastann::Error&) {
      // rejected with a fastann error: fine
    }
  }
}

TEST_F(HostileBytes, RandomHeaderMutationsNeverCrash) {
  // A fixed-seed mutation loop over the header (insert, delete, overwrite with JSON-ish bytes): every outcome is a
  // loaded model or a fastann::Error. Run under ASan/UBSan this also shows the reader never reads out of bounds.
  uint64_t state = 0x9E3779B97F4A7C15ull;
  auto next = [&state] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  const char alphabet[] = "{}[]\",:0123456789-eE.truefalsnl F32";
  int loaded = 0;
  for (int it = 0; it < 3000; ++it) {
    std::string b = bytes_;
    const int edits = 1 + static_cast<int>(next() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = 8 + next() % header_len_;
      const char c = alphabet[next() % (sizeof alphabet - 1)];
      switch (next() % 3) {
        case 0:
          b[at] = c;
          break;
        case 1:
          b.insert(at, 1, c);
          break;
        default:
          b.erase(at, 1);
          break;
      }
    }
    try {
      fastann::load_model_from_memory(b.data(), b.size());
      ++loaded;
    } catch (const fastann::Error&) {
    }
  }
  EXPECT_LT(loaded, 3000);  // the mutations do reach the checks
}

TEST_F(HostileBytes, EditedHeadersAreRejected) {
  expect_rejected(edit_header("\"F32\"", "\"F64\""), "wrong dtype");
  expect_rejected(edit_header("fastann.model", "fastann.other"), "foreign format");
  expect_rejected(edit_header("\"format_version\":\"1\"", "\"format_version\":\"9\""), "newer version");
  expect_rejected(edit_header("\"shape\":[3,8]", "\"shape\":[8,3]"), "transposed kernel");
  expect_rejected(edit_header("\"shape\":[3,8]", "\"shape\":[3,9]"), "shape/size mismatch");
  expect_rejected(edit_header("{\"__metadata__\"", "[\"__metadata__\""), "bad JSON");
  std::string huge = bytes_;
  huge[7] = static_cast<char>(0x7F);  // header length ~ 2^63
  expect_rejected(huge, "header length beyond the file");
  std::string empty;
  expect_rejected(empty, "empty file");
}

TEST(ModelFile, MissingFileAndUnwritablePath) {
  const std::string missing = temp_path("does_not_exist.fastann");
  try {
    fastann::load_model(missing);
    ADD_FAILURE() << "load_model of a missing file returned";
  } catch (const fastann::IOError& e) {  // the errno and the path, for the caller (Python: FileNotFoundError)
    EXPECT_EQ(e.error_code(), ENOENT);
    EXPECT_EQ(e.filename(), missing);
  }
  fastann::Sequential m = make_model(2);
  EXPECT_THROW(fastann::save_model(m, temp_path("no_such_dir/x/model.fastann")), fastann::IOError);
}

// should_stop ends a save (answering true, or throwing) with the previous file untouched and no temporary left.
TEST(ModelFile, AStoppedSaveLeavesTheFileAsItWasAndNoTemporary) {
  const std::filesystem::path dir = std::filesystem::path(temp_path("stopped_save"));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "m.fastann").string();
  fastann::Sequential m = make_model(4);
  fastann::save_model(m, path);
  const std::string before = fastann::serialize_model(m, true);
  fastann::Sequential other = make_model(5);
  int polls = 0;
  EXPECT_THROW(fastann::save_model(other, path, true, [&] { return ++polls > 1; }), fastann::Interrupted);
  EXPECT_THROW(fastann::save_model(other, path, true, [&]() -> bool { throw std::runtime_error("stop hook"); }),
               std::runtime_error);
  std::ifstream f(path, std::ios::binary);
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(f), {}), before);
  int entries = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) entries += entry.path().filename() != "m.fastann";
  EXPECT_EQ(entries, 0);
  std::filesystem::remove_all(dir);
}

#ifdef FASTANN_FUZZ_DIR
TEST(ModelFile, FuzzCorpusAndRegressionsLoadOrRaise) {
  // Every seed of fuzz_model_file and every input that once crashed it: a model or a fastann::Error.
  namespace fs = std::filesystem;
  int files = 0;
  for (const char* sub : {"corpus/model_file", "regressions/model_file"}) {
    const fs::path dir = fs::path(FASTANN_FUZZ_DIR) / sub;
    if (!fs::exists(dir)) continue;
    for (const auto& entry : fs::directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream f(entry.path(), std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      ++files;
      try {
        fastann::Sequential m = fastann::load_model_from_memory(bytes.data(), bytes.size());
        (void)fastann::serialize_model(m);
      } catch (const fastann::Error&) {
      }
    }
  }
  EXPECT_GE(files, 6) << "the seed corpus is missing";
}
#endif

}  // namespace

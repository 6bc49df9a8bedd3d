// The model file (see fastann/io.hpp for the layout). Writing builds the JSON header and the data section in memory
// and renames a fully written temporary file into place. Reading trusts nothing: every length, offset, shape, dtype
// and name is checked against the file before anything is allocated from it, and every failure is an IOError.
#include "fastann/io.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#else
#include <filesystem>
#include <process.h>
#endif

#include "fastann/error.hpp"
#include "core/json.hpp"

namespace fastann {

namespace {

using io::Json;

constexpr const char* kFormat = "fastann.model";
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // safetensors' own limit
constexpr int64_t kMaxDim = int64_t{1} << 40;

// --- CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib computes it -------------------------------------
std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}

uint32_t crc32(const unsigned char* p, size_t n) {
  static const std::array<uint32_t, 256> table = make_crc_table();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFFu] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string hex32(uint32_t v) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", v);
  return buf;
}

bool little_endian() {
  const uint32_t one = 1;
  unsigned char b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

void require_little_endian() {
  if (!little_endian()) throw UnavailableError("fastann model files are little-endian; this host is big-endian");
}

[[noreturn]] void bad(const std::string& msg) { throw IOError(msg); }


// --- config <-> JSON ------------------------------------------------------------------------------------------------
Json number_or_null(double v) { return std::isnan(v) ? Json() : Json(v); }

Json initializer_json(const InitializerSpec& s) {
  Json j = Json::object();
  j.set("name", s.name);
  const std::pair<const char*, const std::optional<double>*> params[] = {
      {"minval", &s.minval}, {"maxval", &s.maxval}, {"mean", &s.mean}, {"stddev", &s.stddev}, {"value", &s.value}};
  for (const auto& [key, v] : params) {
    if (*v) j.set(key, **v);
  }
  if (s.seed) j.set("seed", std::to_string(*s.seed));  // a string: JSON numbers lose integers above 2^53
  return j;
}

Json regularizer_json(const std::optional<Regularizer>& r) {
  if (!r) return Json();
  Json j = Json::object();
  j.set("name", r->name);
  j.set("l1", r->l1);
  j.set("l2", r->l2);
  return j;
}

Json seed_json(const std::optional<uint64_t>& seed) {
  return seed ? Json(std::to_string(*seed)) : Json();  // a string: JSON numbers lose integers above 2^53
}

Json layer_json(const LayerConfig& cfg) {
  Json c = Json::object();
  Json out = Json::object();
  if (const Dropout* dr = std::get_if<Dropout>(&cfg)) {
    out.set("class_name", "Dropout");
    c.set("name", dr->name);
    c.set("rate", dr->rate);
    c.set("seed", seed_json(dr->seed));
    c.set("input_dim", dr->input_dim);
  } else if (const BatchNormalization* bn = std::get_if<BatchNormalization>(&cfg)) {
    out.set("class_name", "BatchNormalization");
    c.set("name", bn->name);
    c.set("momentum", bn->momentum);
    c.set("epsilon", bn->epsilon);
    c.set("center", bn->center);
    c.set("scale", bn->scale);
    c.set("beta_initializer", initializer_json(bn->beta_initializer));
    c.set("gamma_initializer", initializer_json(bn->gamma_initializer));
    c.set("moving_mean_initializer", initializer_json(bn->moving_mean_initializer));
    c.set("moving_variance_initializer", initializer_json(bn->moving_variance_initializer));
    c.set("input_dim", bn->input_dim);
  } else if (const Dense* d = std::get_if<Dense>(&cfg)) {
    out.set("class_name", "Dense");
    c.set("name", d->name);
    c.set("units", d->units);
    c.set("activation", d->activation.name);
    c.set("activation_alpha", number_or_null(d->activation.alpha));
    c.set("use_bias", d->use_bias);
    c.set("kernel_initializer", initializer_json(d->kernel_initializer));
    c.set("bias_initializer", initializer_json(d->bias_initializer));
    c.set("kernel_regularizer", regularizer_json(d->kernel_regularizer));
    c.set("bias_regularizer", regularizer_json(d->bias_regularizer));
    c.set("activity_regularizer", regularizer_json(d->activity_regularizer));
    c.set("input_dim", d->input_dim);
  } else {
    const Activation& a = std::get<Activation>(cfg);
    out.set("class_name", "Activation");
    c.set("name", a.name);
    c.set("activation", a.activation.name);
    c.set("activation_alpha", number_or_null(a.activation.alpha));
    c.set("input_dim", a.input_dim);
  }
  out.set("config", std::move(c));
  return out;
}

Json compile_json(const Sequential& model) {
  const OptimizerConfig& o = model.optimizer_config();
  Json opt = Json::object();
  opt.set("name", o.name);
  opt.set("learning_rate", o.learning_rate);
  opt.set("momentum", o.momentum);
  opt.set("nesterov", o.nesterov);
  opt.set("beta_1", o.beta_1);
  opt.set("beta_2", o.beta_2);
  opt.set("epsilon", o.epsilon);
  opt.set("rho", o.rho);
  opt.set("centered", o.centered);
  opt.set("initial_accumulator_value", o.initial_accumulator_value);
  opt.set("weight_decay", o.weight_decay);
  const LossConfig& l = model.loss_config();
  Json loss = Json::object();
  loss.set("name", l.name);
  loss.set("from_logits", l.from_logits);
  loss.set("delta", l.delta);
  // A metric is its name when it has the defaults and is reported under that name (the form of older files),
  // else an object with its parameters and reported name.
  auto metrics_json = [](const std::vector<MetricConfig>& configs) {
    Json out = Json::array();
    for (const MetricConfig& mc : configs) {
      const MetricConfig d(mc.name);
      if (mc.display_name == mc.name && mc.k == d.k && mc.num_thresholds == d.num_thresholds &&
          mc.threshold == d.threshold) {
        out.push_back(mc.name);
        continue;
      }
      Json o = Json::object();
      o.set("name", mc.name);
      o.set("display_name", mc.display_name);
      o.set("k", mc.k);
      o.set("num_thresholds", mc.num_thresholds);
      o.set("threshold", mc.threshold);
      out.push_back(std::move(o));
    }
    return out;
  };
  Json c = Json::object();
  c.set("optimizer", std::move(opt));
  c.set("loss", std::move(loss));
  c.set("metrics", metrics_json(model.metric_configs(false)));
  const std::vector<MetricConfig> weighted = model.metric_configs(true);
  if (!weighted.empty()) c.set("weighted_metrics", metrics_json(weighted));
  return c;
}

ActivationSpec activation_from(const Json& c, const std::string& path) {
  ActivationSpec a;
  a.name = c.at("activation", path).as_string(path + ".activation");
  const Json& alpha = c.at("activation_alpha", path);
  if (!alpha.is_null()) a.alpha = alpha.as_number(path + ".activation_alpha");
  return a;
}

uint64_t seed_from(const Json& seed, const std::string& path) {
  const std::string& text = seed.as_string(path);
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE) bad(path + ": not an integer seed");
  return v;
}

InitializerSpec initializer_from(const Json& j, const std::string& path) {
  InitializerSpec s(j.at("name", path).as_string(path + ".name"));
  std::optional<double>* params[] = {&s.minval, &s.maxval, &s.mean, &s.stddev, &s.value};
  const char* keys[] = {"minval", "maxval", "mean", "stddev", "value"};
  for (size_t i = 0; i < 5; ++i) {
    if (const Json* v = j.find(keys[i])) *params[i] = v->as_number(path + "." + keys[i]);
  }
  if (const Json* seed = j.find("seed")) s.seed = seed_from(*seed, path + ".seed");
  return s;
}

// An optional regularizer: absent or null is none (files written before regularizers existed have no key).
std::optional<Regularizer> regularizer_from(const Json& c, const char* key, const std::string& cpath) {
  const Json* j = c.find(key);
  if (!j || j->is_null()) return std::nullopt;
  const std::string path = cpath + "." + key;
  Regularizer r;
  r.name = j->at("name", path).as_string(path + ".name");
  r.l1 = j->at("l1", path).as_number(path + ".l1");
  r.l2 = j->at("l2", path).as_number(path + ".l2");
  return r;
}

// --- the tensors named in the header ------------------------------------------------------------------------------
struct Entry {
  std::string name;
  Shape shape;
  uint64_t begin = 0, end = 0;
  bool used = false;
};

std::vector<Entry> read_entries(const Json& header, uint64_t data_size) {
  std::vector<Entry> entries;
  for (const auto& [name, v] : header.as_object("header")) {
    if (name == "__metadata__") continue;
    const std::string path = "tensor '" + name + "'";
    Entry e;
    e.name = name;
    const std::string& dtype = v.at("dtype", path).as_string(path + ".dtype");
    if (dtype != "F32") bad(path + ": dtype " + dtype + " is not supported (fastann stores F32)");
    uint64_t numel = 1;
    for (const Json& d : v.at("shape", path).as_array(path + ".shape")) {
      const int64_t n = d.as_int(path + ".shape", 0, kMaxDim);
      e.shape.push_back(n);
      if (n != 0 && numel > static_cast<uint64_t>(kMaxDim) / static_cast<uint64_t>(n)) bad(path + ": shape too large");
      numel *= static_cast<uint64_t>(n);
    }
    if (e.shape.size() > static_cast<size_t>(Tensor::kMaxDims)) bad(path + ": too many dimensions");
    const auto& offs = v.at("data_offsets", path).as_array(path + ".data_offsets");
    if (offs.size() != 2) bad(path + ": data_offsets must be [begin, end]");
    const auto max_off = static_cast<int64_t>(std::min<uint64_t>(data_size, uint64_t{1} << 62));
    e.begin = static_cast<uint64_t>(offs[0].as_int(path + ".data_offsets[0]", 0, max_off));
    e.end = static_cast<uint64_t>(offs[1].as_int(path + ".data_offsets[1]", 0, max_off));
    if (e.end < e.begin) bad(path + ": data_offsets end before begin");
    if (e.end - e.begin != numel * sizeof(float)) {
      bad(path + ": data_offsets span " + std::to_string(e.end - e.begin) + " bytes but shape " + shape_str(e.shape) +
          " needs " + std::to_string(numel * sizeof(float)));
    }
    entries.push_back(std::move(e));
  }
  // The tensors must tile the data section exactly: no overlap, no gap, nothing past the end (as safetensors requires).
  std::vector<const Entry*> sorted;
  for (const Entry& e : entries) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  for (const Entry* e : sorted) {
    if (e->begin != pos) {
      bad("tensor '" + e->name + "': data_offsets " +
          (e->begin < pos ? std::string("overlap another tensor") : std::string("leave a gap before it")));
    }
    pos = e->end;
  }
  if (pos != data_size) {
    bad("the tensors cover " + std::to_string(pos) + " bytes of a " + std::to_string(data_size) +
        "-byte data section");
  }
  return entries;
}

class TensorSource {
 public:
  TensorSource(std::vector<Entry> entries, const unsigned char* data) : entries_(std::move(entries)), data_(data) {}

  // The named tensor, which must have `shape`.
  Tensor take(const std::string& name, const Shape& shape) {
    for (Entry& e : entries_) {
      if (e.name != name) continue;
      if (e.shape != shape) {
        bad("tensor '" + name + "' has shape " + shape_str(e.shape) + " but the model needs " + shape_str(shape));
      }
      e.used = true;
      Tensor t = Tensor::empty(shape);
      if (e.end > e.begin) std::memcpy(t.data(), data_ + e.begin, e.end - e.begin);
      return t;
    }
    bad("tensor '" + name + "' is missing");
  }

  void require_all_used() const {
    for (const Entry& e : entries_) {
      if (!e.used) bad("unexpected tensor '" + e.name + "' (not part of the model)");
    }
  }

 private:
  std::vector<Entry> entries_;
  const unsigned char* data_;
};

struct WeightSpec {
  std::string name;  // "<layer>/<weight>"
  Shape shape;
  bool trainable;
};

// Weight names and shapes implied by the config (get_weights order), checked against the file before building
// allocates anything.
std::vector<WeightSpec> expected_weights(const std::vector<LayerConfig>& layers, int64_t in_dim) {
  std::vector<WeightSpec> out;
  int64_t d = in_dim;
  for (const LayerConfig& cfg : layers) {
    if (const Dense* dense = std::get_if<Dense>(&cfg)) {
      out.push_back({dense->name + "/kernel", Shape{d, dense->units}, true});
      if (dense->use_bias) out.push_back({dense->name + "/bias", Shape{dense->units}, true});
      d = dense->units;
    } else if (const BatchNormalization* bn = std::get_if<BatchNormalization>(&cfg)) {
      if (bn->scale) out.push_back({bn->name + "/gamma", Shape{d}, true});
      if (bn->center) out.push_back({bn->name + "/beta", Shape{d}, true});
      out.push_back({bn->name + "/moving_mean", Shape{d}, false});
      out.push_back({bn->name + "/moving_variance", Shape{d}, false});
    }
  }
  return out;
}

Sequential model_from(const Json& header, const unsigned char* data, uint64_t data_size) {
  const Json* meta_ptr = header.find("__metadata__");
  if (!meta_ptr) bad("not a fastann model: the header has no __metadata__ (a safetensors file from elsewhere?)");
  const Json& meta = *meta_ptr;
  for (const auto& kv : meta.as_object("__metadata__")) kv.second.as_string("__metadata__." + kv.first);
  const Json* format = meta.find("format");
  if (!format || format->as_string("") != kFormat) {
    bad("not a fastann model: __metadata__.format is " +
        (format ? "'" + format->as_string("") + "'" : std::string("missing")) + " (a safetensors file from elsewhere?)");
  }
  const std::string& version = meta.at("format_version", "__metadata__").as_string("__metadata__.format_version");
  char* end = nullptr;
  const long v = std::strtol(version.c_str(), &end, 10);
  if (version.empty() || *end != '\0' || v < 1) bad("__metadata__.format_version '" + version + "' is not valid");
  if (v > kModelFormatVersion) {
    bad("the file has format version " + version + ", newer than this fastann reads (" +
        std::to_string(kModelFormatVersion) + "); upgrade fastann");
  }
  // Offsets first (a truncated file is reported as such), then the checksum over the data they cover.
  TensorSource tensors(read_entries(header, data_size), data);
  const std::string& crc = meta.at("data_crc32", "__metadata__").as_string("__metadata__.data_crc32");
  if (crc != hex32(crc32(data, data_size))) bad("the data section fails its CRC-32 check (the file is corrupt)");

  const Json config = Json::parse(meta.at("config", "__metadata__").as_string("__metadata__.config"), "model config");
  const std::string cpath = "config";
  if (config.at("class_name", cpath).as_string(cpath + ".class_name") != "Sequential") {
    bad("config.class_name: only Sequential models are supported");
  }
  std::vector<LayerConfig> layers;
  const auto& jl = config.at("layers", cpath).as_array("config.layers");
  for (size_t i = 0; i < jl.size(); ++i) {
    const std::string path = "config.layers[" + std::to_string(i) + "]";
    const std::string& cls = jl[i].at("class_name", path).as_string(path + ".class_name");
    const std::string cp = path + ".config";
    const Json& c = jl[i].at("config", path);
    if (cls == "Dense") {
      Dense d(c.at("units", cp).as_int(cp + ".units", 1, kMaxDim));
      d.activation = activation_from(c, cp);
      d.use_bias = c.at("use_bias", cp).as_bool(cp + ".use_bias");
      d.kernel_initializer = initializer_from(c.at("kernel_initializer", cp), cp + ".kernel_initializer");
      d.bias_initializer = initializer_from(c.at("bias_initializer", cp), cp + ".bias_initializer");
      d.kernel_regularizer = regularizer_from(c, "kernel_regularizer", cp);
      d.bias_regularizer = regularizer_from(c, "bias_regularizer", cp);
      d.activity_regularizer = regularizer_from(c, "activity_regularizer", cp);
      d.input_dim = c.at("input_dim", cp).as_int(cp + ".input_dim", 0, kMaxDim);
      d.name = c.at("name", cp).as_string(cp + ".name");
      layers.emplace_back(std::move(d));
    } else if (cls == "Activation") {
      Activation a("linear");
      a.activation = activation_from(c, cp);
      a.input_dim = c.at("input_dim", cp).as_int(cp + ".input_dim", 0, kMaxDim);
      a.name = c.at("name", cp).as_string(cp + ".name");
      layers.emplace_back(std::move(a));
    } else if (cls == "Dropout") {
      Dropout dr(c.at("rate", cp).as_number(cp + ".rate"));
      const Json& seed = c.at("seed", cp);
      if (!seed.is_null()) dr.seed = seed_from(seed, cp + ".seed");
      dr.input_dim = c.at("input_dim", cp).as_int(cp + ".input_dim", 0, kMaxDim);
      dr.name = c.at("name", cp).as_string(cp + ".name");
      layers.emplace_back(std::move(dr));
    } else if (cls == "BatchNormalization") {
      BatchNormalization bn;
      bn.momentum = c.at("momentum", cp).as_number(cp + ".momentum");
      bn.epsilon = c.at("epsilon", cp).as_number(cp + ".epsilon");
      bn.center = c.at("center", cp).as_bool(cp + ".center");
      bn.scale = c.at("scale", cp).as_bool(cp + ".scale");
      bn.beta_initializer = initializer_from(c.at("beta_initializer", cp), cp + ".beta_initializer");
      bn.gamma_initializer = initializer_from(c.at("gamma_initializer", cp), cp + ".gamma_initializer");
      bn.moving_mean_initializer =
          initializer_from(c.at("moving_mean_initializer", cp), cp + ".moving_mean_initializer");
      bn.moving_variance_initializer =
          initializer_from(c.at("moving_variance_initializer", cp), cp + ".moving_variance_initializer");
      bn.input_dim = c.at("input_dim", cp).as_int(cp + ".input_dim", 0, kMaxDim);
      bn.name = c.at("name", cp).as_string(cp + ".name");
      layers.emplace_back(std::move(bn));
    } else {
      bad(path + ".class_name: unknown layer type '" + cls + "'");
    }
    if (std::visit([](const auto& l) { return l.name.empty(); }, layers.back())) bad(cp + ".name: must not be empty");
  }

  // Shapes are checked against the file before anything is built. Initial values are overwritten; the fixed seed
  // keeps the global generator untouched.
  const bool built = config.at("built", cpath).as_bool("config.built");
  std::vector<Tensor> weights;
  int64_t in_dim = 0;
  if (built) {
    in_dim = config.at("input_dim", cpath).as_int("config.input_dim", 1, kMaxDim);
    for (const WeightSpec& w : expected_weights(layers, in_dim)) weights.push_back(tensors.take(w.name, w.shape));
  }
  Sequential model = Sequential::from_config(layers, /*seed=*/0);
  model.set_name(config.at("name", cpath).as_string("config.name"));
  if (built) {
    if (!model.built()) model.build(in_dim, /*seed=*/0);
    model.set_weights(weights);
  }
  const Json& compile = config.at("compile", cpath);
  if (!compile.is_null()) {
    const std::string op = "config.compile.optimizer";
    const Json& o = compile.at("optimizer", "config.compile");
    OptimizerConfig oc = OptimizerConfig::defaults(o.at("name", op).as_string(op + ".name"));
    const std::pair<const char*, double*> nums[] = {
        {"learning_rate", &oc.learning_rate}, {"momentum", &oc.momentum}, {"beta_1", &oc.beta_1},
        {"beta_2", &oc.beta_2}, {"epsilon", &oc.epsilon}, {"rho", &oc.rho},
        {"initial_accumulator_value", &oc.initial_accumulator_value}, {"weight_decay", &oc.weight_decay}};
    for (const auto& [key, dst] : nums) *dst = o.at(key, op).as_number(op + "." + key);
    oc.nesterov = o.at("nesterov", op).as_bool(op + ".nesterov");
    oc.centered = o.at("centered", op).as_bool(op + ".centered");
    const std::string lp = "config.compile.loss";
    const Json& l = compile.at("loss", "config.compile");
    LossConfig lc(l.at("name", lp).as_string(lp + ".name"));
    lc.from_logits = l.at("from_logits", lp).as_bool(lp + ".from_logits");
    lc.delta = l.at("delta", lp).as_number(lp + ".delta");
    auto metrics_from = [](const Json& list, const std::string& path) {
      std::vector<MetricConfig> out;
      for (const Json& m : list.as_array(path)) {
        const std::string mp = path + "[" + std::to_string(out.size()) + "]";
        if (!m.is_object()) {
          out.emplace_back(m.as_string(mp));
          continue;
        }
        MetricConfig mc(m.at("name", mp).as_string(mp + ".name"));
        mc.display_name = m.at("display_name", mp).as_string(mp + ".display_name");
        mc.k = m.at("k", mp).as_int(mp + ".k", 1, 1000000);
        mc.num_thresholds = m.at("num_thresholds", mp).as_int(mp + ".num_thresholds", 2, 1000000);
        mc.threshold = m.at("threshold", mp).as_number(mp + ".threshold");
        out.push_back(std::move(mc));
      }
      return out;
    };
    const std::vector<MetricConfig> metrics =
        metrics_from(compile.at("metrics", "config.compile"), "config.compile.metrics");
    std::vector<MetricConfig> weighted;
    if (const Json* wm = compile.find("weighted_metrics")) weighted = metrics_from(*wm, "config.compile.weighted_metrics");
    model.compile(oc, lc, metrics, weighted);
    const Json& st = config.at("optimizer_state", cpath);
    if (!st.is_null()) {
      if (!built) bad("config.optimizer_state: present for a model that is not built");
      OptimizerState state;
      state.iterations = st.at("iterations", "config.optimizer_state")
                             .as_int("config.optimizer_state.iterations", 0, int64_t{1} << 52);
      const std::vector<WeightSpec> names = expected_weights(layers, model.input_dim());
      for (const Json& s : st.at("slots", "config.optimizer_state").as_array("config.optimizer_state.slots")) {
        state.slot_names.push_back(s.as_string("config.optimizer_state.slots[]"));
        std::vector<Tensor> slot;
        for (const WeightSpec& w : names) {
          if (w.trainable) slot.push_back(tensors.take("optimizer/" + w.name + "/" + state.slot_names.back(), w.shape));
        }
        state.slots.push_back(std::move(slot));
      }
      model.set_optimizer_state(state);
    }
  } else if (!config.at("optimizer_state", cpath).is_null()) {
    bad("config.optimizer_state: present for a model that is not compiled");
  }
  tensors.require_all_used();
  return model;
}

// The architecture and compile configuration (the model file's __metadata__.config, less the optimizer state).
Json model_config(const Sequential& model) {
  Json config = Json::object();
  config.set("class_name", "Sequential");
  config.set("name", model.name());
  config.set("built", model.built());
  config.set("input_dim", model.input_dim());
  Json layers = Json::array();
  for (size_t i = 0; i < model.num_layers(); ++i) layers.push_back(layer_json(model.layer_config(i)));
  config.set("layers", std::move(layers));
  config.set("compile", model.compiled() ? compile_json(model) : Json());
  return config;
}

}  // namespace

std::string model_config_json(const Sequential& model) { return model_config(model).dump(); }

std::string serialize_model(const Sequential& model, bool include_optimizer) {
  require_little_endian();
  // The tensors in file order: weights (Keras order), then the optimizer's slots (of the trainable weights).
  std::vector<std::pair<std::string, Tensor>> tensors;
  std::vector<std::string> trainable;  // names of the trainable weights, in get_weights order
  if (model.built()) {
    for (size_t i = 0; i < model.num_layers(); ++i) {
      const LayerInfo li = model.layer_info(i);
      const std::vector<Tensor> w = model.get_layer_weights(i);
      for (size_t j = 0; j < w.size(); ++j) {
        tensors.emplace_back(li.name + "/" + li.weight_names.at(j), w[j]);
        if (j < li.trainable_weights) trainable.push_back(tensors.back().first);
      }
    }
  }
  Json state;
  if (include_optimizer && model.compiled() && model.built()) {
    const OptimizerState st = model.get_optimizer_state();
    Json slots = Json::array();
    for (size_t s = 0; s < st.slot_names.size(); ++s) {
      slots.push_back(st.slot_names[s]);
      for (size_t w = 0; w < trainable.size(); ++w) {
        tensors.emplace_back("optimizer/" + trainable[w] + "/" + st.slot_names[s], st.slots[s][w]);
      }
    }
    state = Json::object();
    state.set("iterations", st.iterations);
    state.set("slots", std::move(slots));
  }

  Json config = model_config(model);
  config.set("optimizer_state", std::move(state));

  std::string data;
  size_t total = 0;
  for (const auto& t : tensors) total += static_cast<size_t>(t.second.numel()) * sizeof(float);
  data.reserve(total);
  Json header = Json::object();
  Json meta = Json::object();
  std::vector<std::pair<std::string, Json>> entries;
  for (const auto& [name, t] : tensors) {
    for (const auto& e : entries) {
      if (e.first == name) throw ValueError("two weights would be stored as '" + name + "'; give the layers unique names");
    }
    Json shape = Json::array();
    for (int64_t d : t.shape()) shape.push_back(d);
    Json offs = Json::array();
    offs.push_back(static_cast<int64_t>(data.size()));
    data.append(reinterpret_cast<const char*>(t.data()), static_cast<size_t>(t.numel()) * sizeof(float));
    offs.push_back(static_cast<int64_t>(data.size()));
    Json e = Json::object();
    e.set("dtype", "F32");
    e.set("shape", std::move(shape));
    e.set("data_offsets", std::move(offs));
    entries.emplace_back(name, std::move(e));
  }
  meta.set("format", kFormat);
  meta.set("format_version", std::to_string(kModelFormatVersion));
  meta.set("config", config.dump());
  meta.set("data_crc32", hex32(crc32(reinterpret_cast<const unsigned char*>(data.data()), data.size())));
  header.set("__metadata__", std::move(meta));
  for (auto& e : entries) header.set(e.first, std::move(e.second));

  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  std::string out(8, '\0');
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFFu);
  out += text;
  out += data;
  return out;
}

Sequential load_model_from_memory(const void* data, size_t size) {
  require_little_endian();
  const auto* p = static_cast<const unsigned char*>(data);
  if (size < 8) bad("the file is " + std::to_string(size) + " bytes, too small to be a fastann model");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  if (n > size - 8) {
    bad("the header length (" + std::to_string(n) + " bytes) runs past the end of the " + std::to_string(size) +
        "-byte file (truncated, or not a model file)");
  }
  if (n > kMaxHeaderBytes) bad("the header length (" + std::to_string(n) + " bytes) is beyond the 100 MiB limit");
  const Json header = Json::parse(std::string_view(reinterpret_cast<const char*>(p + 8), n), "model file header");
  header.as_object("header");
  try {
    return model_from(header, p + 8 + n, size - 8 - n);
  } catch (const IOError&) {
    throw;
  } catch (const UnavailableError&) {
    throw;
  } catch (const Error& e) {
    // A config the model API rejects (an unknown activation, a bad optimizer value, ...).
    throw IOError(std::string("the model config is invalid: ") + e.what());
  }
}

Sequential load_model(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw IOError("cannot open model file '" + path + "': " + std::strerror(errno));
  const std::streamoff size = f.tellg();
  if (size < 0) throw IOError("cannot read model file '" + path + "'");
  std::string bytes(static_cast<size_t>(size), '\0');
  f.seekg(0);
  if (size > 0 && !f.read(&bytes[0], size)) throw IOError("cannot read model file '" + path + "'");
  try {
    return load_model_from_memory(bytes.data(), bytes.size());
  } catch (const IOError& e) {
    throw IOError("model file '" + path + "': " + e.what());
  }
}

void save_model(const Sequential& model, const std::string& path, bool include_optimizer) {
  const std::string bytes = serialize_model(model, include_optimizer);
  static std::atomic<unsigned> counter{0};
#ifndef _WIN32
  const std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) throw IOError("cannot write model file '" + path + "': " + std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      const int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      throw IOError("cannot write model file '" + path + "': " + std::strerror(err));
    }
    done += static_cast<size_t>(w);
  }
  // Data on disk before the rename makes it visible: a crash leaves the old file or the new one, never a torn one.
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IOError("cannot write model file '" + path + "': " + std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IOError("cannot write model file '" + path + "': " + std::strerror(err));
  }
#else
  const std::string tmp = path + ".tmp." + std::to_string(_getpid()) + "." + std::to_string(counter++);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f || !f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) || !f.flush()) {
      std::remove(tmp.c_str());
      throw IOError("cannot write model file '" + path + "'");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw IOError("cannot write model file '" + path + "': " + ec.message());
  }
#endif
}

}  // namespace fastann

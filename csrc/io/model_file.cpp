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
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"

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
  // The layers as specs (class name + config), each found in the layer registry when the model is made.
  std::vector<LayerSpec> layers;
  const auto& jl = config.at("layers", cpath).as_array("config.layers");
  for (size_t i = 0; i < jl.size(); ++i) {
    const std::string path = "config.layers[" + std::to_string(i) + "]";
    const std::string& cls = jl[i].at("class_name", path).as_string(path + ".class_name");
    const std::string cp = path + ".config";
    const Json& c = jl[i].at("config", path);
    c.as_object(cp);
    if (!nn::layer_registry().find(cls)) {
      bad(path + ".class_name: unknown layer type '" + cls + "' (known: " + nn::layer_registry().names_list() + ")");
    }
    if (nn::name_from(c, cp).empty()) bad(cp + ".name: must not be empty");
    layers.push_back({cls, c.dump()});
  }

  // Shapes are checked against the file before anything is built. Initial values are overwritten; the fixed seed
  // keeps the global generator untouched. Version 1 files give the input as "input_dim".
  const bool built = config.at("built", cpath).as_bool("config.built");
  std::vector<Tensor> weights;
  Shape in_shape;
  std::vector<nn::WeightSpec> planned;
  if (built) {
    in_shape = nn::input_shape_from(config, cpath);
    if (in_shape.empty()) bad("config.input_dim: a built model needs its input shape");
    planned = nn::planned_weights(layers, in_shape);
    for (const nn::WeightSpec& w : planned) weights.push_back(tensors.take(w.name, w.shape));
  }
  Sequential model = Sequential::from_config(layers, /*seed=*/0);
  model.set_name(config.at("name", cpath).as_string("config.name"));
  if (built) {
    if (!model.built()) model.build(in_shape, /*seed=*/0);
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
      const std::vector<nn::WeightSpec>& names = planned;
      for (const Json& s : st.at("slots", "config.optimizer_state").as_array("config.optimizer_state.slots")) {
        state.slot_names.push_back(s.as_string("config.optimizer_state.slots[]"));
        std::vector<Tensor> slot;
        for (const nn::WeightSpec& w : names) {
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
  nn::set_input_shape(config, model.input_shape());
  Json layers = Json::array();
  for (size_t i = 0; i < model.num_layers(); ++i) {
    const LayerSpec spec = model.layer_config(i);
    Json entry = Json::object();
    entry.set("class_name", spec.class_name);
    entry.set("config", Json::parse(spec.config, "layer config"));
    layers.push_back(std::move(entry));
  }
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

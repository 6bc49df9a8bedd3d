// The model file's reader (see fastann/io.hpp for the layout). It trusts nothing: every length, offset, shape,
// dtype and name is checked against the file before anything is allocated from it, and every failure is an IOError.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/json.hpp"
#include "fastann/error.hpp"
#include "fastann/io.hpp"
#include "io/file.hpp"
#include "io/format.hpp"
#include "nn/layer.hpp"
#include "nn/layers/config_json.hpp"

namespace fastann {

namespace {

using io::Json;
using namespace io_format;

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
    if (dtype != "F32") {
      std::string msg = path;
      msg.append(": dtype ").append(dtype).append(" is not supported (fastann stores F32)");
      bad(msg);
    }
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
  sorted.reserve(entries.size());
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
    bad("the tensors cover " + std::to_string(pos) + " bytes of a " + std::to_string(data_size) + "-byte data section");
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
        (format ? "'" + format->as_string("") + "'" : std::string("missing")) +
        " (a safetensors file from elsewhere?)");
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
      std::string msg = path;
      msg.append(".class_name: unknown layer type '").append(cls).append("' (known: ");
      msg.append(nn::layer_registry().names_list()).append(")");
      bad(msg);
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
    const std::pair<const char*, double*> nums[] = {{"learning_rate", &oc.learning_rate},
                                                    {"momentum", &oc.momentum},
                                                    {"beta_1", &oc.beta_1},
                                                    {"beta_2", &oc.beta_2},
                                                    {"epsilon", &oc.epsilon},
                                                    {"rho", &oc.rho},
                                                    {"initial_accumulator_value", &oc.initial_accumulator_value},
                                                    {"weight_decay", &oc.weight_decay}};
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
    if (const Json* wm = compile.find("weighted_metrics"))
      weighted = metrics_from(*wm, "config.compile.weighted_metrics");
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

}  // namespace

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
  const std::string bytes = io::read_file(path, "model file");
  try {
    return load_model_from_memory(bytes.data(), bytes.size());
  } catch (const IOError& e) {
    throw IOError("model file '" + path + "': " + e.what());
  }
}

}  // namespace fastann

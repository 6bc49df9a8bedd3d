// The model file's writer (see fastann/io.hpp for the layout): builds the JSON header (architecture, compile
// configuration, tensor table) and the data section in memory, then writes it atomically (io/file.hpp). The reader
// is load_model.cpp.
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

std::string model_config_json(const Sequential& model) {
  const Sequential::ReadScope reading(model, "config_json");  // one model throughout
  return model_config(model).dump();
}

std::string serialize_model(const Sequential& model, bool include_optimizer) {
  const Sequential::ReadScope reading(model, "save");  // configuration, weights and optimizer state of one model
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

  // The header first (offsets from the shapes, the CRC over the tensors in place), then one buffer of header and
  // data: the weights are copied once, into the file's bytes.
  Json header = Json::object();
  Json meta = Json::object();
  std::vector<std::pair<std::string, Json>> entries;
  size_t total = 0;
  uint32_t crc = 0;
  for (const auto& [name, t] : tensors) {
    for (const auto& e : entries) {
      if (e.first == name)
        throw ValueError("two weights would be stored as '" + name + "'; give the layers unique names");
    }
    const size_t bytes = static_cast<size_t>(t.numel()) * sizeof(float);
    Json shape = Json::array();
    for (int64_t d : t.shape()) shape.push_back(d);
    Json offs = Json::array();
    offs.push_back(static_cast<int64_t>(total));
    offs.push_back(static_cast<int64_t>(total + bytes));
    total += bytes;
    crc = crc32(reinterpret_cast<const unsigned char*>(t.data()), bytes, crc);
    Json e = Json::object();
    e.set("dtype", "F32");
    e.set("shape", std::move(shape));
    e.set("data_offsets", std::move(offs));
    entries.emplace_back(name, std::move(e));
  }
  meta.set("format", kFormat);
  meta.set("format_version", std::to_string(kModelFormatVersion));
  meta.set("config", config.dump());
  meta.set("data_crc32", hex32(crc));
  header.set("__metadata__", std::move(meta));
  for (auto& e : entries) header.set(e.first, std::move(e.second));

  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data section 8-byte aligned
  std::string out;
  out.reserve(8 + text.size() + total);
  out.resize(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFFu);
  out += text;
  for (const auto& entry : tensors) {
    out.append(reinterpret_cast<const char*>(entry.second.data()),
               static_cast<size_t>(entry.second.numel()) * sizeof(float));
  }
  return out;
}

void save_model(const Sequential& model, const std::string& path, bool include_optimizer) {
  io::write_file_atomically(path, serialize_model(model, include_optimizer), "model file");
}

void save_model(const Sequential& model, const std::string& path, bool include_optimizer,
                const std::function<bool()>& should_stop) {
  io::write_file_atomically(path, serialize_model(model, include_optimizer), "model file", should_stop);
}

}  // namespace fastann

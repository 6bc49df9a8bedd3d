// The model file's writer (see fastann/io.hpp for the layout): builds the JSON header (architecture, compile
// configuration, tensor table) and the data section in memory, then renames a fully written temporary file into
// place. The reader is load_model.cpp.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "fastann/io.hpp"

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
#else
#include <process.h>

#include <filesystem>
#endif

#include "core/json.hpp"
#include "fastann/error.hpp"
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

  std::string data;
  size_t total = 0;
  for (const auto& t : tensors) total += static_cast<size_t>(t.second.numel()) * sizeof(float);
  data.reserve(total);
  Json header = Json::object();
  Json meta = Json::object();
  std::vector<std::pair<std::string, Json>> entries;
  for (const auto& [name, t] : tensors) {
    for (const auto& e : entries) {
      if (e.first == name)
        throw ValueError("two weights would be stored as '" + name + "'; give the layers unique names");
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

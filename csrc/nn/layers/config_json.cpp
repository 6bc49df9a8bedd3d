// JSON forms shared by the layer configs (see config_json.hpp).
#include "nn/layers/config_json.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <utility>

#include "fastann/error.hpp"

namespace fastann::nn {

Json number_or_null(double v) { return std::isnan(v) ? Json() : Json(v); }

Json initializer_json(const InitializerSpec& s) {
  Json j = Json::object();
  j.set("name", s.name);
  const std::pair<const char*, const std::optional<double>*> params[] = {
      {"minval", &s.minval}, {"maxval", &s.maxval}, {"mean", &s.mean}, {"stddev", &s.stddev}, {"value", &s.value}};
  for (const auto& [key, v] : params) {
    if (*v) j.set(key, **v);
  }
  if (s.seed) j.set("seed", std::to_string(*s.seed));
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

Json seed_json(const std::optional<uint64_t>& seed) { return seed ? Json(std::to_string(*seed)) : Json(); }

ActivationSpec activation_from(const Json& c, const std::string& path) {
  ActivationSpec a;
  a.name = c.at("activation", path).as_string(path + ".activation");
  const Json* alpha = c.find("activation_alpha");
  if (alpha && !alpha->is_null()) a.alpha = alpha->as_number(path + ".activation_alpha");
  return a;
}

uint64_t seed_from(const Json& seed, const std::string& path) {
  const std::string& text = seed.as_string(path);
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || text[0] == '-' || *end != '\0' || errno == ERANGE) throw IOError(path + ": not an integer seed");
  return v;
}

std::optional<uint64_t> optional_seed_from(const Json& c, const std::string& path) {
  const Json* seed = c.find("seed");
  if (!seed || seed->is_null()) return std::nullopt;
  return seed_from(*seed, path + ".seed");
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

const std::string& name_from(const Json& c, const std::string& path) {
  static const std::string empty;
  const Json* n = c.find("name");
  return n ? n->as_string(path + ".name") : empty;
}

Json shape_json(const Shape& s) {
  Json a = Json::array();
  for (int64_t d : s) a.push_back(d);
  return a;
}

Shape shape_from(const Json& j, const std::string& path, int64_t lo) {
  Shape s;
  const auto& items = j.as_array(path);
  if (items.size() > 7) throw IOError(path + ": at most 7 dimensions per sample");
  for (size_t i = 0; i < items.size(); ++i) {
    s.push_back(items[i].as_int(path + "[" + std::to_string(i) + "]", lo, kMaxDim));
  }
  return s;
}

void set_input_shape(Json& c, const Shape& declared) {
  Json kept = Json::object();  // without a previous declaration (keys stay unique)
  for (const auto& kv : c.as_object("config")) {
    if (kv.first != "input_dim" && kv.first != "input_shape") kept.set(kv.first, kv.second);
  }
  c = std::move(kept);
  if (declared.size() <= 1) {
    c.set("input_dim", declared.empty() ? int64_t{0} : declared[0]);
  } else {
    c.set("input_shape", shape_json(declared));
  }
}

Shape input_shape_from(const Json& c, const std::string& path) {
  if (const Json* s = c.find("input_shape"); s && !s->is_null()) return shape_from(*s, path + ".input_shape", 1);
  const Json* d = c.find("input_dim");
  if (!d || d->is_null()) return {};
  const int64_t dim = d->as_int(path + ".input_dim", 0, kMaxDim);
  return dim > 0 ? Shape{dim} : Shape{};
}

}  // namespace fastann::nn

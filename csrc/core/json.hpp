// A small, strict JSON value for the model file's header: parse (RFC 8259, no extensions, bounded depth, duplicate
// keys rejected) and dump. Every parse failure throws IOError with the byte offset; readers use the typed getters,
// which throw IOError naming the JSON path of a missing or mistyped value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fastann::io {

class Json {
 public:
  enum class Type { null, boolean, number, string, array, object };
  using Object = std::vector<std::pair<std::string, Json>>;  // keeps insertion order
  using Array = std::vector<Json>;

  Json() = default;                                                       // null
  Json(std::nullptr_t) {}                                                 // NOLINT
  Json(bool b) : type_(Type::boolean), bool_(b) {}                        // NOLINT
  Json(double d) : type_(Type::number), num_(d) {}                        // NOLINT
  Json(int64_t i) : type_(Type::number), num_(static_cast<double>(i)) {}  // NOLINT
  Json(int i) : Json(static_cast<int64_t>(i)) {}                          // NOLINT
  Json(std::string s) : type_(Type::string), str_(std::move(s)) {}        // NOLINT
  Json(const char* s) : Json(std::string(s)) {}                           // NOLINT
  static Json array(Array items = {});
  static Json object(Object members = {});

  // Parses a complete document (surrounding whitespace allowed). `what` names the document in error messages.
  static Json parse(std::string_view text, const char* what = "JSON");
  // Compact text; numbers that are integers print without a fraction, others with 17 significant digits.
  std::string dump() const;

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::null; }
  bool is_object() const { return type_ == Type::object; }

  // Building.
  Json& set(std::string key, Json value);  // object: appends (the caller keeps keys unique)
  Json& push_back(Json value);             // array

  // Reading. `path` names this value in error messages (e.g. "config.layers[2]").
  const Json* find(const std::string& key) const;                         // object member or nullptr
  const Json& at(const std::string& key, const std::string& path) const;  // throws when absent
  bool as_bool(const std::string& path) const;
  double as_number(const std::string& path) const;
  // An integer in [lo, hi] (the number must be integral).
  int64_t as_int(const std::string& path, int64_t lo, int64_t hi) const;
  const std::string& as_string(const std::string& path) const;
  const Array& as_array(const std::string& path) const;
  const Object& as_object(const std::string& path) const;

 private:
  friend class JsonParser;
  Type type_ = Type::null;
  bool bool_ = false;
  double num_ = 0.0;
  std::string str_;
  Array arr_;
  Object obj_;
};

}  // namespace fastann::io

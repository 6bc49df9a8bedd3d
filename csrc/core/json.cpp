#include "core/json.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <sstream>

#include "fastann/error.hpp"

namespace fastann::io {

namespace {

constexpr int kMaxDepth = 64;

const char* type_name(Json::Type t) {
  switch (t) {
    case Json::Type::null:
      return "null";
    case Json::Type::boolean:
      return "a boolean";
    case Json::Type::number:
      return "a number";
    case Json::Type::string:
      return "a string";
    case Json::Type::array:
      return "an array";
    case Json::Type::object:
      return "an object";
  }
  return "?";
}

[[noreturn]] void type_error(const std::string& path, const char* expected, Json::Type got) {
  throw IOError(path + ": expected " + expected + ", got " + type_name(got));
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

void dump_string(std::string& out, const std::string& s) {
  out += '"';
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;  // UTF-8 passes through
        }
    }
  }
  out += '"';
}

void dump_value(std::string& out, const Json& v);

}  // namespace

// Recursive descent over the RFC 8259 grammar; positions are byte offsets into the text.
class JsonParser {
 public:
  JsonParser(std::string_view text, const char* what) : s_(text), what_(what) {}

  Json document() {
    ws();
    Json v = value(0);
    ws();
    if (pos_ != s_.size()) fail("unexpected data after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& msg) const {
    throw IOError(std::string(what_) + ": invalid JSON at byte " + std::to_string(pos_) + ": " + msg);
  }
  bool eof() const { return pos_ >= s_.size(); }
  char peek() const { return eof() ? '\0' : s_[pos_]; }
  void ws() {
    while (!eof() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_;
  }
  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }
  void literal(const char* word) {
    for (const char* p = word; *p; ++p) {
      if (peek() != *p) fail(std::string("expected '") + word + "'");
      ++pos_;
    }
  }

  Json value(int depth) {
    if (depth > kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
    switch (peek()) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"':
        return Json(string());
      case 't':
        literal("true");
        return Json(true);
      case 'f':
        literal("false");
        return Json(false);
      case 'n':
        literal("null");
        return Json();
      default:
        if (peek() == '-' || (peek() >= '0' && peek() <= '9')) return Json(number());
        if (eof()) fail("unexpected end of input");
        fail("unexpected character");
    }
  }

  Json object(int depth) {
    expect('{');
    Json v = Json::object();
    ws();
    if (peek() == '}') {
      ++pos_;
      return v;
    }
    for (;;) {
      ws();
      if (peek() != '"') fail("expected a string key");
      std::string key = string();
      if (v.find(key)) fail("duplicate key \"" + key + "\"");
      ws();
      expect(':');
      ws();
      v.obj_.emplace_back(std::move(key), value(depth + 1));
      ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return v;
    }
  }

  Json array(int depth) {
    expect('[');
    Json v = Json::array();
    ws();
    if (peek() == ']') {
      ++pos_;
      return v;
    }
    for (;;) {
      ws();
      v.arr_.push_back(value(depth + 1));
      ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return v;
    }
  }

  uint32_t hex4() {
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = peek();
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        fail("bad \\u escape");
      cp = cp * 16 + static_cast<uint32_t>(d);
      ++pos_;
    }
    return cp;
  }

  std::string string() {
    expect('"');
    std::string out;
    for (;;) {
      if (eof()) fail("unterminated string");
      const auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (c < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += static_cast<char>(c);
        ++pos_;
        continue;
      }
      ++pos_;
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (peek() != '\\') fail("unpaired surrogate in \\u escape");
            ++pos_;
            if (peek() != 'u') fail("unpaired surrogate in \\u escape");
            ++pos_;
            const uint32_t lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired surrogate in \\u escape");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
            fail("unpaired surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          --pos_;
          fail("bad escape");
      }
    }
  }

  double number() {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++pos_;
    } else {
      fail("bad number");
    }
    if (peek() == '.') {
      ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!(peek() >= '0' && peek() <= '9')) fail("bad number");
      while (peek() >= '0' && peek() <= '9') ++pos_;
    }
    // The grammar was checked above, so strtod reads exactly this token (from a NUL-terminated copy).
    const std::string token(s_.substr(start, pos_ - start));
    const double v = std::strtod(token.c_str(), nullptr);
    if (!std::isfinite(v)) fail("number out of range");
    return v;
  }

  std::string_view s_;
  const char* what_;
  size_t pos_ = 0;
};

Json Json::array(Array items) {
  Json v;
  v.type_ = Type::array;
  v.arr_ = std::move(items);
  return v;
}

Json Json::object(Object members) {
  Json v;
  v.type_ = Type::object;
  v.obj_ = std::move(members);
  return v;
}

Json Json::parse(std::string_view text, const char* what) { return JsonParser(text, what).document(); }

Json& Json::set(std::string key, Json value) {
  if (type_ != Type::object) throw Error("Json::set on a non-object");
  obj_.emplace_back(std::move(key), std::move(value));
  return obj_.back().second;
}

Json& Json::push_back(Json value) {
  if (type_ != Type::array) throw Error("Json::push_back on a non-array");
  arr_.push_back(std::move(value));
  return arr_.back();
}

const Json* Json::find(const std::string& key) const {
  if (type_ != Type::object) return nullptr;
  for (const auto& kv : obj_) {
    if (kv.first == key) return &kv.second;
  }
  return nullptr;
}

const Json& Json::at(const std::string& key, const std::string& path) const {
  as_object(path);
  const Json* v = find(key);
  if (!v) throw IOError(path + ": missing \"" + key + "\"");
  return *v;
}

bool Json::as_bool(const std::string& path) const {
  if (type_ != Type::boolean) type_error(path, "a boolean", type_);
  return bool_;
}

double Json::as_number(const std::string& path) const {
  if (type_ != Type::number) type_error(path, "a number", type_);
  return num_;
}

int64_t Json::as_int(const std::string& path, int64_t lo, int64_t hi) const {
  const double v = as_number(path);
  if (v != std::floor(v) || v < static_cast<double>(lo) || v > static_cast<double>(hi)) {
    std::ostringstream os;
    os << path << ": expected an integer in [" << lo << ", " << hi << "], got ";
    // A whole number as its digits (2**62, not 4.61169e+18), so that the message shows the value given.
    if (v == std::floor(v) && std::fabs(v) < 1e19) os << std::fixed << std::setprecision(0);
    os << v;
    throw IOError(os.str());
  }
  return static_cast<int64_t>(v);
}

const std::string& Json::as_string(const std::string& path) const {
  if (type_ != Type::string) type_error(path, "a string", type_);
  return str_;
}

const Json::Array& Json::as_array(const std::string& path) const {
  if (type_ != Type::array) type_error(path, "an array", type_);
  return arr_;
}

const Json::Object& Json::as_object(const std::string& path) const {
  if (type_ != Type::object) type_error(path, "an object", type_);
  return obj_;
}

namespace {

void dump_value(std::string& out, const Json& v) {
  switch (v.type()) {
    case Json::Type::null:
      out += "null";
      return;
    case Json::Type::boolean:
      out += v.as_bool("") ? "true" : "false";
      return;
    case Json::Type::number: {
      const double d = v.as_number("");
      char buf[32];
      if (!std::isfinite(d)) throw Error("cannot write a non-finite number to JSON");
      if (d == std::floor(d) && std::fabs(d) < 9.007199254740992e15) {
        std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(d));
      } else {
        std::snprintf(buf, sizeof buf, "%.17g", d);
      }
      out += buf;
      return;
    }
    case Json::Type::string:
      dump_string(out, v.as_string(""));
      return;
    case Json::Type::array: {
      out += '[';
      bool first = true;
      for (const Json& e : v.as_array("")) {
        if (!first) out += ',';
        first = false;
        dump_value(out, e);
      }
      out += ']';
      return;
    }
    case Json::Type::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.as_object("")) {
        if (!first) out += ',';
        first = false;
        dump_string(out, kv.first);
        out += ':';
        dump_value(out, kv.second);
      }
      out += '}';
      return;
    }
  }
}

}  // namespace

std::string Json::dump() const {
  std::string out;
  dump_value(out, *this);
  return out;
}

}  // namespace fastann::io

// The process environment and its warnings (see env.hpp).
#include "core/env.hpp"

#include <sched.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <thread>

namespace fastann::env {

namespace {

std::mutex g_mu;
bool g_collect = false;
std::vector<std::string> g_queue;
constexpr size_t kMaxQueued = 64;  // a host that never drains loses the newest, not memory

void write_stderr(const std::string& message) { std::fprintf(stderr, "fastann: %s\n", message.c_str()); }

}  // namespace

void warn(const std::string& message) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_collect) {
    write_stderr(message);
  } else if (g_queue.size() < kMaxQueued) {
    g_queue.push_back(message);
  }
}

void set_collect_warnings(bool collect) {
  std::lock_guard<std::mutex> lk(g_mu);
  g_collect = collect;
  if (!collect) {
    for (const std::string& m : g_queue) write_stderr(m);
    g_queue.clear();
  }
}

std::vector<std::string> take_warnings() {
  std::lock_guard<std::mutex> lk(g_mu);
  std::vector<std::string> out;
  out.swap(g_queue);
  return out;
}

bool parse_int(const char* text, long minimum, long maximum, long* out) {
  if (!text) return false;
  const char* p = text;
  if (*p == '+') ++p;
  if (*p < '0' || *p > '9') return false;  // no sign but one '+', no spaces, not empty
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(p, &end, 10);
  if (*end != '\0') return false;
  if (errno == ERANGE) v = std::numeric_limits<long>::max();  // all digits, past long: saturate
  if (v < minimum) return false;
  *out = v > maximum ? maximum : v;
  return true;
}

std::string shown(const char* text, size_t max) {
  std::string out;
  size_t i = 0;
  for (; text[i] && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      static const char hex[] = "0123456789abcdef";
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  if (text[i]) out += "...";
  return out;
}

int available_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc >= 1 ? static_cast<int>(hc) : 1;
}

int max_threads() {
  static const int cap = 4 * available_cpus();
  return cap;
}

}  // namespace fastann::env

// ISA selection over the registered kernel sets (gemm/kernels/registry.cpp): the default is the supported one (its
// CPU features present, its code compiled in) of highest priority; FASTANN_ISA or set_isa() override.
#include "dispatch.hpp"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/env.hpp"
#include "cpu_features.hpp"
#include "gemm/kernels/registry.hpp"

namespace fastann::cpu {
namespace {

// A function-local static: built on first use, whatever the order of static initialisation, and filled once.
const IsaRegistry& registry() {
  static const IsaRegistry r("ISA", &gemm::fill_kernel_sets);
  return r;
}

// Why `isa` is not supported (for messages).
std::string unsupported_reason(Isa isa) {
  if (!isa->kernels) return "not compiled into this build";
  return "this CPU lacks " + cpu_feature_names(isa->needs & ~cpu_features());
}

std::string supported_list() {
  std::string s;
  for (const std::string& n : registry().names()) {
    if (isa_supported(&registry().get(n))) s += (s.empty() ? "" : ", ") + n;
  }
  return s;
}

Isa best_supported() {
  Isa best = nullptr;
  for (const std::string& n : registry().names()) {
    const Isa e = &registry().get(n);
    if (isa_supported(e) && (!best || e->priority > best->priority)) best = e;
  }
  FASTANN_CHECK_STATE(best, "no CPU kernel set is usable; registered: " << registry().names_list());
  return best;
}

// The ISA at start-up: FASTANN_ISA when set and usable (else a warning and the best supported one).
Isa initial_isa() {
  const Isa best = best_supported();
  const char* text = std::getenv("FASTANN_ISA");
  if (!text || !*text) return best;
  const Isa want = registry().find(text);
  if (!want) {
    env::warn("FASTANN_ISA='" + env::shown(text) + "' is not a CPU kernel set (registered: " + registry().names_list() +
              "); using " + best->name);
  } else if (!isa_supported(want)) {
    env::warn("FASTANN_ISA='" + env::shown(text) + "' is not supported on this CPU or build (" +
              unsupported_reason(want) + "); using " + best->name);
  } else {
    return want;
  }
  return best;
}

// Published with release, read with acquire: a thread that reads the pointer also sees the filled entry.
std::atomic<Isa> g_isa{nullptr};

}  // namespace

bool isa_supported(Isa isa) { return isa->kernels != nullptr && (cpu_features() & isa->needs) == isa->needs; }

Isa active_isa() {
  Isa v = g_isa.load(std::memory_order_acquire);
  if (!v) {
    static const Isa init = initial_isa();
    Isa expected = nullptr;
    g_isa.compare_exchange_strong(expected, init, std::memory_order_acq_rel);
    v = g_isa.load(std::memory_order_acquire);
  }
  return v;
}

void set_isa(Isa isa) {
  FASTANN_CHECK_ARG(isa_supported(isa), "fastann: ISA " << isa->name << " is not supported on this CPU or build ("
                                                        << unsupported_reason(isa)
                                                        << "); supported: " << supported_list());
  g_isa.store(isa, std::memory_order_release);
}

const char* isa_name(Isa isa) { return isa->name; }

Isa isa_from_name(const std::string& name) { return &registry().get(name); }

std::vector<std::string> isa_names() { return registry().names(); }

namespace gemm {

const KernelSet& active_kernels() { return *active_isa()->kernels; }

}  // namespace gemm

}  // namespace fastann::cpu

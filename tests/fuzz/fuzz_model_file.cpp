// libFuzzer target: the model-file reader on arbitrary bytes. Every input must give a model or a fastann::Error;
// anything else (a crash, a sanitizer report, another exception type, a hang) is a finding. Crashes found become
// files in tests/fuzz/regressions/, which tests/cpp runs as regular tests.
//
//   cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DFASTANN_BUILD_FUZZERS=ON && cmake --build build/fuzz
//   build/fuzz/tests/fuzz/fuzz_model_file -max_total_time=60 tests/fuzz/corpus/model_file
#include <cstddef>
#include <cstdint>

#include "fastann/fastann.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    fastann::Sequential model = fastann::load_model_from_memory(data, size);
    // A model that loads must be usable: serialise it again and, when it has weights, run one prediction.
    (void)fastann::serialize_model(model);
    if (model.built() && model.input_dim() <= 4096) {
      fastann::Tensor x({1, model.input_dim()});
      (void)model.predict(x);
    }
  } catch (const fastann::Error&) {
    // rejected with a clear error: the expected outcome for almost every input
  }
  return 0;
}

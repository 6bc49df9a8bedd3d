// The CUDA backend's kernels in a build without it (FASTANN_CUDA=OFF, or AUTO without nvcc): each throws
// UnavailableError. Nothing reaches them in practice: the runtime registry has no CUDA backend then, so no tensor can
// be allocated on a CUDA device, and ops route to CUDA only for CUDA tensors.
#include <string>

#include "cuda/backend.hpp"
#include "fastann/error.hpp"

namespace fastann::cuda {

namespace {

[[noreturn]] void not_built(const char* what) {
  throw UnavailableError(std::string(what) +
                         ": this fastann was built without the CUDA backend (rebuild with FASTANN_CUDA=ON and the "
                         "CUDA toolkit installed)");
}

}  // namespace

void gemm(int, bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
          float*, int64_t, const float*, const ops::ActParams*) {
  not_built("gemm");
}
void gemm_batched(int, int64_t, int64_t, int64_t, const float*, const int64_t*, const float*, const int64_t*, float*,
                  int64_t) {
  not_built("matmul");
}
std::string gemm_plan(int, bool, bool, int64_t, int64_t, int64_t, int64_t*) { not_built("gemm_plan"); }
void loss_accumulate(int, const ops::LossParams&, const float*, const float*, int64_t, int64_t, float*, float*, float,
                     const float*, double*, double*, int64_t) {
  not_built("loss");
}
void metric_accumulate(int, const ops::MetricParams&, const float*, const float*, const float*, int64_t, int64_t,
                       double*) {
  not_built("metric");
}
double loss(int, const ops::LossParams&, const float*, const float*, int64_t, int64_t, float*, float*, float,
            const float*) {
  not_built("loss");
}
void regularizer_accumulate(int, float, float, const float*, float*, float, int64_t, double*, double) {
  not_built("regularizer");
}

}  // namespace fastann::cuda

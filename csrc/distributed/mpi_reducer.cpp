// MpiReducer: see mpi_reducer.hpp.
#include "distributed/mpi_reducer.hpp"

#include <algorithm>
#include <chrono>
#include <climits>
#include <string>

namespace fastann {

namespace {

std::string mpi_error_string(int rc) {
  char buf[MPI_MAX_ERROR_STRING + 1] = {};
  int len = 0;
  if (MPI_Error_string(rc, buf, &len) != MPI_SUCCESS) return "MPI error code " + std::to_string(rc);
  return std::string(buf, static_cast<size_t>(std::clamp(len, 0, MPI_MAX_ERROR_STRING)));
}

std::string seconds_str(double s) {
  std::string t = std::to_string(s);
  t.erase(t.find_last_not_of('0') + 1);
  if (!t.empty() && t.back() == '.') t.pop_back();
  return t;
}

}  // namespace

MpiReducer::MpiReducer(MPI_Comm comm, double timeout_s, bool overlap) : timeout_s_(timeout_s), overlap_(overlap) {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  if (!initialized || finalized) {
    throw StateError(
        "MpiReducer: MPI is not initialised (or already finalised); call MPI_Init first "
        "(Python: fastann.distributed.init())");
  }
  if (comm == MPI_COMM_NULL) throw ValueError("MpiReducer: the communicator is MPI_COMM_NULL");
  if (!(timeout_s > 0.0)) throw ValueError("MpiReducer: timeout must be > 0 seconds, got " + seconds_str(timeout_s));
  reqs_.reserve(8);
  MPI_Comm_rank(comm, &rank_);
  MPI_Comm_size(comm, &size_);
  // Our own communicator, so errors are returned (not fatal) and fastann's messages never mix with the caller's.
  reqs_.push_back(MPI_REQUEST_NULL);
  const int rc = MPI_Comm_idup(comm, &comm_, &reqs_.back());
  if (rc != MPI_SUCCESS) {
    reqs_.clear();
    failed_ = true;
    throw DistributedError("fastann.distributed: MPI_Comm_idup failed on rank " + std::to_string(rank_) + " of " +
                           std::to_string(size_) + ": " + mpi_error_string(rc));
  }
  wait_all("MPI_Comm_idup (setting up the reducer)", 0);
  check(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
}

MpiReducer::~MpiReducer() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  // After a failure the communicator may have pending operations: leave it to MPI_Abort / the end of the job.
  if (!finalized && !failed_ && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

void MpiReducer::require_usable(const char* what) const {
  if (failed_) {
    throw DistributedError(std::string("fastann.distributed: ") + what + " on rank " + std::to_string(rank_) + " of " +
                           std::to_string(size_) +
                           ": an earlier collective failed, so the processes are "
                           "out of step; end the job (fastann.distributed.abort())");
  }
}

void MpiReducer::check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  failed_ = true;
  throw DistributedError(std::string("fastann.distributed: ") + what + " failed on rank " + std::to_string(rank_) +
                         " of " + std::to_string(size_) + ": " + mpi_error_string(rc) + " (has another rank died?)");
}

void MpiReducer::start_allreduce(void* data, int64_t n, MPI_Datatype type, int64_t elem_size) {
  auto* p = static_cast<char*>(data);
  for (int64_t done = 0; done < n;) {
    const int count = static_cast<int>(std::min<int64_t>(n - done, INT_MAX));
    reqs_.push_back(MPI_REQUEST_NULL);
    check(MPI_Iallreduce(MPI_IN_PLACE, p + done * elem_size, count, type, MPI_SUM, comm_, &reqs_.back()),
          "MPI_Iallreduce");
    done += count;
  }
}

void MpiReducer::wait_all(const char* what, int64_t n) {
  using clock = std::chrono::steady_clock;
  const auto deadline =
      clock::now() + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(timeout_s_));
  for (unsigned k = 0;; ++k) {
    int done = 0;
    const int rc = MPI_Testall(static_cast<int>(reqs_.size()), reqs_.data(), &done, MPI_STATUSES_IGNORE);
    if (rc != MPI_SUCCESS) {
      failed_ = true;
      reqs_.clear();
      throw DistributedError(std::string("fastann.distributed: ") + what +
                             (n ? " (" + std::to_string(n) + " values)" : std::string()) + " failed on rank " +
                             std::to_string(rank_) + " of " + std::to_string(size_) + ": " + mpi_error_string(rc) +
                             " (has another rank died?)");
    }
    if (done) break;
    if (k % 64 == 63 && clock::now() > deadline) {
      failed_ = true;
      reqs_.clear();  // left pending: the communicator is not used again
      throw DistributedError(std::string("fastann.distributed: ") + what +
                             (n ? " (" + std::to_string(n) + " values)" : std::string()) + " on rank " +
                             std::to_string(rank_) + " of " + std::to_string(size_) + " did not complete within " +
                             seconds_str(timeout_s_) +
                             " s: another rank has probably died, hangs, or is not running the same fit "
                             "(every rank must call fit with the same data sizes and arguments)");
    }
  }
  reqs_.clear();
}

void MpiReducer::gradients_ready(float* grads, int64_t begin, int64_t end) {
  if (!overlap_ || size_ == 1 || begin >= end || pending_begin_ >= 0) return;
  require_usable("MPI_Iallreduce of the last layer's gradients");
  start_allreduce(grads + begin, end - begin, MPI_FLOAT, sizeof(float));
  pending_begin_ = begin;
  pending_end_ = end;
}

void MpiReducer::reduce(float* grads, int64_t n) {
  if (size_ == 1) {
    pending_begin_ = -1;
    return;
  }
  require_usable("MPI_Iallreduce of the gradients");
  if (pending_begin_ >= 0) {  // the tail is under way: the rest, in the same order on every rank
    const int64_t b = std::min(pending_begin_, n), e = std::min(pending_end_, n);
    pending_begin_ = -1;
    start_allreduce(grads, b, MPI_FLOAT, sizeof(float));
    start_allreduce(grads + e, n - e, MPI_FLOAT, sizeof(float));
  } else {
    start_allreduce(grads, n, MPI_FLOAT, sizeof(float));
  }
  wait_all("MPI_Iallreduce of the gradients", n);
  const float inv = 1.0f / static_cast<float>(size_);
  for (int64_t i = 0; i < n; ++i) grads[i] *= inv;
}

void MpiReducer::reduce_sums(double* values, int64_t n) {
  if (size_ == 1 || n == 0) return;
  require_usable("MPI_Iallreduce of the epoch's loss and metric sums");
  start_allreduce(values, n, MPI_DOUBLE, sizeof(double));
  wait_all("MPI_Iallreduce of the epoch's loss and metric sums", n);
}

void MpiReducer::broadcast(void* data, int64_t bytes, int root) {
  if (root < 0 || root >= size_) {
    throw ValueError("MpiReducer.broadcast: root must be in [0, " + std::to_string(size_) + "), got " +
                     std::to_string(root));
  }
  if (size_ == 1 || bytes == 0) return;
  require_usable("MPI_Ibcast");
  auto* p = static_cast<char*>(data);
  for (int64_t done = 0; done < bytes;) {
    const int count = static_cast<int>(std::min<int64_t>(bytes - done, INT_MAX));
    reqs_.push_back(MPI_REQUEST_NULL);
    check(MPI_Ibcast(p + done, count, MPI_BYTE, root, comm_, &reqs_.back()), "MPI_Ibcast");
    done += count;
  }
  wait_all("MPI_Ibcast", bytes);
}

void MpiReducer::barrier() {
  if (size_ == 1) return;
  require_usable("MPI_Ibarrier");
  reqs_.push_back(MPI_REQUEST_NULL);
  check(MPI_Ibarrier(comm_, &reqs_.back()), "MPI_Ibarrier");
  wait_all("MPI_Ibarrier", 0);
}

}  // namespace fastann

// The MPI gradient reducer: averages every step's gradients over the processes of an MPI communicator with one
// in-place MPI_Iallreduce (MPI_FLOAT, MPI_SUM, then a scale by 1/size), optionally starting the reduction of the last
// layer's gradients while the backward pass of the earlier layers runs. Built only when CMake finds MPI (the
// Python module fastann._mpi links it); the core library does not depend on MPI.
//
// Failure is bounded in time: the reducer works on its own duplicate of the communicator with MPI_ERRORS_RETURN, so
// an MPI error becomes an exception, and it waits for each collective by polling it against a deadline, so a peer
// that died or hangs makes the others throw fastann::DistributedError (naming this rank and the collective) after
// `timeout_s` seconds instead of blocking forever. After such a failure the reducer refuses further collectives
// (the communicator's state is unknown): the job should end (MPI_Abort).
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "fastann/distributed.hpp"
#include "fastann/error.hpp"

namespace fastann {

class MpiReducer final : public GradientReducer {
 public:
  // comm: the processes that train together (MPI must be initialised; the reducer duplicates it, so this is a
  // collective call). timeout_s > 0: the longest any one collective may take. overlap: reduce the last layer's
  // gradients during the backward pass of the others (gradients_ready), as a second collective.
  MpiReducer(MPI_Comm comm, double timeout_s, bool overlap);
  ~MpiReducer() override;
  MpiReducer(const MpiReducer&) = delete;
  MpiReducer& operator=(const MpiReducer&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  double timeout() const { return timeout_s_; }
  bool overlap() const { return overlap_; }
  // True once a collective failed or timed out.
  bool failed() const { return failed_; }

  void reduce(float* grads, int64_t n) override;
  void reduce_sums(double* values, int64_t n) override;
  void gradients_ready(float* grads, int64_t begin, int64_t end) override;

  // Helpers for setting up training (same deadline and error reporting): root's bytes to every process; a barrier.
  void broadcast(void* data, int64_t bytes, int root);
  void barrier();

 private:
  // Starts in-place sum reductions of data[0, n) (in chunks of at most INT_MAX elements) into reqs_.
  void start_allreduce(void* data, int64_t n, MPI_Datatype type, int64_t elem_size);
  // Waits for every request in reqs_ until the deadline; throws DistributedError naming `what` on failure.
  void wait_all(const char* what, int64_t n);
  void check(int rc, const char* what);
  void require_usable(const char* what) const;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0, size_ = 1;
  double timeout_s_;
  bool overlap_;
  bool failed_ = false;
  std::vector<MPI_Request> reqs_;  // capacity reserved up front: no allocation per step
  int64_t pending_begin_ = -1;     // start of the range gradients_ready began reducing, -1 when none
  int64_t pending_end_ = -1;
};

}  // namespace fastann

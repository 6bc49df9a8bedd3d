// A model's calls in flight, and the rules between them (docs/reliability.md, "Threads"):
//
//   read    predict, evaluate, test_on_batch, get_weights, save, summary, layer info: any number at once, also
//           while the model trains (they then see weights between two updates)
//   write   set_weights, set_learning_rate, set_optimizer_state: values change in place, buffers stay; allowed
//           from a fit's own callbacks, not while another thread trains the model
//   train   fit, train_on_batch: one at a time per model
//   change  add, build, compile, to(device), set_gradient_reducer: the structure changes (buffers are replaced),
//           so only when no other call of the model is in flight
//
// A call that may not run now throws StateError (Python: RuntimeError) naming both calls, at once. Entering a
// pass never waits: the mutex is held for a few instructions and never while a call runs, so a binding that enters
// a gate while holding the GIL cannot deadlock with a thread that needs the GIL to finish its call.
//
// The values (weights, layer state such as BatchNormalization's moving statistics, optimizer state) are read by
// readers while a training thread updates them: each reader's section (a chunk of predict or evaluate, a copy of
// the weights, a serialization) holds Reading, each update (a training step's forward pass, which moves layer state,
// and its optimizer step; set_weights and the other writes) holds Updating, so a reader sees the values between two
// updates, never a torn mix. These do wait, a bounded time, because a section never waits for anything while it is
// held (not the GIL, not another lock, not a callback): a reader waits at most one update, an update waits for the
// readers' sections in progress. Readers are preferred (a reader never waits for a waiting update), so sections
// nest on a thread; an update inside a thread's own read section is a bug and throws.
//
// Calls nest on one thread (set_weights inside a fit's callback, the layer weights inside set_weights): a nested
// call is checked against the calls of other threads only, except that no structural change may happen under a
// call of the same thread that is still using the model (a callback cannot add a layer to the model being fit).
//
// Fork: a child process has only the thread that called fork(). Every gate is registered; at fork the gates'
// mutexes are taken (so none is mid-update) and, in the child, the calls of the threads that do not exist there
// are forgotten, as are the workspace claims (so the child can predict, evaluate, fit and save the model).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

namespace fastann::nn {

class CallGate {
 public:
  enum class Kind : uint8_t { read, write, train, change };
  // The model's shared workspaces: a call that claims one uses it, a call that finds it claimed uses its own.
  enum class Workspace : uint8_t { train, predict };

  CallGate();
  ~CallGate();
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;

  // One call in flight (RAII); `call` names it in errors ("fit", "predict", ...) and must outlive the pass (a
  // string literal).
  class Pass {
   public:
    Pass(CallGate& gate, Kind kind, const char* call);
    ~Pass();
    Pass(const Pass&) = delete;
    Pass& operator=(const Pass&) = delete;

   private:
    CallGate& gate_;
    Kind kind_;
    const char* call_;
  };

  // A read section of the values (RAII); see above.
  class Reading {
   public:
    explicit Reading(CallGate& gate);
    ~Reading();
    Reading(const Reading&) = delete;
    Reading& operator=(const Reading&) = delete;

   private:
    CallGate& gate_;
  };

  // An update of the values (RAII): waits for the read sections of other threads to end; nests on one thread.
  class Updating {
   public:
    explicit Updating(CallGate& gate);
    ~Updating();
    Updating(const Updating&) = delete;
    Updating& operator=(const Updating&) = delete;

   private:
    CallGate& gate_;
  };

  // A shared workspace claimed for one call (RAII): owned() is false when another call has it.
  class Claim {
   public:
    Claim(CallGate& gate, Workspace w);
    ~Claim();
    Claim(const Claim&) = delete;
    Claim& operator=(const Claim&) = delete;
    bool owned() const { return owned_; }

   private:
    CallGate& gate_;
    size_t w_;
    bool owned_ = false;
  };

 private:
  friend struct GateRegistry;
  struct Holder {
    const char* call = nullptr;
    std::thread::id thread;
    int depth = 0;
  };
  void enter(Kind kind, const char* call);
  void leave(Kind kind) noexcept;
  // In a forked child: only the calls of this thread (the one that forked) are still in flight.
  void keep_only_this_thread() noexcept;

  std::mutex mu_;          // guards everything below; held for a few instructions, never across a call
  Holder train_, change_;  // at most one each (nested calls of the holder's thread count in depth)
  int reads_ = 0, writes_ = 0;
  const char* read_call_ = nullptr;  // the latest read / write to enter, to name one in an error
  const char* write_call_ = nullptr;
  bool claimed_[2] = {false, false};
  std::thread::id claimer_[2];
  // The values' sections (Reading, Updating): readers_ counts every thread's read sections.
  std::condition_variable values_cv_;
  int readers_ = 0;
  std::thread::id updater_;
  int update_depth_ = 0;
  CallGate* prev_ = nullptr;  // the registry of live gates (for the fork handlers)
  CallGate* next_ = nullptr;
};

}  // namespace fastann::nn

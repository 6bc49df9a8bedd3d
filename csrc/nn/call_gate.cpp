// The model's call gate (see call_gate.hpp): the rules between calls in flight, and its fork handlers.
#include "nn/call_gate.hpp"

#include <pthread.h>

#include <new>

#include "core/check.hpp"

namespace fastann::nn {

namespace {

// The passes this thread holds, innermost last: in a forked child they are the only calls still in flight (the
// other threads' calls ended with their threads). Deeper nesting than this is not recorded; a child forked from
// there would see fewer calls in flight than there are (and the counts are clamped at zero when they end).
struct HeldPass {
  CallGate* gate;
  CallGate::Kind kind;
  const char* call;
};
constexpr int kMaxHeld = 16;
thread_local HeldPass t_held[kMaxHeld];
thread_local int t_depth = 0;

// This thread's read sections per gate (CallGate::Reading): an update waits for the other threads' sections only,
// and a forked child keeps the forking thread's. A thread reading more gates at once than this is not recorded
// (an update of those from the same thread would then wait for itself: no code path does that).
struct ReadSections {
  const CallGate* gate;
  int n;
};
constexpr int kMaxReadGates = 8;
thread_local ReadSections t_reads[kMaxReadGates];

int& my_reads(const CallGate* g) {
  static thread_local int overflow = 0;
  ReadSections* free_slot = nullptr;
  for (ReadSections& r : t_reads) {
    if (r.gate == g) return r.n;
    if (!free_slot && r.n == 0) free_slot = &r;
  }
  if (!free_slot) return overflow = 0;
  free_slot->gate = g;
  return free_slot->n;
}

}  // namespace

// Every live gate, for the fork handlers: before fork() every gate's mutex is taken (so no gate is in the middle of
// an update), after it released in the parent, and in the child each gate forgets the calls of the threads that
// the child does not have. Never destroyed: a model may outlive static destruction (a Python object collected at
// exit).
struct GateRegistry {
  std::mutex mu;
  CallGate* head = nullptr;

  static GateRegistry& get() {
    static GateRegistry* r = [] {
      auto* reg = new GateRegistry;
      pthread_atfork(&prepare, &parent, &child);
      return reg;
    }();
    return *r;
  }
  static void prepare() {
    GateRegistry& r = get();
    r.mu.lock();
    for (CallGate* g = r.head; g; g = g->next_) g->mu_.lock();
  }
  static void parent() {
    GateRegistry& r = get();
    for (CallGate* g = r.head; g; g = g->next_) g->mu_.unlock();
    r.mu.unlock();
  }
  static void child() {
    GateRegistry& r = get();
    for (CallGate* g = r.head; g; g = g->next_) {
      g->keep_only_this_thread();
      g->mu_.unlock();  // locked by this very thread in prepare()
    }
    r.mu.unlock();
  }
};

CallGate::CallGate() {
  GateRegistry& r = GateRegistry::get();
  std::lock_guard<std::mutex> lock(r.mu);
  next_ = r.head;
  if (r.head) r.head->prev_ = this;
  r.head = this;
}

CallGate::~CallGate() {
  GateRegistry& r = GateRegistry::get();
  std::lock_guard<std::mutex> lock(r.mu);
  if (prev_) prev_->next_ = next_;
  if (next_) next_->prev_ = prev_;
  if (r.head == this) r.head = next_;
}

CallGate::Pass::Pass(CallGate& gate, Kind kind, const char* call) : gate_(gate), kind_(kind), call_(call) {
  gate_.enter(kind_, call_);
}

CallGate::Pass::~Pass() { gate_.leave(kind_); }

void CallGate::enter(Kind kind, const char* call) {
  const std::thread::id self = std::this_thread::get_id();
  const char* other = nullptr;
  enum { unknown, this_thread, other_thread } where = unknown;
  bool by_train = false;  // `other` is the model's train call
  {
    std::lock_guard<std::mutex> lock(mu_);
    const auto holder = [&](const Holder& h) {
      other = h.call;
      where = h.thread == self ? this_thread : other_thread;
      by_train = &h == &train_;
    };
    switch (kind) {
      case Kind::read:
        if (change_.depth > 0 && change_.thread != self) holder(change_);
        break;
      case Kind::write:
        if (change_.depth > 0 && change_.thread != self) {
          holder(change_);
        } else if (train_.depth > 0 && train_.thread != self) {
          holder(train_);
        }
        break;
      case Kind::train:
        if (change_.depth > 0) {
          holder(change_);
        } else if (train_.depth > 0) {
          holder(train_);
        }
        break;
      case Kind::change:
        if (change_.depth > 0 && change_.thread == self) break;  // nested in this thread's own change
        if (change_.depth > 0) {
          holder(change_);
        } else if (train_.depth > 0) {
          holder(train_);
        } else if (writes_ > 0) {
          other = write_call_;
        } else if (reads_ > 0) {
          other = read_call_;
        }
        break;
    }
    if (!other) {
      switch (kind) {
        case Kind::read:
          ++reads_;
          read_call_ = call;
          break;
        case Kind::write:
          ++writes_;
          write_call_ = call;
          break;
        case Kind::train:
          train_ = {call, self, 1};
          break;
        case Kind::change:
          if (change_.depth++ == 0) change_.call = call, change_.thread = self;
          break;
      }
      if (t_depth < kMaxHeld) t_held[t_depth] = {this, kind, call};
      ++t_depth;
      return;
    }
  }
  if (where == this_thread && by_train) {
    FASTANN_THROW(StateError, call << " is not allowed while the model is being fit by " << other
                                   << "() (e.g. from one of its callbacks)");
  }
  if (where == other_thread) {
    FASTANN_THROW(StateError, call << " is not allowed while " << other
                                   << "() is running on this model in another thread; wait for it to return");
  }
  FASTANN_THROW(StateError,
                call << " is not allowed while " << other << "() is running on this model; wait for it to return");
}

void CallGate::leave(Kind kind) noexcept {
  std::lock_guard<std::mutex> lock(mu_);
  switch (kind) {
    case Kind::read:
      if (reads_ > 0) --reads_;
      break;
    case Kind::write:
      if (writes_ > 0) --writes_;
      break;
    case Kind::train:
      train_ = Holder();
      break;
    case Kind::change:
      if (change_.depth > 0 && --change_.depth == 0) change_ = Holder();
      break;
  }
  if (t_depth > 0) --t_depth;
}

CallGate::Reading::Reading(CallGate& gate) : gate_(gate) {
  std::unique_lock<std::mutex> lock(gate_.mu_);
  const std::thread::id self = std::this_thread::get_id();
  gate_.values_cv_.wait(lock, [&] { return gate_.update_depth_ == 0 || gate_.updater_ == self; });
  ++gate_.readers_;
  ++my_reads(&gate_);
}

CallGate::Reading::~Reading() {
  bool last = false;
  {
    std::lock_guard<std::mutex> lock(gate_.mu_);
    if (gate_.readers_ > 0) last = --gate_.readers_ == 0;
    int& mine = my_reads(&gate_);
    if (mine > 0) --mine;
  }
  if (last) gate_.values_cv_.notify_all();
}

CallGate::Updating::Updating(CallGate& gate) : gate_(gate) {
  std::unique_lock<std::mutex> lock(gate_.mu_);
  const std::thread::id self = std::this_thread::get_id();
  if (gate_.update_depth_ > 0 && gate_.updater_ == self) {
    ++gate_.update_depth_;
    return;
  }
  const int mine = my_reads(&gate_);
  FASTANN_CHECK_STATE(mine == 0, "internal error: the model's values updated inside a read of them");
  gate_.values_cv_.wait(lock, [&] { return gate_.update_depth_ == 0 && gate_.readers_ == 0; });
  gate_.updater_ = self;
  gate_.update_depth_ = 1;
}

CallGate::Updating::~Updating() {
  {
    std::lock_guard<std::mutex> lock(gate_.mu_);
    if (gate_.update_depth_ == 0 || --gate_.update_depth_ > 0) return;
    gate_.updater_ = std::thread::id();
  }
  gate_.values_cv_.notify_all();
}

CallGate::Claim::Claim(CallGate& gate, Workspace w) : gate_(gate), w_(static_cast<size_t>(w)) {
  std::lock_guard<std::mutex> lock(gate_.mu_);
  if (gate_.claimed_[w_]) return;
  gate_.claimed_[w_] = true;
  gate_.claimer_[w_] = std::this_thread::get_id();
  owned_ = true;
}

CallGate::Claim::~Claim() {
  if (!owned_) return;
  std::lock_guard<std::mutex> lock(gate_.mu_);
  gate_.claimed_[w_] = false;
  gate_.claimer_[w_] = std::thread::id();
}

void CallGate::keep_only_this_thread() noexcept {
  const std::thread::id self = std::this_thread::get_id();
  reads_ = writes_ = 0;
  train_ = change_ = Holder();
  for (int i = 0; i < t_depth && i < kMaxHeld; ++i) {
    const HeldPass& p = t_held[i];
    if (p.gate != this) continue;
    switch (p.kind) {
      case Kind::read:
        ++reads_, read_call_ = p.call;
        break;
      case Kind::write:
        ++writes_, write_call_ = p.call;
        break;
      case Kind::train:
        train_ = {p.call, self, 1};
        break;
      case Kind::change:
        if (change_.depth++ == 0) change_.call = p.call, change_.thread = self;
        break;
    }
  }
  // The other threads' value sections ended with them; the condition variable may record their waits, so it is
  // made afresh (the child has no other thread to wake).
  new (&values_cv_) std::condition_variable;
  readers_ = my_reads(this);
  if (updater_ != self) updater_ = std::thread::id(), update_depth_ = 0;
  for (size_t i = 0; i < 2; ++i) {
    if (claimed_[i] && claimer_[i] != self) claimed_[i] = false, claimer_[i] = std::thread::id();
  }
}

}  // namespace fastann::nn

// The process environment fastann reads (FASTANN_NUM_THREADS, FASTANN_ISA) and the warnings it gives about it.
//
// A variable fastann cannot use is never silently ignored or half-read: the whole value must parse, and otherwise
// one warning names the variable, its value and what is used instead. Warnings go to stderr, or, once a host has
// asked to collect them (the Python package does, at import, and re-emits each as a RuntimeWarning), into a queue
// the host drains.
#pragma once

#include <string>
#include <vector>

#include "fastann/export.hpp"

namespace fastann::env {

// Reports a warning (thread-safe): queued when collecting, else written to stderr as "fastann: <message>".
void warn(const std::string& message);

// Collect warnings for the host instead of writing them to stderr (and, on false, write out what is queued).
FASTANN_API void set_collect_warnings(bool collect);
// The warnings queued since the last call, oldest first; the queue is left empty.
FASTANN_API std::vector<std::string> take_warnings();

// Parses the whole of `text` as a decimal integer >= minimum (an optional leading '+', then digits only: no spaces,
// no other characters), saturated at `maximum` (a number past the range of long included). False for anything else.
bool parse_int(const char* text, long minimum, long maximum, long* out);

// `text` as a warning shows it: printable ASCII as is, other bytes as \xNN, cut after `max` bytes with "...".
std::string shown(const char* text, size_t max = 40);

// The CPUs this process may run on (its affinity mask), at least 1.
int available_cpus();

// The most threads fastann runs on: 4x the available CPUs. More only oversubscribes the cores (each worker spins
// briefly after a job) and risks the process's thread limit.
int max_threads();

}  // namespace fastann::env

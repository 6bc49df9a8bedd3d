// Whole files in and out, as the model file (and the ONNX export) need them. Every failure is an IOError carrying
// the errno and the path the user gave.
#pragma once

#include <functional>
#include <string>
#include <string_view>

namespace fastann::io {

// Replaces the file at `path` with `bytes` atomically: a reader (or a crash) sees the old file or the new one, never
// a torn one. As a plain open() and write() would, a symbolic link is followed (the file it names is replaced, the
// link kept) and an existing file keeps its permission bits (a new one gets 0666 less the umask). The temporary file
// sits beside the target (a short name, so a target with a 255-byte name still works) and is removed on every
// failure. A directory is EISDIR; a device or FIFO (/dev/null) is written directly. `what` names the file in messages
// ("model file"). A NUL in `path` is a ValueError. should_stop (when set) is polled between 1 MiB chunks and
// before the fsync: true ends the write with Interrupted, the temporary file removed.
void write_file_atomically(const std::string& path, std::string_view bytes, const char* what,
                           const std::function<bool()>& should_stop = {});

// The whole file at `path` (a regular file, or anything that reads to EOF; a directory is EISDIR).
std::string read_file(const std::string& path, const char* what);

}  // namespace fastann::io

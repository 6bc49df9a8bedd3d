// Whole files in and out (see file.hpp). POSIX: open/write/fsync/rename with errno kept for the caller; elsewhere a
// portable fallback with the same atomic rename.
#include "io/file.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "fastann/error.hpp"

#ifndef _WIN32
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#else
#include <filesystem>
#include <fstream>
#include <system_error>
#endif

namespace fastann::io {

namespace {

void check_path(const std::string& path, const char* what) {
  if (path.find('\0') != std::string::npos) {
    throw ValueError(std::string("the path of the ") + what + " contains an embedded null byte");
  }
}

#ifndef _WIN32

[[noreturn]] void fail(int err, const char* action, const char* what, const std::string& path) {
  throw IOError(err, std::string(action) + " " + what, path);
}

// The folder holding `path` ("." for a bare name).
std::string dirname_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Follows symbolic links from `path` to the file they end at, as open() would (at most 40, then ELOOP). `st` is that
// file's lstat; false when it does not exist yet (a new file, or a dangling link's target).
bool resolve_links(std::string& target, struct stat& st, const char* what, const std::string& path) {
  for (int hops = 0;; ++hops) {
    if (::lstat(target.c_str(), &st) != 0) {
      if (errno == ENOENT) return false;
      fail(errno, "cannot write", what, path);
    }
    if (!S_ISLNK(st.st_mode)) return true;
    if (hops == 40) fail(ELOOP, "cannot write", what, path);
    std::string link(st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : 256, '\0');
    for (;;) {
      const ssize_t n = ::readlink(target.c_str(), &link[0], link.size());
      if (n < 0) fail(errno, "cannot write", what, path);
      if (static_cast<size_t>(n) < link.size()) {
        link.resize(static_cast<size_t>(n));
        break;
      }
      link.resize(link.size() * 2);  // the link changed under us: read it again, larger
    }
    target = (!link.empty() && link[0] == '/') ? link : dirname_of(target) + "/" + link;
  }
}

constexpr size_t kChunk = size_t{1} << 20;  // bytes written between two should_stop polls
constexpr int kStopped = -1;                // write_all's answer when should_stop ended it

// Writes all of `bytes` to fd, polling should_stop (when set) before each chunk; 0, kStopped, or the errno of the
// failed write (ENOSPC, EFBIG, EDQUOT, EIO, ...).
int write_all(int fd, std::string_view bytes, const std::function<bool()>& should_stop = {}) {
  size_t done = 0;
  while (done < bytes.size()) {
    if (should_stop && should_stop()) return kStopped;
    const size_t len = bytes.size() - done < kChunk ? bytes.size() - done : kChunk;
    const ssize_t w = ::write(fd, bytes.data() + done, len);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    if (w == 0) return EIO;
    done += static_cast<size_t>(w);
  }
  return 0;
}

// Opens `path` with O_NONBLOCK (a FIFO without a peer fails or reads EOF at once, never blocks), then clears it.
int open_no_wait(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC | O_NONBLOCK);
  if (fd >= 0) {
    const int fl = ::fcntl(fd, F_GETFL);
    if (fl >= 0) ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  }
  return fd;
}

// A name for the temporary file no other save (of this or another process) picks at the same moment.
std::string temp_name(const std::string& dir) {
  static std::atomic<uint64_t> counter{0};
  uint64_t x = static_cast<uint64_t>(::getpid()) * 0x9E3779B97F4A7C15ull ^
               static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (counter.fetch_add(1, std::memory_order_relaxed) << 40);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  static const char digits[] = "0123456789abcdefghijklmnopqrstuv";
  std::string name = dir + "/.fastann-";
  for (int i = 0; i < 12; ++i, x >>= 5) name += digits[x & 31];
  return name + ".tmp";
}

#endif

}  // namespace

#ifndef _WIN32

void write_file_atomically(const std::string& path, std::string_view bytes, const char* what,
                           const std::function<bool()>& should_stop) {
  check_path(path, what);
  if (path.empty()) fail(ENOENT, "cannot write", what, path);
  std::string target = path;
  struct stat st {};
  const bool exists = resolve_links(target, st, what, path);
  // A folder, or a name with a trailing slash (which names one), as open(O_CREAT) says.
  if ((exists && S_ISDIR(st.st_mode)) || target.back() == '/') fail(EISDIR, "cannot write", what, path);
  if (exists && !S_ISREG(st.st_mode)) {  // a device or FIFO: written as open() would, in place
    const int fd = open_no_wait(target, O_WRONLY);
    if (fd < 0) fail(errno, "cannot write", what, path);
    const int err = write_all(fd, bytes, should_stop);
    ::close(fd);
    if (err == kStopped) throw Interrupted(std::string("the write of the ") + what + " was interrupted");
    if (err) fail(err, "cannot write", what, path);
    return;
  }

  const std::string dir = dirname_of(target);
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; fd < 0; ++attempt) {
    tmp = temp_name(dir);
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);  // 0666 less the umask, as open()
    if (fd < 0 && (errno != EEXIST || attempt == 100)) fail(errno, "cannot write", what, path);
  }
  // Every way out below (a failed call, should_stop answering true or throwing) closes and removes the temporary.
  try {
    auto give_up = [&](int err) {
      if (err == kStopped) {
        throw Interrupted(std::string("the write of the ") + what + " '" + path +
                          "' was interrupted; the file is as it was");
      }
      fail(err, "cannot write", what, path);
    };
    if (exists) {
      // The replaced file's permission bits (and, where allowed, its owner) carry over, as writing in place keeps
      // them.
      if (::fchmod(fd, st.st_mode & 07777) != 0) give_up(errno);
      if ((st.st_uid != ::geteuid() || st.st_gid != ::getegid()) && ::fchown(fd, st.st_uid, st.st_gid) != 0) {
        // Only root may give a file away; the new file is then the saver's, as after any atomic replace.
      }
    }
    if (const int err = write_all(fd, bytes, should_stop)) give_up(err);
    if (should_stop && should_stop()) give_up(kStopped);
    // Data on disk before the rename makes it visible: a crash leaves the old file or the new one, never a torn one.
    if (::fsync(fd) != 0) give_up(errno);
    const int closed = ::close(fd);
    fd = -1;
    if (closed != 0) give_up(errno);
    if (::rename(tmp.c_str(), target.c_str()) != 0) give_up(errno);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  // The rename itself on disk (best effort: not every file system can sync a folder).
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)::fsync(dfd);
    ::close(dfd);
  }
}

std::string read_file(const std::string& path, const char* what) {
  check_path(path, what);
  if (path.empty()) fail(ENOENT, "cannot open", what, path);
  const int fd = open_no_wait(path, O_RDONLY);
  if (fd < 0) fail(errno, "cannot open", what, path);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    fail(err, "cannot open", what, path);
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd);
    fail(EISDIR, "cannot open", what, path);
  }
  std::string out;
  size_t used = 0;
  // A regular file's size is known (read to EOF all the same: it may have grown); anything else reads in 1 MiB steps.
  out.resize(S_ISREG(st.st_mode) && st.st_size > 0 ? static_cast<size_t>(st.st_size) + 1 : size_t{1} << 20);
  for (;;) {
    if (used == out.size()) out.resize(out.size() * 2);
    const ssize_t n = ::read(fd, &out[used], out.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      fail(err, "cannot read", what, path);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  out.resize(used);
  return out;
}

#else  // portable fallback: std::filesystem and fstreams (no errno, no mode or link handling)

void write_file_atomically(const std::string& path, std::string_view bytes, const char* what,
                           const std::function<bool()>& should_stop) {
  check_path(path, what);
  if (should_stop && should_stop()) throw Interrupted(std::string("the write of the ") + what + " was interrupted");
  static std::atomic<unsigned> counter{0};
  const std::string tmp = path + ".tmp." + std::to_string(counter++);
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f || !f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())) || !f.flush()) {
      std::remove(tmp.c_str());
      throw IOError(std::string("cannot write ") + what + " '" + path + "'");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::remove(tmp.c_str());
    throw IOError(std::string("cannot write ") + what + " '" + path + "': " + ec.message());
  }
}

std::string read_file(const std::string& path, const char* what) {
  check_path(path, what);
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw IOError(std::string("cannot open ") + what + " '" + path + "'");
  const std::streamoff size = f.tellg();
  if (size < 0) throw IOError(std::string("cannot read ") + what + " '" + path + "'");
  std::string bytes(static_cast<size_t>(size), '\0');
  f.seekg(0);
  if (size > 0 && !f.read(&bytes[0], size)) throw IOError(std::string("cannot read ") + what + " '" + path + "'");
  return bytes;
}

#endif

}  // namespace fastann::io

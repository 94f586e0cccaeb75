// write_file_atomically: temporary file, write, fsync, rename.
#include "ember/io/file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "ember/error.hpp"

namespace ember::io {

void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, std::vector<std::string_view>{bytes});
}

void write_file_atomically(const std::string& path, const std::vector<std::string_view>& pieces) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  EMBER_CHECK_IO(fd >= 0, "write_file_atomically: cannot create '", tmp,
                 "': ", std::strerror(errno));
  for (std::string_view bytes : pieces) {
    size_t written = 0;
    while (written < bytes.size()) {
      ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        int err = errno;
        ::close(fd);
        std::remove(tmp.c_str());
        throw IoError(
            detail::cat("write_file_atomically: writing '", tmp, "' failed: ", std::strerror(err)));
      }
      written += static_cast<size_t>(n);
    }
  }
  bool synced = ::fsync(fd) == 0;
  bool closed = ::close(fd) == 0;
  if (!synced || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    std::remove(tmp.c_str());
    throw IoError(
        detail::cat("write_file_atomically: cannot write '", path, "': ", std::strerror(err)));
  }
}

}  // namespace ember::io

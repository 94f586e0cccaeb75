// Running a program from a test: its combined output and exit status (the CLI and probe tests
// share this one reader instead of a copy each).
#pragma once

#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

namespace test_process {

// Runs `command` through the shell; returns what it wrote to stdout (stderr too if the command
// says 2>&1) and its exit status (-1 when it did not exit normally).
inline std::pair<std::string, int> run_command(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) out.append(buf.data(), n);
  int status = ::pclose(pipe);
  return {out, WIFEXITED(status) ? WEXITSTATUS(status) : -1};
}

// Writes `bytes` to dir/name (making dir) and returns the path.
inline std::string write_file(const std::string& dir, const std::string& name,
                              const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::string path = dir + "/" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace test_process

// Starting a child process for a C++ benchmark (nullspaced, redis-server)
// with its stdout and stderr going to files the benchmark then reads.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace nullspace::bench {

// Forks and execs argv[0] (a path) with `argv`, stdout to `out` and stderr to
// `err` (both truncated). The child pid, or -1 if fork failed; a child that
// cannot open its files or exec exits with 127.
inline pid_t spawn_logged(const std::vector<std::string>& argv, const std::string& out,
                          const std::string& err) {
  pid_t pid = fork();
  if (pid != 0) return pid;
  int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (o < 0 || e < 0) _exit(127);
  dup2(o, 1);
  dup2(e, 2);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  _exit(127);
}

}  // namespace nullspace::bench

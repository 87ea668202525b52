// Starting a child process from a large, many-threaded daemon, cheaply.
//
// posix_spawn, not fork: glibc's posix_spawn is a clone(CLONE_VM | CLONE_VFORK),
// so it does not copy the daemon's page tables, which fork (and so libuv's
// uv_spawn) does: with an engine's few hundred MB mapped that cost about
// 1.9 ms per process here (bench-sandbox: 28 ms per trivial step against
// 21 ms for the OCI runtime by hand, 1.9 ms of it in uv_spawn). The child's
// exit is learnt through a pidfd, which an event loop can poll.
#pragma once

#include <sys/types.h>

#include <array>
#include <string>
#include <vector>

namespace nullspace::runtime {

struct child_options {
  std::vector<std::string> argv;  // argv[0]: a path, or a name looked up in `env`'s PATH
  std::vector<std::string> env;   // "K=V": exactly what the child gets
  std::string cwd;                // empty: ours
  bool input = false;             // a pipe to its stdin; /dev/null otherwise
  bool own_session = false;       // setsid(); otherwise only its own process group
  // Its stdout and stderr as stream sockets rather than pipes: a socket
  // buffers about 200 KiB against a pipe's 64 KiB, so a chatty process
  // blocks in write() less often between two reads of ours.
  bool socket_output = false;
};

// A started child (pid > 0), or why it could not start (error != 0).
struct child_process {
  pid_t pid = 0;
  int pidfd = -1;                  // readable once it has exited
  int in = -1;                     // write end of its stdin; -1 without input
  std::array<int, 2> out{-1, -1};  // read ends of its stdout, stderr
  int error = 0;                   // an errno value: it could not be started or watched

  // Closes whatever descriptors are still held.
  void close_all();
};

// Starts it on the calling thread: every descriptor close-on-exec except the
// child's 0, 1 and 2; no signal blocked or ignored in the child. A child that
// started but cannot be watched (no pidfd) is killed and reaped before this
// returns. Counts into processes_started() (spawn_count.hpp).
child_process spawn_child(const child_options& o);

// For a started child nobody will watch: SIGKILLs its process group (it leads
// one either way), reaps it and closes its descriptors.
void end_child(child_process& c);

}  // namespace nullspace::runtime

// Runs child processes on a private libuv loop thread and streams their output
// line by line. One runner serves every build of an engine.
//
// Each process is started in its own process group; kill() and normal exit both
// end the WHOLE group (a step's background children do not outlive the step) and
// the exit callback fires only once no process of the group is left. The runner
// makes this process a child subreaper (PR_SET_CHILD_SUBREAPER) so that orphaned
// grandchildren are reparented to us and reaped here, not left as zombies.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace nullspace::runtime {

// The PATH a step (or a helper we start) gets unless its image says otherwise.
inline constexpr const char* default_path_env =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

struct process_spec {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::vector<std::string> env;   // "K=V"; the child gets exactly these
  std::string cwd;                // empty = inherit
  // Substrings replaced by "***" in every output line before it is delivered,
  // also across the points where an over-long line is split.
  std::vector<std::string> redact;
  // Flow control: once this many bytes of delivered lines (text plus
  // line_overhead_bytes each) are not yet acknowledged, the runner stops
  // reading the process's pipes, so a process printing faster than its
  // consumer stores blocks in write() instead of growing our memory. Reading
  // resumes when acknowledge() brings it to half. 0: no limit.
  size_t output_window_bytes = 0;
};

enum class output_stream { out, err };

struct output_line {
  output_stream stream = output_stream::out;
  std::string text;  // without the trailing newline
};

struct process_exit {
  int64_t exit_status = 0;  // valid when term_signal == 0 and spawn_error is empty
  int term_signal = 0;      // signal that ended the main process, 0 if none
  bool killed = false;      // ended by kill()
  std::string spawn_error;  // non-empty if the process could not be started
};

class process_runner {
 public:
  // Called on the runner thread; must not block. Lines of one process arrive in
  // order (stdout and stderr each in order; interleaving between them is as read).
  using lines_fn = std::function<void(std::vector<output_line>)>;
  // Called once, on the runner thread, after the last lines_fn call.
  using exit_fn = std::function<void(process_exit)>;

  static constexpr size_t max_line_bytes = 64 << 10;  // longer lines are split
  // What a delivered line counts for in the output window beyond its text:
  // about what its consumer spends holding it (a log entry: nine strings).
  static constexpr size_t line_overhead_bytes = 320;

  process_runner();
  ~process_runner();  // kills every running process group and joins the thread
  process_runner(const process_runner&) = delete;
  process_runner& operator=(const process_runner&) = delete;

  // Thread-safe. Starts the process on the calling thread (child_spawn.hpp:
  // no fork of this daemon); the loop thread then reads it. Returns an id for
  // kill(). Failures to start are reported through on_exit (spawn_error), from
  // the loop thread, never thrown.
  uint64_t spawn(process_spec spec, lines_fn on_lines, exit_fn on_exit);

  // Thread-safe. SIGKILLs the process group of `id`; unknown or finished ids are
  // ignored. on_exit (with killed = true) follows once the group is gone.
  void kill(uint64_t id);

  // Thread-safe. The consumer of `id`'s lines is done with `bytes` of them
  // (counted as output_window_bytes counts them); unknown or finished ids are
  // ignored.
  void acknowledge(uint64_t id, size_t bytes);

  // Number of processes started and not yet reported through on_exit.
  size_t running() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace nullspace::runtime

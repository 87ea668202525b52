// How builds and their logs look: one line per log entry, a one-line summary
// of a finished build, and the live view a followed build gets: on a
// terminal a status line (step i/n, elapsed, cache hits/misses) redrawn
// under the scrolling log; piped, plain lines only; with --json, NDJSON.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "tools/nullspace/json_util.hpp"

namespace nullspace::cli {

// A log Entry as one human line (no newline).
std::string format_entry(js::element entry);

// "build tb_… ready: ns/name@tb_… (…)" and the like, for a Build.
std::string build_summary(js::element build);

// 0 for a ready build, 1 for error or cancelled (or anything not terminal).
int exit_code_for(js::element build);

bool is_terminal_status(std::string_view status);

enum class log_style {
  plain,  // lines only (a pipe, a file)
  live,   // lines plus a redrawn status line (stdout is a terminal)
  json,   // each entry as one JSON line, then {"build": …}
};

// The style for a command that streams logs, from --json and stdout.
log_style pick_style(bool json);

class log_view {
 public:
  explicit log_view(log_style style);
  ~log_view();

  // The `build` event / the build being followed: its id and status.
  void started(js::element build);
  // One log Entry (its JSON text as the server sent it).
  void entry(std::string_view entry_json);
  // Called about once a second: redraws the status line when time moved.
  void tick();
  // The terminal Build: prints it (the summary, or {"build": …} with --json)
  // and returns the exit code. `summary` false: only --json prints it.
  int finished(std::string_view build_json, bool summary = true);
  // The id of the build whose log follows (when no `build` event names it).
  void following(const std::string& id);
  // A status update without a log entry (template wait).
  void status(js::element build);
  // Removes the status line (before other output, and at the end).
  void clear();

 private:
  void draw();
  std::string status_text() const;
  log_style style_;
  std::string id_, status_;
  int step_ = 0, steps_ = 0;
  int hits_ = 0, misses_ = 0;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  long last_drawn_second_ = -1;
  bool shown_ = false;
};

}  // namespace nullspace::cli

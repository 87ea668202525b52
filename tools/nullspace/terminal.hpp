// Everything the CLI prints goes through here: stdout and stderr writes with
// every registered secret value replaced by "***" (its raw form and its
// JSON-escaped form), and whether each stream is a terminal.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nullspace::cli {

class terminal {
 public:
  static terminal& get();

  // A value that must never be printed (a build secret, a registry password).
  void add_secret(std::string_view value);
  std::string redact(std::string_view text) const;

  void out(std::string_view text);  // stdout, as is (redacted), flushed
  void out_line(std::string_view text) { out(std::string(text) + "\n"); }
  void err(std::string_view text);  // stderr, redacted, flushed
  void err_line(std::string_view text) { err(std::string(text) + "\n"); }
  // `nullspace: <message>` on stderr.
  void error(std::string_view message) { err_line("nullspace: " + std::string(message)); }

  bool stdout_tty() const { return stdout_tty_; }
  bool stderr_tty() const { return stderr_tty_; }

 private:
  terminal();
  std::vector<std::string> needles_;  // longest first
  bool stdout_tty_ = false, stderr_tty_ = false;
};

// ANSI sequences for the redrawn status line (only ever sent to a terminal).
inline constexpr std::string_view ansi_clear_line = "\r\x1b[2K";

}  // namespace nullspace::cli

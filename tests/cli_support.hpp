// Helpers for tests that drive the `nullspace` binary ($NULLSPACE_CLI)
// against a real nullspaced ($NULLSPACE_DAEMON): the CLI as a child process
// with its output on pipes, a server on a loopback port with a fresh data
// dir, and readers of what they printed. Every wait is on a child's output
// or exit, never on a clock.
#pragma once

#include <catch2/catch.hpp>

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/test_support.hpp"

namespace nullspace::test {

struct cli_result {
  int code = -1;
  std::string out, err;
};

struct run_options {
  std::vector<std::string> env = {};  // NAME=value added to the child's environment
  std::string cwd = {};
  std::string stdin_file = {};  // the child's stdin ("" = /dev/null)
};

// A running `nullspace` with its stdout and stderr on pipes.
class cli_process {
 public:
  explicit cli_process(const std::vector<std::string>& args, const run_options& o = {});
  ~cli_process();
  cli_process(const cli_process&) = delete;
  cli_process& operator=(const cli_process&) = delete;

  // Reads until a stdout line contains `needle` (true) or stdout ends (false).
  bool read_until(std::string_view needle);
  // Reads both pipes to their end and reaps the process.
  cli_result finish();
  const std::string& out() const { return out_; }

 private:
  // One read from whichever pipe has data; false once both are at their end.
  bool pump();
  pid_t pid_ = -1;
  int out_fd_ = -1, err_fd_ = -1;
  std::string out_, err_;
};

cli_result run_cli(const std::vector<std::string>& args, const run_options& o = {});

// A nullspaced on 127.0.0.1 with its data under `dir` (stderr in
// dir/daemon.err). `sandbox` picks --isolation sandbox (with the shared test
// images) or host; `extra` flags follow.
class server_process {
 public:
  server_process(const temp_dir& dir, bool sandbox, std::vector<std::string> extra = {},
                 uint16_t port = 0);
  ~server_process() { stop(); }
  server_process(const server_process&) = delete;
  server_process& operator=(const server_process&) = delete;

  // SIGTERM and wait for the exit (0 when it stopped cleanly).
  int stop();

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& data_dir() const { return data_; }
  std::string log() const { return read_file(err_); }

 private:
  std::string data_, err_;
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
};

// `nullspace --server <d> args…`
cli_result ns(const server_process& d, std::vector<std::string> args, const run_options& o = {});

// The first build id (tb_…) in `text`, or "".
std::string build_id(const std::string& text);

// The non-empty lines of `text`.
std::vector<std::string> lines_of(const std::string& text);

bool contains(const std::string& text, const std::string& needle);

// The value of row `key` in a details table ("state      ready" -> "ready").
std::string row(const std::string& table, const std::string& key);

bool parses_as_json(const std::string& text);

// A port nothing listens on (bound, then closed).
uint16_t closed_port();

}  // namespace nullspace::test

// Checks a command's exit code, showing its output when it differs.
// `r` is evaluated once.
#define CHECK_OUTPUT(r, expected_code)                   \
  do {                                                   \
    const ::nullspace::test::cli_result& checked_ = (r); \
    INFO("exit " << checked_.code << "\n--- stdout:\n"   \
                 << checked_.out << "--- stderr:\n"      \
                 << checked_.err);                       \
    CHECK(checked_.code == (expected_code));             \
  } while (0)

// Shared helpers for the test suite: temporary data dirs, request builders,
// and a byte scanner for the "secret never reaches disk" checks.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "nullspace/engine.hpp"
#include "storage/build_record.hpp"
#include "storage/log_entry.hpp"

namespace nullspace::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it
// when the object goes out of scope.
class temp_dir {
 public:
  temp_dir();
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string sub(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

// `s` as a JSON string literal (quotes included), for requests built by hand.
std::string json_quoted(std::string_view s);

// A build request running the given shell commands as `run` steps.
std::string run_request(const std::vector<std::string>& cmds, std::string_view name = "demo",
                        std::string_view extra_fields = "");

// Files under `dir` (recursively) whose bytes contain `needle`.
std::vector<std::string> files_containing(const std::string& dir, std::string_view needle);

std::string read_file(const std::string& path);
void write_file(const std::string& path, std::string_view content);

// A child daemon's exit status, after printing the end of its stderr file to
// ours when it is not 0: the file goes with the test's temp dir, and a
// sanitizer's report would go with it. (A test that killed it expects this.)
int report_exit(int status, const std::string& err_path);

// True if no process with this pid exists (reaped, not a zombie).
bool process_gone(long pid);

// Follows the build until one of its output lines (kind "log"; step headers,
// which echo the command, do not count) contains `needle`, and returns that
// line, or "<ended>" if the build ended first. Waits on the log, not a clock;
// fails the test after a generous bound meant only to catch a hang.
std::string wait_for_output(engine& eng, const std::string& id, const std::string& needle,
                            const std::string& tenant = "default");

}  // namespace nullspace::test

namespace nullspace::test {

// Typed ids from strings a test already knows are well-formed (ids the engine
// or the HTTP API returned); a malformed one throws and fails the test.
build_id as_build_id(const std::string& s);
tenant_id as_tenant(const std::string& s);
template_ref as_ref(const std::string& s);

}  // namespace nullspace::test

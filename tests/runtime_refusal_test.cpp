// Who failed: a sandboxed step whose container the OCI runtime never started is
// our machinery failing (sandbox_failed, with the runtime's own words, logged
// at level=error), not the user's step (step_failed: the command ran and
// exited non-zero, or its program is not in the image). The runtime is made to
// refuse for real: its state dir is bind-mounted read-only, so it cannot
// create a container there.
#include <catch2/catch.hpp>

#include <sys/mount.h>

#include <filesystem>
#include <sstream>

#include "nullspace/engine.hpp"
#include "runtime/sandbox/runtime_refusal.hpp"
#include "tests/log_capture.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;
namespace fs = std::filesystem;

namespace {

std::string busybox_run(const std::string& cmd) {
  return R"({"name":"refusal","builder":{"source":{"type":"image","image":"busybox"},)"
         R"("steps":[{"type":"run","cmd":")" +
         cmd + R"("}]}})";
}

// `dir` read-only (a bind mount onto itself) until destroyed.
class read_only_dir {
 public:
  explicit read_only_dir(std::string dir) : dir_(std::move(dir)) {
    REQUIRE(::mount(dir_.c_str(), dir_.c_str(), nullptr, MS_BIND, nullptr) == 0);
    mounted_ = true;
    REQUIRE(::mount(nullptr, dir_.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) ==
            0);
  }
  ~read_only_dir() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

}  // namespace

TEST_CASE("a runtime's refusal is read from what it printed", "[sandbox]") {
  using runtime::read_runtime_refusal;
  // runc (logrus) and crun, as they print it.
  auto invalid = read_runtime_refusal(
      {R"(time="2024-01-01T00:00:00Z" level=error msg="runc run failed: invalid rootfs: stat )"
       R"(/d/work/tb_1/s0/d/work/tb_1/s0/rootfs: no such file or directory")"});
  CHECK(invalid.message ==
        "runc run failed: invalid rootfs: stat /d/work/tb_1/s0/d/work/tb_1/s0/rootfs: no such "
        "file or directory");
  CHECK_FALSE(invalid.step_at_fault);
  auto quoted = read_runtime_refusal(
      {R"(time="x" level=error msg="runc run failed: unable to start container process: exec: )"
       R"(\"nosuchprog\": executable file not found in $PATH")"});
  CHECK(quoted.message ==
        "runc run failed: unable to start container process: exec: \"nosuchprog\": executable "
        "file not found in $PATH");
  CHECK(quoted.step_at_fault);
  auto crun = read_runtime_refusal({"load `config.json`: cannot parse the data: premature EOF"});
  CHECK(crun.message == "load `config.json`: cannot parse the data: premature EOF");
  CHECK_FALSE(crun.step_at_fault);
  CHECK(read_runtime_refusal({}).message == "it exited without saying why");
}

TEST_CASE("a container the OCI runtime refuses is sandbox_failed, in the runtime's words",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  log_capture logs;
  std::string id;
  {
    auto eng = open_sandbox(dir);
    // Where the runtime keeps container state (engine.cpp: DATA/run/oci).
    auto state = dir.sub("data/run/oci");
    fs::create_directories(state);
    {
      read_only_dir frozen(state);
      auto b = build(*eng, busybox_run("echo never-printed"));
      id = b.record.id;
      REQUIRE(b.record.status == build_status::error);
      REQUIRE(b.record.failure);
      INFO(failure(b));
      CHECK(b.record.failure->code == "sandbox_failed");
      CHECK(b.record.failure->step == 0);
      CHECK_THAT(b.record.failure->message,
                 Catch::StartsWith("step 0 (run echo never-printed): the OCI runtime did not "
                                   "start the container: ") &&
                     Catch::Contains("read-only file system"));
      CHECK(b.record.failure->message.find("exited with status") == std::string::npos);
      CHECK_FALSE(contains(output(*eng, id), "never-printed"));
      // The build log's error entry is at level error too.
      bool error_entry = false;
      for (auto& e : entries(*eng, id))
        error_entry = error_entry || (e.kind == "error" && e.level == "error" &&
                                      e.message == b.record.failure->message);
      CHECK(error_entry);
    }
    CHECK(mounts_under(dir.path()) == 0);

    // The same engine once the runtime works again: the user's command failing
    // is the step's, and so is a program the image does not have.
    auto exits = build(*eng, busybox_run("echo about-to-fail; exit 3"));
    CHECK(failure(exits) ==
          "step_failed: step 0 (run echo about-to-fail; exit 3) exited with status 3");
    auto missing = build(*eng, R"({"name":"refusal","builder":{"source":{"type":"dockerfile",)"
                               R"("content":"FROM busybox\nRUN [\"/no/such-program\"]\n"}}})");
    INFO(failure(missing));
    CHECK(missing.record.failure->code == "step_failed");
    CHECK_THAT(missing.record.failure->message,
               Catch::Contains("could not start: ") && Catch::Contains("/no/such-program"));
  }
  // The operator's log names the machinery failure at level=error; the
  // user's failures only at info.
  auto text = logs.text();
  INFO(text);
  CHECK(text.find("level=error logger=build msg=\"build failed on the server's side\" build=" + id +
                  " tenant=default code=sandbox_failed error=\"step 0 (run echo never-printed): "
                  "the OCI runtime did not start the container: ") != std::string::npos);
  std::istringstream lines(text);
  int user_failures = 0;
  for (std::string l; std::getline(lines, l);)
    if (l.find("code=step_failed") != std::string::npos) {
      ++user_failures;
      CHECK(l.find(" level=info logger=build msg=\"build failed\" build=tb_") != std::string::npos);
    }
  CHECK(user_failures == 2);
}

// Helpers for tests of machines on the container driver: whether this host
// can run them, artifacts to start them from (made with the real artifact
// code from the busybox or python:3.11 base image plus a layer of test
// files), and commands run to completion.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "runtime/artifact/rootfs_artifact.hpp"
#include "runtime/machine/container_driver.hpp"
#include "tests/test_support.hpp"

namespace nullspace::test {

// Why container machines cannot run here, or "" if they can.
std::string machines_unavailable();

#define REQUIRE_MACHINES()                                                    \
  do {                                                                        \
    if (auto why = ::nullspace::test::machines_unavailable(); !why.empty()) { \
      WARN("skipped: " << why);                                               \
      return;                                                                 \
    }                                                                         \
  } while (0)

// The address range the tests' machines use (not the default, so a test run
// and a daemon on the same host never hand out the same /30).
inline constexpr const char* test_machine_range = "10.87.0.0/16";

std::unique_ptr<runtime::container_driver> open_driver(const std::string& data_dir);

// An artifact of `image` ("busybox" or "python:3.11", from the shared test
// images) with `files` (path -> content; a trailing "/" makes a dir) added
// on top, and `config` as its template config. nullopt if the image is not
// available here (python:3.11 needs the shared test images).
std::optional<runtime::artifact_info> make_test_artifact(
    const temp_dir& dir, const std::string& image, const std::map<std::string, std::string>& files,
    const runtime::template_config& config, uint32_t disk_mb = 0);

// A fresh machine id ("m_t" + random hex): host-wide names (cgroups, veths)
// derive from it, and other test runs may use the host at the same time.
std::string new_machine_id();

// A machine of `artifact` with the template config stored in it (read back
// with parse_template_config, as the machine manager does).
runtime::machine_spec spec_for(const std::string& id, const runtime::artifact_info& artifact);

struct exec_output {
  std::string out, err;
  runtime::command_exit exit;
};

// Runs a command to completion (a generous bound only catches a hang).
exec_output run_in(runtime::machine_driver& d, const std::string& id, runtime::command_spec spec);
exec_output sh(runtime::machine_driver& d, const std::string& id, const std::string& script);

// Polls `done` until it holds; fails the test after a generous bound.
void eventually(const std::function<bool()>& done, const std::string& what);

// What a machine leaves on the host: all zero once it is destroyed.
struct host_traces {
  int mounts = 0;      // under the data dir (rootfs, disk, netns, artifacts)
  int loops = 0;       // loop devices backed by files under the data dir
  int cgroups = 0;     // cgroup dirs of the ids
  int links = 0;       // host veths of the ids
  int containers = 0;  // runtime state entries
  int machine_dirs = 0;
  int disks = 0;  // disk images
  bool operator==(const host_traces&) const = default;
};
host_traces traces(const std::string& data_dir, const std::set<std::string>& ids);
std::string describe(const host_traces& t);
// Checks that nothing of `ids` is left on the host. A loop device set to
// autoclear detaches in the kernel's own time after its last unmount (a work
// item, later still when a lazily unmounted artifact's last user was a
// container's mount namespace), so it waits for the traces to go rather than
// reading once.
void check_no_traces(const std::string& data_dir, const std::set<std::string>& ids);

// Destroys the machines it was given when it goes out of scope, so a failed
// test leaves nothing running.
class machine_guard {
 public:
  explicit machine_guard(runtime::machine_driver& d) : d_(&d) {}
  ~machine_guard();
  void add(const std::string& id) { ids_.insert(id); }
  void rebind(runtime::machine_driver& d) { d_ = &d; }
  const std::set<std::string>& ids() const { return ids_; }

 private:
  runtime::machine_driver* d_;
  std::set<std::string> ids_;
};

// nullspaced's flags for machines in `range` (a suite's own), with
// $NULLSPACE_INIT as their init when set.
std::vector<std::string> daemon_machine_flags(const char* range);

// Every machine id and data dir the tests of this process used (for the
// final leak check).
std::set<std::string>& all_test_machine_ids();
std::set<std::string>& all_test_data_dirs();

}  // namespace nullspace::test

// REQUIRE(r.ok()) that prints the error when it fails; `r` is evaluated once
// (it may be a call).
#define REQUIRE_OK(r)                                                                     \
  do {                                                                                    \
    const auto& require_ok_result_ = (r);                                                 \
    INFO((require_ok_result_.ok() ? std::string() : require_ok_result_.error().message)); \
    REQUIRE(require_ok_result_.ok());                                                     \
  } while (0)

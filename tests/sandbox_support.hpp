// Helpers for tests of sandboxed builds: whether this machine can run them,
// an engine set up for them, and readers of a finished build's log.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/engine.hpp"
#include "tests/test_support.hpp"

namespace nullspace::test {

inline constexpr auto generous =
    std::chrono::seconds(600);  // catches a hang; not a timing assertion

// Why sandboxed builds cannot run here, or "" if they can.
std::string sandbox_unavailable();

#define REQUIRE_SANDBOX()                                                    \
  do {                                                                       \
    if (auto why = ::nullspace::test::sandbox_unavailable(); !why.empty()) { \
      WARN("skipped: " << why);                                              \
      return;                                                                \
    }                                                                        \
  } while (0)

// A sandboxed engine with its data under `dir`. With `shared_images`, base
// images live in the directory the test run shares ($NULLSPACE_TEST_IMAGES), so
// a debootstrap image is made once per checkout, not once per test.
std::unique_ptr<engine> open_sandbox(const temp_dir& dir, bool shared_images = false);
// The options open_sandbox uses, to change some first.
engine_options sandbox_options(const temp_dir& dir, bool shared_images = false);
std::unique_ptr<engine> open_sandbox(const engine_options& options);

// Stores `tar` as an uploaded build context; returns its id (bc_…).
std::string upload_context(engine& eng, const std::string& tar);

// Submits and waits until the build is terminal.
build_view build(engine& eng, const std::string& json);

std::vector<log_entry> entries(engine& eng, const std::string& id);
// Output lines of the build's steps (kind log, phase step).
std::vector<std::string> output(engine& eng, const std::string& id);
bool contains(const std::vector<std::string>& lines, std::string_view needle);
// "code: message" of a failed build, "" otherwise.
std::string failure(const build_view& b);
// Mount points at or below `dir`.
int mounts_under(const std::string& dir);
// Processes in the cgroups of a build's steps (the pids controller).
std::vector<long> step_pids(const std::string& build_id);

}  // namespace nullspace::test

// The end of a sandboxed build: the start command with its ready check, and
// the ext4 artifact with the template config. Busybox base; needs root, runc
// and e2fsprogs (debugfs reads the image without mounting it).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "runtime/process/command.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

std::string busybox_build(const std::string& steps, const std::string& builder_extra = "",
                          const std::string& top_extra = "") {
  return R"({"name":"art","builder":{"source":{"type":"image","image":"busybox"},"steps":)" +
         steps + builder_extra + "}" + top_extra + "}";
}

std::string artifact_dir(const temp_dir& dir, const build_view& b) {
  // The API hides the artifact's dir; the stored record names it.
  auto st = b.record.artifact;
  REQUIRE(st.has_value());
  return dir.sub("data/artifacts/") + st->id;
}

// debugfs's answer to `request` about the image (without mounting it).
std::string debugfs(const std::string& image, const std::string& request) {
  auto r = runtime::run_command({"/usr/sbin/debugfs", "-R", request, image});
  REQUIRE(r.ok());
  return r->output;
}

std::vector<std::string> phase_lines(engine& eng, const std::string& id, const std::string& phase) {
  std::vector<std::string> out;
  for (auto& e : entries(eng, id))
    if (e.phase == phase) out.push_back(e.message);
  return out;
}

}  // namespace

TEST_CASE("a ready build has an ext4 artifact of its merged layers and its template config",
          "[artifact]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto steps = R"([{"type":"run","cmd":"echo made-in-a-step > /hello.txt; rm /bin/vi"},
      {"type":"env","envs":{"GREETING":"hi"}},
      {"type":"workdir","path":"/srv"},
      {"type":"user","name":"nobody"}])";
  auto b = build(*eng, busybox_build(steps, R"(,"runtime_envs":{"APP_ENV":"demo"})"));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  REQUIRE(b.record.artifact);
  CHECK(b.record.artifact->digest.starts_with("sha256:"));
  CHECK(b.record.artifact_availability == "available");
  CHECK(b.json().find(R"("promotability":"promotable")") != std::string::npos);
  CHECK(b.json().find(R"("artifact":{"format":"ext4","digest":")") != std::string::npos);

  auto art = artifact_dir(dir, b);
  auto image = art + "/rootfs.ext4";
  CHECK(std::filesystem::file_size(image) == uint64_t{b.record.artifact->disk_mb} << 20);
  CHECK(debugfs(image, "cat /hello.txt").find("made-in-a-step") != std::string::npos);
  CHECK(debugfs(image, "stat /bin/vi").find("File not found") != std::string::npos);  // whiteout
  CHECK(debugfs(image, "stat /bin/busybox").find("Inode:") != std::string::npos);
  auto config = read_file(art + "/config.json");
  CHECK(config.find(R"("GREETING=hi")") != std::string::npos);
  CHECK(config.find(R"("runtime_envs":{"APP_ENV":"demo"})") != std::string::npos);
  CHECK(config.find(R"("user":"nobody","uid":65534,"gid":65534,"workdir":"/srv")") !=
        std::string::npos);
  CHECK(mounts_under(dir.path()) == 0);

  // The same build again: every step from the cache and the same artifact.
  auto again = build(*eng, busybox_build(steps, R"(,"runtime_envs":{"APP_ENV":"demo"})"));
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.hits == 4);
  CHECK(again.record.artifact->digest == b.record.artifact->digest);
  CHECK(contains(phase_lines(*eng, again.record.id, "artifact"), "(reused"));

  // An explicit disk_mb sizes the image.
  auto sized = build(*eng, busybox_build(steps, "", R"(,"disk_mb":300)"));
  REQUIRE(sized.record.status == build_status::ready);
  CHECK(sized.record.artifact->disk_mb == 300);
  CHECK(std::filesystem::file_size(artifact_dir(dir, sized) + "/rootfs.ext4") == 300u << 20);
}

TEST_CASE("the start command runs until its ready check passes: port, url, file, command",
          "[artifact]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto steps = R"([{"type":"run","cmd":"mkdir -p /www && echo hello > /www/index.html"}])";
  struct check {
    std::string start, ready;
  } checks[] = {
      {"echo serving; exec httpd -f -p 8080 -h /www", R"({"type":"port","port":8080})"},
      {"exec httpd -f -p 8080 -h /www", R"({"type":"url","url":"http://127.0.0.1:8080/"})"},
      {"touch /tmp/ready; exec sleep 1000", R"({"type":"file","path":"/tmp/ready"})"},
      {"touch /tmp/ready; exec sleep 1000", R"({"type":"command","cmd":"test -f /tmp/ready"})"},
  };
  for (auto& c : checks) {
    INFO(c.ready);
    auto b = build(*eng, busybox_build(steps, R"(,"start_cmd":")" + c.start + R"(","ready":)" +
                                                  c.ready + R"(,"ready_timeout_ms":60000)"));
    INFO(failure(b));
    REQUIRE(b.record.status == build_status::ready);
    CHECK(contains(phase_lines(*eng, b.record.id, "ready"), "ready check passed"));
    CHECK(b.record.artifact);
  }
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("a start command that exits fails the build with its last output lines", "[artifact]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto b = build(*eng, busybox_build("[]", R"(,"start_cmd":"echo cannot bind >&2; exit 3",
      "ready":{"type":"port","port":8080})"));
  REQUIRE(b.record.status == build_status::error);
  CHECK(b.record.failure->code == "start_failed");
  CHECK(b.record.failure->message.find("the start command exited with status 3 before the ready "
                                       "check (port 8080) passed") == 0);
  CHECK(contains(b.record.failure->last_lines, "cannot bind"));
  CHECK_FALSE(b.record.artifact);
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("a ready check that never passes fails the build when ready_timeout_ms runs out",
          "[artifact]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto b = build(*eng, busybox_build("[]", R"(,"start_cmd":"echo up; exec sleep 1000",
      "ready":{"type":"command","cmd":"echo not yet; false"},"ready_timeout_ms":1500)"));
  REQUIRE(b.record.status == build_status::error);
  CHECK(b.record.failure->code == "ready_timeout");
  INFO(b.record.failure->message);
  CHECK(b.record.failure->message.find(
            "the ready check (command echo not yet; false) did not pass within 1500 ms") == 0);
  CHECK(b.record.failure->message.find("last probe: exit status 1: not yet") != std::string::npos);
  CHECK(contains(b.record.failure->last_lines, "up"));
  CHECK(mounts_under(dir.path()) == 0);
  CHECK_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/nullspace/" + b.record.id));
}

TEST_CASE("a template source builds on another build's artifact: layers, env, user, workdir",
          "[artifact]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto base = build(*eng, busybox_build(R"([{"type":"run","cmd":"echo from-the-template > /t.txt"},
      {"type":"env","envs":{"GREETING":"hi"}},
      {"type":"workdir","path":"/srv"},
      {"type":"user","name":"nobody"}])"));
  INFO(failure(base));
  REQUIRE(base.record.status == build_status::ready);

  auto on = [&](const std::string& ref) {
    return build(
        *eng,
        R"({"name":"child","builder":{"source":{"type":"template","ref":")" + ref +
            R"("},"steps":[{"type":"run","cmd":"cat /t.txt; echo cwd=$(pwd) uid=$(id -u) greeting=$GREETING"}]}})");
  };
  auto child = on("art@" + base.record.id);
  INFO(failure(child));
  REQUIRE(child.record.status == build_status::ready);
  auto out = output(*eng, child.record.id);
  CHECK(contains(out, "from-the-template"));
  CHECK(contains(out, "cwd=/srv uid=65534 greeting=hi"));
  CHECK(contains(phase_lines(*eng, child.record.id, "base"),
                 "base template art@" + base.record.id + " " + base.record.artifact->digest));

  // A bare name means its `latest` tag, which no build of `art` has.
  CHECK(failure(on("art")).find("has no tag 'latest'") != std::string::npos);
  CHECK(failure(on("other@" + base.record.id)).find("no template default/other") !=
        std::string::npos);
  build(*eng, R"({"name":"other","builder":{"source":{"type":"image","image":"busybox"}}})");
  CHECK(failure(on("other@" + base.record.id)).find("has no build " + base.record.id) !=
        std::string::npos);
  auto failed = build(*eng, busybox_build(R"([{"type":"run","cmd":"exit 3"}])"));
  CHECK(failure(on("art@" + failed.record.id)).find("is error, not ready") != std::string::npos);
}

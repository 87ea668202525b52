// Sandboxed builds end to end: real runc containers over overlay layers of the
// busybox base, the layer cache, network isolation, memory limits, secrets and
// cancel. Needs root and runc; otherwise every case skips with the reason.
#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>

#include "nullspace/engine.hpp"
#include "runtime/context/build_context.hpp"
#include "runtime/process/spawn_count.hpp"
#include "runtime/sandbox/oci_choice.hpp"
#include "runtime/sandbox/overlay.hpp"
#include "tests/machine_support.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;
using namespace std::chrono_literals;

namespace {

std::string busybox_request(const std::string& steps, const std::string& extra = "") {
  return R"({"name":"sb","builder":{"source":{"type":"image","image":"busybox"},"steps":)" + steps +
         "}" + extra + "}";
}

}  // namespace

TEST_CASE("a sandboxed build runs steps in a container over busybox layers", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto b = build(*eng, busybox_request(R"([
      {"type":"run","cmd":"echo host=$(hostname) uid=$(id -u); echo one > /layer1.txt"},
      {"type":"env","envs":{"GREETING":"hi there"}},
      {"type":"workdir","path":"/srv/app"},
      {"type":"run","cmd":"echo pwd=$(pwd) greeting=$GREETING; cat /layer1.txt; rm /bin/vi"},
      {"type":"run","cmd":"test ! -e /bin/vi && echo vi-gone"}])"));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "host=nullspace-build uid=0"));
  CHECK(contains(out, "pwd=/srv/app greeting=hi there"));
  CHECK(contains(out, "one"));      // a file from an earlier step's layer
  CHECK(contains(out, "vi-gone"));  // a deletion (whiteout) seen by a later step
  // The steps ran in the sandbox, not on the host.
  CHECK_FALSE(std::filesystem::exists("/layer1.txt"));
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("an identical rebuild is all cache hits and skip_cache runs everything again",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto steps = R"([{"type":"run","cmd":"echo built-$RANDOM > /stamp; cat /stamp"},
                  {"type":"env","envs":{"A":"1"}},
                  {"type":"run","cmd":"cat /stamp"}])";
  auto first = build(*eng, busybox_request(steps));
  REQUIRE(first.record.status == build_status::ready);
  CHECK(first.record.cache.steps == 3);
  CHECK(first.record.cache.misses == 3);
  CHECK(first.record.cache.hits == 0);

  auto second = build(*eng, busybox_request(steps));
  REQUIRE(second.record.status == build_status::ready);
  CHECK(second.record.cache.hits == 3);
  CHECK(second.record.cache.misses == 0);
  CHECK(second.record.cache.bytes_reused > 0);
  CHECK(output(*eng, second.record.id).empty());  // nothing ran
  int hits = 0;
  for (auto& e : entries(*eng, second.record.id))
    if (e.kind == "cache") {
      CHECK(e.cache_status == "hit");
      CHECK(e.cache_key.starts_with("sha256:"));
      ++hits;
    }
  CHECK(hits == 3);

  auto third = build(*eng, busybox_request(steps, R"(,"skip_cache":true)"));
  REQUIRE(third.record.status == build_status::ready);
  CHECK(third.record.cache.hits == 0);
  CHECK(third.record.cache.misses == 3);
  CHECK(output(*eng, third.record.id).size() == 2);  // both run steps printed their stamp
  for (auto& e : entries(*eng, third.record.id))
    if (e.kind == "cache") CHECK(e.cache_status == "bypass");

  // A changed step misses from there on, but reuses what comes before it.
  auto changed = build(
      *eng, busybox_request(R"([{"type":"run","cmd":"echo built-$RANDOM > /stamp; cat /stamp"},
                  {"type":"env","envs":{"A":"2"}},
                  {"type":"run","cmd":"cat /stamp"}])"));
  REQUIRE(changed.record.status == build_status::ready);
  CHECK(changed.record.cache.hits == 1);
  CHECK(changed.record.cache.misses == 2);
}

TEST_CASE("a command step starts one process, the runtime's run; a cached step none", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto steps = R"([{"type":"run","cmd":"echo one > /one"},
                  {"type":"env","envs":{"A":"1"}},
                  {"type":"run","cmd":"true"},
                  {"type":"run","cmd":"cat /one"}])";
  // Fills the cache and makes the base image and the artifact, which the
  // builds below reuse (they cost processes of their own: mkfs).
  auto first = build(*eng, busybox_request(steps));
  INFO(failure(first));
  REQUIRE(first.record.status == build_status::ready);

  // Every command step again: one `run` each, no `delete` before or after it
  // (a foreground run removes its container itself), no `state`.
  auto before = runtime::processes_started();
  auto again = build(*eng, busybox_request(steps, R"(,"skip_cache":true)"));
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.misses == 4);
  CHECK(runtime::processes_started() - before == 3);
  CHECK(contains(output(*eng, again.record.id), "one"));

  // All from the cache: no process at all.
  before = runtime::processes_started();
  auto cached = build(*eng, busybox_request(steps));
  REQUIRE(cached.record.status == build_status::ready);
  CHECK(cached.record.cache.hits == 4);
  CHECK(runtime::processes_started() - before == 0);
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("a step's cache record is written once its layer is synced, at the end of the build",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  // The last stage repeats the first one's step: a hit on the build's own
  // record, not written yet.
  auto staged = build(*eng, R"({"name":"df","builder":{"source":{"type":"dockerfile","content":)" +
                                json_quoted("FROM busybox AS a\nRUN echo x > /x\n"
                                            "FROM busybox\nRUN echo x > /x\n"
                                            "COPY --from=a /x /y\nRUN cat /x /y\n") +
                                "}}}");
  INFO(failure(staged));
  REQUIRE(staged.record.status == build_status::ready);
  CHECK(staged.record.cache.hits == 1);
  CHECK(staged.record.cache.misses == 3);
  // After the build, other builds find its records.
  auto first = build(*eng, busybox_request(R"([{"type":"run","cmd":"echo a > /a"}])"));
  REQUIRE(first.record.status == build_status::ready);
  auto second = build(*eng, busybox_request(R"([{"type":"run","cmd":"echo a > /a"},
                                                {"type":"run","cmd":"echo b > /b"}])"));
  REQUIRE(second.record.status == build_status::ready);
  CHECK(second.record.cache.hits == 1);
  CHECK(second.record.cache.misses == 1);
  // A failed build still records the steps that worked before it failed.
  auto failed = build(*eng, busybox_request(R"([{"type":"run","cmd":"echo c > /c"},
                                                {"type":"run","cmd":"exit 3"}])"));
  REQUIRE(failed.record.status == build_status::error);
  auto after = build(*eng, busybox_request(R"([{"type":"run","cmd":"echo c > /c"},
                                               {"type":"run","cmd":"cat /c"}])"));
  REQUIRE(after.record.status == build_status::ready);
  CHECK(after.record.cache.hits == 1);
  CHECK(contains(output(*eng, after.record.id), "c"));
}

TEST_CASE("a build whose steps leave no files syncs nothing, and its records still count",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto no_files = R"([{"type":"env","envs":{"A":"1"}},
                      {"type":"run","cmd":"true"}])";
  auto before = runtime::filesystem_syncs();
  auto first = build(*eng, busybox_request(no_files));
  INFO(failure(first));
  REQUIRE(first.record.status == build_status::ready);
  CHECK(first.record.cache.misses == 2);
  CHECK(runtime::filesystem_syncs() - before == 0);  // no layer: nothing to make durable
  auto again = build(*eng, busybox_request(no_files));
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.hits == 2);  // the records were written all the same

  // A step that leaves a file makes a layer: one sync, before its record.
  before = runtime::filesystem_syncs();
  auto with_file = build(*eng, busybox_request(R"([{"type":"run","cmd":"echo x > /x"}])"));
  REQUIRE(with_file.record.status == build_status::ready);
  CHECK(runtime::filesystem_syncs() - before == 1);
}

TEST_CASE("a pip index set by the operator reaches every command step unless the build sets it",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto o = sandbox_options(dir);
  o.pip_index_url = "http://mirror.example:3141/simple";
  auto eng = open_sandbox(o);
  auto b = build(*eng, busybox_request(R"([
      {"type":"run","cmd":"echo index=$PIP_INDEX_URL trusted=$PIP_TRUSTED_HOST"},
      {"type":"env","envs":{"PIP_INDEX_URL":"https://own.example/simple"}},
      {"type":"run","cmd":"echo own=$PIP_INDEX_URL"}])"));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "index=http://mirror.example:3141/simple trusted=mirror.example:3141"));
  CHECK(contains(out, "own=https://own.example/simple"));
  // The mirror is the operator's, not the template's: the artifact's env lacks it.
  REQUIRE(b.record.artifact);
  std::ifstream config(dir.sub("data/artifacts/") + b.record.artifact->id + "/config.json");
  std::string text((std::istreambuf_iterator<char>(config)), std::istreambuf_iterator<char>());
  CHECK_FALSE(text.empty());
  CHECK(text.find("mirror.example") == std::string::npos);
}

TEST_CASE("internet_access false leaves the step only loopback", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto steps = R"([{"type":"run","cmd":"ls /sys/class/net | tr '\n' ' '; echo"}])";
  auto offline = build(*eng, busybox_request(steps, R"(,"internet_access":false)"));
  REQUIRE(offline.record.status == build_status::ready);
  auto out = output(*eng, offline.record.id);
  REQUIRE(out.size() == 1);
  CHECK(out[0] == "lo ");

  // Online, the step sees the host's interfaces (more than loopback). The
  // offline layer is not reused here: the step is the same, so the cache would
  // serve it; skip_cache makes it run.
  auto online = build(*eng, busybox_request(steps, R"(,"skip_cache":true)"));
  REQUIRE(online.record.status == build_status::ready);
  auto out2 = output(*eng, online.record.id);
  REQUIRE(out2.size() == 1);
  CHECK(out2[0] != "lo ");
}

TEST_CASE("a step over its memory limit is killed and the build says it ran out of memory",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  // 300 MB held in one shell variable against a 128 MB limit.
  auto b = build(
      *eng,
      busybox_request(
          R"([{"type":"run","cmd":"x=$(head -c 300000000 /dev/zero | tr '\\0' a); echo survived ${#x}"}])",
          R"(,"memory_mb":128)"));
  REQUIRE(b.record.status == build_status::error);
  REQUIRE(b.record.failure);
  CHECK(b.record.failure->code == "out_of_memory");
  CHECK(b.record.failure->message.find("128 MB") != std::string::npos);
  CHECK_FALSE(contains(output(*eng, b.record.id), "survived"));
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("secrets are files under /run/secrets and never reach the data dir", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  const std::string canary = "canary-5b1f0e7a-sandbox-secret";
  auto b = build(
      *eng,
      busybox_request(
          R"([{"type":"run","secrets":["api_token"],"cmd":"cat /run/secrets/api_token; echo; echo bytes=$(wc -c < /run/secrets/api_token); touch /run/secrets/x 2>/dev/null || echo read-only"},
                               {"type":"run","cmd":"test -e /run/secrets/api_token || echo gone-after-step"}])",
          R"(,"build_backend":"buildkit","build_secrets":[{"id":"api_token","value":")" + canary +
              R"("}])"));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "***"));  // the value the step printed is redacted in the log
  CHECK(contains(out, "bytes=" + std::to_string(canary.size())));
  CHECK(contains(out, "read-only"));
  CHECK(contains(out, "gone-after-step"));  // never part of a layer
  CHECK_FALSE(contains(out, canary));
  // Nowhere under the data dir: store, logs, layers, work dirs.
  CHECK(test::files_containing(dir.sub("data"), canary).empty());
}

TEST_CASE("cancel during a long sandboxed step leaves no process, container or mount",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto b = eng->submit(
      busybox_request(R"([{"type":"run","cmd":"echo started-long-step; sleep 1000"}])"));
  REQUIRE(b.ok());
  auto id = b->record.id;
  REQUIRE(test::wait_for_output(*eng, id, "started-long-step") != "<ended>");
  auto c = eng->cancel(nullspace::test::as_build_id(id), "enough");
  REQUIRE(c.ok());
  CHECK(c->record.status == build_status::cancelled);
  CHECK(mounts_under(dir.path()) == 0);
  // No container of this build is left in the runtime's state dir.
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir.sub("data") + "/run/oci", ec))
    CHECK(e.path().filename().string().find(id) == std::string::npos);
  // And no process of it: its cgroups are gone.
  CHECK_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/nullspace/" + id));
}

// Closing the engine (nullspaced's SIGTERM) while a step runs: the build stays
// unfinished for the next open's recovery, and neither its container, its
// cgroups, its mounts nor its secret files outlive the engine. Before the fix
// the build's last kill went through the process runner, which killed that
// `runc kill` as it closed, and the step ran on.
TEST_CASE("closing the engine mid-step leaves no step process running", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  const std::string canary = "CLOSE-CANARY-2b7e1";
  auto b = eng->submit(busybox_request(
      R"([{"type":"run","cmd":"echo outlives-us; sleep 1000","secrets":["tok"]}])",
      R"(,"build_backend":"buildkit","build_secrets":[{"id":"tok","value":")" + canary + R"("}])"));
  INFO((b.ok() ? "" : b.error().message));
  REQUIRE(b.ok());
  auto id = b->record.id;
  REQUIRE(test::wait_for_output(*eng, id, "outlives-us") != "<ended>");
  auto pids = step_pids(id);
  REQUIRE_FALSE(pids.empty());
  eng.reset();
  for (auto pid : pids) CHECK(test::process_gone(pid));
  CHECK(step_pids(id).empty());
  // Nor its cgroups, in any controller: a recovery would make them again.
  for (auto controller : {"pids", "memory", "cpu", "freezer"}) {
    INFO(controller);
    CHECK_FALSE(
        std::filesystem::exists(std::string("/sys/fs/cgroup/") + controller + "/nullspace/" + id));
  }
  // Nor its step's mounts, nor the secret's file: the build is unfinished, and
  // a recovery starts its steps again (or fails it: the value is gone).
  CHECK(mounts_under(dir.path()) == 0);
  CHECK(test::files_containing("/dev/shm", canary).empty());
}

// A cancel that reaches the build while `runc run` is still creating the step's
// container: the first kill finds no container and fails, and the step must be
// killed again once it exists. The runtime is a wrapper around the real one
// that records its calls and holds `run` until the test lets it go, after that
// first kill has failed; before the fix the step ran on and the cancel never
// answered.
TEST_CASE("a cancel while the step's container is still being created kills it once it exists",
          "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto real = runtime::choose_oci_runtime("runc");
  REQUIRE(real.ok());
  auto calls = dir.sub("calls"), gate = dir.sub("gate");
  REQUIRE(::mkfifo(gate.c_str(), 0600) == 0);
  auto wrapper = dir.sub("bin/runc");
  std::filesystem::create_directories(dir.sub("bin"));
  test::write_file(wrapper,
                   "#!/bin/sh\n"
                   "case \" $* \" in\n"
                   "  *\" run \"*) echo run >> " +
                       calls + "; read go < " + gate +
                       " ;;\n"
                       "  *\" kill \"*) " +
                       *real + " \"$@\"; rc=$?; echo \"kill $rc\" >> " + calls +
                       "; exit $rc ;;\n"
                       "esac\n"
                       "exec " +
                       *real + " \"$@\"\n");
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  auto o = sandbox_options(dir);
  o.oci_runtime = wrapper;
  auto eng = open_sandbox(o);
  auto b =
      eng->submit(busybox_request(R"([{"type":"run","cmd":"echo never-killed; sleep 1000"}])"));
  REQUIRE(b.ok());
  auto id = b->record.id;
  auto called = [&](std::string_view what) {
    return test::read_file(calls).find(what) != std::string::npos;
  };
  test::eventually([&] { return called("run"); }, "runc run was called");
  // Shared: if the test fails, a late answer still has a promise to go to.
  auto answer = std::make_shared<std::promise<result<build_view>>>();
  eng->cancel_async(test::as_build_id(id), "now", default_tenant(),
                    [answer](result<build_view> r) { answer->set_value(std::move(r)); });
  test::eventually([&] { return called("kill 1"); }, "a kill failed: no container yet");
  test::write_file(gate, "go\n");  // the wrapper goes on to the real `runc run`
  auto done = answer->get_future();
  REQUIRE(done.wait_for(std::chrono::seconds(120)) == std::future_status::ready);  // a hang
  auto c = done.get();
  REQUIRE(c.ok());
  CHECK(c->record.status == build_status::cancelled);
  CHECK(mounts_under(dir.path()) == 0);
  CHECK_FALSE(std::filesystem::exists("/sys/fs/cgroup/pids/nullspace/" + id));
}

// An OCI runtime installed elsewhere is named by its absolute path; a path
// whose name is neither crun nor runc, or that is not executable, is refused.
TEST_CASE("the OCI runtime may be an absolute path to crun or runc", "[sandbox]") {
  test::temp_dir dir;
  CHECK(runtime::choose_oci_runtime("/usr/bin/docker").error().code == errc::invalid_argument);
  CHECK(runtime::choose_oci_runtime(dir.sub("runc")).error().code == errc::unavailable);
  auto o = sandbox_options(dir);
  o.oci_runtime = "podman";
  auto e = engine::open(o);
  REQUIRE_FALSE(e.ok());
  CHECK(e.error().code == errc::invalid_argument);
}

TEST_CASE("an image this machine cannot make fails the build clearly", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto b = build(
      *eng, R"({"name":"x","builder":{"source":{"type":"image","image":"registry.example/none:1"},
      "steps":[{"type":"run","cmd":"true"}]}})");
  REQUIRE(b.record.status == build_status::error);
  CHECK(b.record.failure->code == "base_unavailable");
  CHECK(b.record.failure->message.find("registry.example/none:1") != std::string::npos);
}

TEST_CASE("a user step runs later steps as that user; an unknown user fails clearly", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto b = build(*eng, busybox_request(R"([{"type":"user","name":"nobody"},
      {"type":"run","cmd":"echo uid=$(id -u) gid=$(id -g) home=$HOME"}])"));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  CHECK(contains(output(*eng, b.record.id), "uid=65534 gid=65534 home=/tmp"));

  auto bad = build(*eng, busybox_request(R"([{"type":"user","name":"nosuchuser"},
      {"type":"run","cmd":"true"}])"));
  REQUIRE(bad.record.status == build_status::error);
  CHECK(bad.record.failure->message.find("user 'nosuchuser' does not exist") != std::string::npos);
}

namespace {

// Stores `tar` as an uploaded build context of `eng` and returns its id.
}  // namespace

TEST_CASE("copy steps put context files into the image, owned by the build's user", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto ctx = upload_context(*eng, test::tar_writer()
                                      .dir("app")
                                      .file("app/main.sh", "echo from-context\n", 0755)
                                      .dir("app/lib")
                                      .file("app/lib/x.txt", "lib-data\n")
                                      .finish());
  auto steps = [&](const std::string& id) {
    return R"([{"type":"copy","src":"app/","dest":"/srv/app","context":")" + id + R"("},
      {"type":"run","cmd":"cat /srv/app/lib/x.txt; stat -c 'owner=%u mode=%a' /srv/app/main.sh; /srv/app/main.sh"},
      {"type":"user","name":"nobody"},
      {"type":"workdir","path":"/home/nobody"},
      {"type":"copy","src":"app/lib/x.txt","dest":"mine.txt","context":")" +
           id + R"("},
      {"type":"run","cmd":"stat -c 'mine=%u' /home/nobody/mine.txt; echo more >> mine.txt && echo writable"}])";
  };
  auto b = build(*eng, busybox_request(steps(ctx)));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "lib-data"));
  CHECK(contains(out, "owner=0 mode=755"));
  CHECK(contains(out, "from-context"));
  CHECK(contains(out, "mine=65534"));
  CHECK(contains(out, "writable"));
  CHECK(contains(out, "copied 2 files (27 bytes), 1 dir from " + ctx + ":app/ to /srv/app"));
  CHECK(contains(out, "to /home/nobody/mine.txt"));
  CHECK(mounts_under(dir.path()) == 0);

  auto again = build(*eng, busybox_request(steps(ctx)));
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.hits == 6);

  // Other context bytes are another context id: the copy and everything after it rebuild.
  auto changed = upload_context(*eng, test::tar_writer()
                                          .dir("app")
                                          .file("app/main.sh", "echo changed\n", 0755)
                                          .dir("app/lib")
                                          .file("app/lib/x.txt", "lib-data\n")
                                          .finish());
  auto third = build(*eng, busybox_request(steps(changed)));
  REQUIRE(third.record.status == build_status::ready);
  CHECK(third.record.cache.hits == 0);
  CHECK(contains(output(*eng, third.record.id), "changed"));
}

TEST_CASE("a copy step whose source is missing fails the build naming it", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  auto eng = open_sandbox(dir);
  auto ctx = upload_context(*eng, test::tar_writer().file("a.txt", "a").finish());
  auto b =
      build(*eng, busybox_request(R"([{"type":"copy","src":"missing/","dest":"/x","context":")" +
                                  ctx + R"("}])"));
  REQUIRE(b.record.status == build_status::error);
  CHECK(failure(b) == "step_failed: step 0 (copy): 'missing/' is not in the build context");
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("the embedded engine makes relative dirs absolute once, at open", "[sandbox]") {
  REQUIRE_SANDBOX();
  test::temp_dir dir;
  // open() reads relative paths against the working dir of that moment.
  struct cwd_guard {
    std::filesystem::path before = std::filesystem::current_path();
    explicit cwd_guard(const std::string& to) { std::filesystem::current_path(to); }
    ~cwd_guard() { std::filesystem::current_path(before); }
  };
  auto here = std::filesystem::canonical(dir.path()).string();
  std::unique_ptr<engine> eng;
  {
    cwd_guard in(dir.path());
    engine_options o;
    o.data_dir = "data";
    o.images_dir = "./images/";
    o.contexts_dir = "data/../ctx";
    o.isolation_mode = isolation::sandbox;
    eng = open_sandbox(o);
  }
  CHECK(eng->options().data_dir == here + "/data");
  CHECK(eng->options().images_dir == here + "/images");
  CHECK(eng->options().contexts_dir == here + "/ctx");
  // Built from another working dir: nothing depends on it any more.
  auto ctx = upload_context(*eng, tar_writer().file("note.txt", "from-the-context\n").finish());
  auto b = build(*eng, busybox_request(R"([{"type":"copy","src":"note.txt","dest":"/note.txt",)"
                                       R"("context":")" +
                                       ctx + R"("},{"type":"run","cmd":"cat /note.txt"}])"));
  INFO(failure(b));
  CHECK(b.record.status == build_status::ready);
  CHECK(contains(output(*eng, b.record.id), "from-the-context"));
  CHECK(std::filesystem::is_directory(here + "/images/layers"));
  CHECK(std::filesystem::is_directory(here + "/ctx"));
}

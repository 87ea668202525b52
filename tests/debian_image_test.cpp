// The local image catalog: names, the debootstrap images (made once, shared,
// cancellable), and builds on python:3.11 that install from Debian's mirror.
// Cases that need root, debootstrap or the mirror skip with the reason.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <future>
#include <thread>

#include "runtime/image/image_store.hpp"
#include "runtime/process/command.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

// Why debootstrap images cannot be made here, or "" if they can.
std::string debootstrap_unavailable() {
  if (auto why = sandbox_unavailable(); !why.empty()) return why;
  if (::access("/usr/sbin/debootstrap", X_OK) != 0) return "debootstrap is not installed";
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo("deb.debian.org", "80", &hints, &res) != 0)
    return "deb.debian.org unresolvable";
  ::freeaddrinfo(res);
  return "";
}

#define REQUIRE_DEBOOTSTRAP()                                 \
  do {                                                        \
    if (auto why = debootstrap_unavailable(); !why.empty()) { \
      WARN("skipped: " << why);                               \
      return;                                                 \
    }                                                         \
  } while (0)

runtime::build_source python(std::string v) {
  runtime::build_source s;
  s.type = runtime::source_type::python_image;
  s.version = std::move(v);
  return s;
}

runtime::build_source image(std::string ref) {
  runtime::build_source s;
  s.type = runtime::source_type::image;
  s.image = std::move(ref);
  return s;
}

std::string python_request(const std::string& steps, const std::string& extra = "") {
  return R"({"name":"py","builder":{"source":{"type":"python_image","version":"3.11"},"steps":)" +
         steps + "}" + extra + "}";
}

// Processes whose command line mentions `text`.
int processes_mentioning(const std::string& text) {
  int n = 0;
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator("/proc", ec)) {
    auto cmdline = read_file(e.path().string() + "/cmdline");
    if (cmdline.find(text) != std::string::npos) ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("catalog names follow the usual image names", "[images]") {
  using runtime::catalog_name;
  CHECK(catalog_name(python("3.11")) == "python:3.11");
  CHECK(catalog_name(python("3")) == "python:3.11");
  CHECK(catalog_name(python("3.12")) == "python:3.12");  // asked for; the catalog cannot make it
  CHECK(catalog_name(image("python:3.11-slim")) == "python:3.11");
  CHECK(catalog_name(image("docker.io/library/debian:bookworm")) == "debian:bookworm");
  CHECK(catalog_name(image("debian:12-slim")) == "debian:bookworm");
  CHECK(catalog_name(image("busybox:latest")) == "busybox");
  CHECK(catalog_name(image("registry.example/team/app:1")).empty());
  CHECK(runtime::image_store::catalog() ==
        std::vector<std::string>{"busybox", "debian:bookworm", "python:3.11"});
}

TEST_CASE("a maker waits while another holds the image's lock, and cancel ends the wait",
          "[images]") {
  temp_dir dir;
  runtime::process_runner runner;
  runtime::image_store store(dir.sub("images"), runner);
  std::filesystem::create_directories(dir.sub("images/locks"));
  // Another maker (here: this test) holds the lock of debian:bookworm.
  int fd = ::open(dir.sub("images/locks/debian-bookworm.lock").c_str(), O_RDWR | O_CREAT, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX) == 0);

  std::promise<std::string> first_line;
  std::once_flag once;
  runtime::image_job job([&](std::vector<std::string> lines) {
    std::call_once(once, [&] { first_line.set_value(lines.front()); });
  });
  auto made = std::async(std::launch::async, [&] { return store.make("debian:bookworm", &job); });
  CHECK(first_line.get_future().get() ==
        "waiting for another build that is making debian:bookworm");
  job.cancel();
  auto r = made.get();
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().message == "cancelled");
  CHECK(runner.running() == 0);  // debootstrap never started
  ::close(fd);
}

TEST_CASE("a python version the catalog cannot make fails the build naming what it has",
          "[images]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto b = build(*eng, R"({"name":"x","builder":{"source":{"type":"python_image","version":"3.12"},
      "steps":[{"type":"run","cmd":"true"}]}})");
  REQUIRE(b.record.status == build_status::error);
  CHECK(b.record.failure->code == "base_unavailable");
  CHECK(b.record.failure->message.find("python_image 3.12 cannot be made on this machine") == 0);
  CHECK(b.record.failure->message.find("python:3.11") != std::string::npos);
}

TEST_CASE("cancel while debootstrap makes an image leaves no process, mount or half-made layer",
          "[images]") {
  REQUIRE_DEBOOTSTRAP();
  temp_dir dir;
  auto eng = open_sandbox(dir);  // its own images dir: the image is made here, not found
  auto b =
      eng->submit(R"({"name":"d","builder":{"source":{"type":"image","image":"debian:bookworm"},
      "steps":[{"type":"run","cmd":"true"}]}})");
  REQUIRE(b.ok());
  auto id = b->record.id;
  // A line from debootstrap itself: it is running.
  REQUIRE(wait_for_output(*eng, id, "I: ") != "<ended>");
  auto c = eng->cancel(nullspace::test::as_build_id(id), "not now");
  REQUIRE(c.ok());
  CHECK(c->record.status == build_status::cancelled);
  CHECK(processes_mentioning(dir.path()) == 0);
  CHECK(mounts_under(dir.path()) == 0);
  std::error_code ec;
  for (auto& e : std::filesystem::directory_iterator(dir.sub("data/images/layers"), ec))
    CHECK_FALSE(e.path().filename().string().starts_with(".tmp-"));
  CHECK_FALSE(std::filesystem::exists(dir.sub("data/images/catalog/debian-bookworm.json")));
  bool saw_making = false;
  for (auto& e : entries(*eng, id))
    if (e.phase == "base" && e.message.starts_with("making debian:bookworm with debootstrap"))
      saw_making = true;
  CHECK(saw_making);
}

TEST_CASE("python:3.11 builds install from Debian's mirror and rebuild from the cache",
          "[images]") {
  REQUIRE_DEBOOTSTRAP();
  temp_dir dir;
  auto eng = open_sandbox(dir, true);
  auto steps = R"([{"type":"apt_install","packages":["jq"]},
      {"type":"run","cmd":"jq --version; python --version; python -m pip --version | cut -c1-7"}])";
  auto first = build(*eng, python_request(steps));
  INFO(failure(first));
  REQUIRE(first.record.status == build_status::ready);
  auto out = output(*eng, first.record.id);
  CHECK(contains(out, "jq-1.6"));
  CHECK(contains(out, "Python 3.11"));
  CHECK(contains(out, "pip 23"));
  CHECK(first.record.cache.misses == 2);
  bool base_named = false;
  for (auto& e : entries(*eng, first.record.id))
    if (e.phase == "base" && e.message.starts_with("base python:3.11 sha256:")) base_named = true;
  CHECK(base_named);

  auto second = build(*eng, python_request(steps));
  REQUIRE(second.record.status == build_status::ready);
  CHECK(second.record.cache.hits == 2);
  CHECK(second.record.cache.misses == 0);
  CHECK(output(*eng, second.record.id).empty());

  auto third = build(*eng, python_request(steps, R"(,"skip_cache":true)"));
  REQUIRE(third.record.status == build_status::ready);
  CHECK(third.record.cache.hits == 0);
  CHECK(contains(output(*eng, third.record.id), "jq-1.6"));
}

TEST_CASE("apt_install without internet access fails with apt's error in the log", "[images]") {
  REQUIRE_DEBOOTSTRAP();
  temp_dir dir;
  auto eng = open_sandbox(dir, true);
  auto b = build(*eng, python_request(R"([{"type":"apt_install","packages":["jq"]}])",
                                      R"(,"internet_access":false)"));
  REQUIRE(b.record.status == build_status::error);
  CHECK(b.record.failure->code == "step_failed");
  INFO(failure(b));
  CHECK(b.record.failure->message.find("step 0 (apt_install jq) exited with status 100") == 0);
  CHECK(contains(output(*eng, b.record.id), "Failed to fetch"));
}

TEST_CASE("a made image is found again by another store without making it", "[images]") {
  REQUIRE_DEBOOTSTRAP();
  auto* shared = std::getenv("NULLSPACE_TEST_IMAGES");
  if (!shared) {
    WARN("skipped: NULLSPACE_TEST_IMAGES is not set");
    return;
  }
  runtime::process_runner runner;
  runtime::image_store first(shared, runner);
  auto a = first.make("python:3.11");
  REQUIRE(a.ok());
  std::vector<std::string> progress;
  runtime::image_job job([&](std::vector<std::string> lines) {
    progress.insert(progress.end(), lines.begin(), lines.end());
  });
  runtime::image_store second(shared, runner);
  auto b = second.make("python:3.11", &job);
  REQUIRE(b.ok());
  CHECK(progress.empty());  // nothing was made
  CHECK(b->digest == a->digest);
  CHECK(b->layers == a->layers);
  CHECK(std::filesystem::exists(b->layers.front() + "/usr/bin/python3"));
  CHECK_FALSE(
      std::filesystem::exists(b->layers.front() + "/usr/lib/python3.11/EXTERNALLY-MANAGED"));
}

TEST_CASE("nullspace image bootstrap makes (or finds) catalog images ahead of builds", "[images]") {
  auto* cli = std::getenv("NULLSPACE_CLI");
  REQUIRE(cli);
  auto unknown = runtime::run_command({cli, "image", "bootstrap", "python:3.12"});
  REQUIRE(unknown.ok());
  CHECK(unknown->exit_status == 2);
  CHECK(unknown->output.find("'python:3.12' is not in the local catalog") != std::string::npos);

  REQUIRE_DEBOOTSTRAP();
  auto* shared = std::getenv("NULLSPACE_TEST_IMAGES");
  if (!shared) {
    WARN("skipped: NULLSPACE_TEST_IMAGES is not set");
    return;
  }
  auto made = runtime::run_command({cli, "image", "bootstrap", "--images-dir", shared});
  REQUIRE(made.ok());
  INFO(made->output);
  CHECK(made->exit_status == 0);
  runtime::process_runner runner;
  auto img = runtime::image_store(shared, runner).make("python:3.11");
  REQUIRE(img.ok());
  CHECK(made->output.find("python:3.11 " + img->digest) != std::string::npos);
}

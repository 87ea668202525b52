// The Dockerfile corpus (tests/data/dockerfiles/): Dockerfiles as people write
// them. Every one validates ([dockerfile]); those that need no network build
// in the sandbox on one shared engine and their effects are checked inside
// the artifact ([dockerfile_build]).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <map>

#include "runtime/plan/request_parser.hpp"
#include "runtime/process/command.hpp"
#include "storage/common/sha256.hpp"
#include "tests/loopback_http_server.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;
namespace fs = std::filesystem;

namespace {

std::string corpus_dir() {
  const char* root = std::getenv("NULLSPACE_SOURCE_ROOT");
  REQUIRE(root != nullptr);
  return std::string(root) + "/tests/data/dockerfiles";
}

std::string corpus(const std::string& name) {
  return read_file(corpus_dir() + "/" + name);
}

std::string request(const std::string& dockerfile, const std::string& context,
                    const std::string& top_extra = "") {
  return R"({"name":"corpus","builder":{"source":{"type":"dockerfile","content":)" +
         json_quoted(dockerfile) + (context.empty() ? "" : R"(,"context":")" + context + "\"") +
         "}}" + top_extra + "}";
}

// What debugfs prints for `what`, without its version banner.
std::string debugfs(const std::string& image, const std::string& what) {
  auto r = runtime::run_command({"/usr/sbin/debugfs", "-R", what, image});
  REQUIRE(r.ok());
  auto out = r->output;
  if (out.starts_with("debugfs ")) out.erase(0, out.find('\n') + 1);
  return out;
}

bool has(const std::string& text, std::string_view needle) {
  return text.find(needle) != std::string::npos;
}

struct artifact {
  std::string image, config;
};

artifact artifact_of(const temp_dir& dir, const build_view& b) {
  REQUIRE(b.record.artifact.has_value());
  auto path = dir.sub("data/artifacts/") + b.record.artifact->id;
  return {path + "/rootfs.ext4", read_file(path + "/config.json")};
}

build_view built(engine& eng, const std::string& json) {
  auto b = build(eng, json);
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  return b;
}

// Serves /files/<name> from a map on loopback (404 otherwise).
class file_server {
 public:
  explicit file_server(std::map<std::string, std::string> files)
      : files_(std::move(files)),
        server_([this](const std::string& head) { return answer(head); }),
        base_url("http://" + server_.host() + "/files") {}

 private:
  std::string answer(const std::string& head) const {
    auto path = loopback_http_server::path_of(head);
    path = path.substr(0, path.find('?'));
    auto it = path.starts_with("/files/") ? files_.find(path.substr(7)) : files_.end();
    return it == files_.end() ? loopback_http_server::reply("404 Not Found", "not here\n")
                              : loopback_http_server::reply("200 OK", it->second);
  }

  std::map<std::string, std::string> files_;
  loopback_http_server server_;

 public:
  const std::string base_url;
};

}  // namespace

TEST_CASE("every Dockerfile of the corpus validates", "[dockerfile]") {
  size_t seen = 0;
  for (auto& e : fs::directory_iterator(corpus_dir())) {
    if (e.path().extension() != ".Dockerfile") continue;
    ++seen;
    INFO(e.path().filename().string());
    auto out = runtime::parse_build_request(
        request(read_file(e.path().string()), "bc_0123456789abcdef0123456789abcdef"),
        platform_limits{});
    for (auto& err : out.errors) UNSCOPED_INFO(err.message);
    CHECK(out.errors.empty());
  }
  CHECK(seen >= 1);
}

TEST_CASE("the corpus builds offline and does what Docker would", "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);

  {
    INFO("legacy.Dockerfile");
    auto b = built(*eng, request(corpus("legacy.Dockerfile"), ""));
    auto log = entries(*eng, b.record.id);
    CHECK(std::any_of(log.begin(), log.end(), [](auto& e) {
      return e.phase == "ready" && has(e.message, "ready check passed (exit status 0");
    }));
    auto a = artifact_of(dir, b);
    CHECK(has(debugfs(a.image, "cat /srv/app/greeting.txt"), "hello legacy world"));
    CHECK(has(debugfs(a.image, "cat /var/lib/app/seed"), "kept"));
    CHECK(has(a.config,
              R"("ready":{"type":"command","cmd":"test -f /tmp/ready","interval_ms":1000,)"
              R"("timeout_ms":5000,"retries":30},"ready_timeout_ms":191000)"));
    CHECK(has(a.config, R"("labels":{"maintainer":"Jo Doe <jo@example.com>","version":"1.0"})"));
    CHECK(has(a.config, R"("volumes":["/var/lib/app"],"stop_signal":"SIGINT")"));
    CHECK(has(a.config, R"("APP_HOME=/srv/app")"));
  }
  auto ctx = upload_context(
      *eng,
      tar_writer()
          .file("notes.txt", "notes\n")
          .file("plain.tar", tar_writer().file("plain/p.txt", "plain\n").finish())
          .file("vendor.tar.gz", tar_writer(tar_writer::format::pax, tar_writer::filter::gzip)
                                     .dir("lib")
                                     .file("lib/version", "vendor 1.2\n")
                                     .file("lib/run", "#!/bin/sh\n", 0755)
                                     .finish())
          .file("tools.tar.bz2", tar_writer(tar_writer::format::gnu, tar_writer::filter::bzip2)
                                     .file("tools/a", "a\n")
                                     .finish())
          .file("tools.tar.xz", tar_writer(tar_writer::format::pax, tar_writer::filter::xz)
                                    .file("tools/b", "b\n")
                                    .finish())
          .finish());
  {
    INFO("heredoc.Dockerfile");
    auto b = built(*eng, request(corpus("heredoc.Dockerfile"), ctx));
    auto a = artifact_of(dir, b);
    CHECK(has(debugfs(a.image, "cat /srv/app/script.txt"), "script ran as 0"));
    CHECK(has(debugfs(a.image, "cat /srv/app/shebang.txt"), "shebang script: /dev/pipes/EOF"));
    CHECK(debugfs(a.image, "cat /srv/app/one.txt") == "first file\n");
    CHECK(debugfs(a.image, "cat /srv/app/two.txt") == "second file, its tab stripped\n");
    CHECK(debugfs(a.image, "cat /srv/app/config.ini") ==
          "[app]\ngreeting = hello\nhome = /srv/app\n");
    CHECK(debugfs(a.image, "cat /srv/app/run.sh") == "#!/bin/sh\nexec echo running\n");
    CHECK(debugfs(a.image, "cat /usr/local/bin/hello") ==
          "#!/bin/sh\necho \"$GREETING stays as written\"\n");
    CHECK(has(debugfs(a.image, "stat /usr/local/bin/hello"), "Mode:  0755"));
    CHECK(has(debugfs(a.image, "stat /srv/app/config.ini"), "Mode:  0644"));
    CHECK(has(debugfs(a.image, "stat /srv/app/private.txt"), "Mode:  0600"));
    CHECK(has(debugfs(a.image, "stat /dev/pipes"), "File not found"));
  }
  {
    INFO("archive.Dockerfile");
    auto b = built(*eng, request(corpus("archive.Dockerfile"), ctx));
    auto a = artifact_of(dir, b);
    CHECK(debugfs(a.image, "cat /opt/vendor/lib/version") == "vendor 1.2\n");
    CHECK(has(debugfs(a.image, "stat /opt/vendor/lib/run"), "Mode:  0755"));
    CHECK(debugfs(a.image, "cat /opt/tools/a") == "a\n");
    CHECK(debugfs(a.image, "cat /opt/tools/b") == "b\n");
    CHECK(debugfs(a.image, "cat /opt/plain/p.txt") == "plain\n");
    CHECK(debugfs(a.image, "cat /opt/notes.txt") == "notes\n");
    CHECK(has(debugfs(a.image, "stat /opt/kept/vendor.tar.gz"), "Type: regular"));
    CHECK(has(debugfs(a.image, "stat /opt/vendor.tar.gz"), "File not found"));
  }
  {
    INFO("args.Dockerfile");
    auto df = corpus("args.Dockerfile");
    auto v1 = built(*eng, request(df, "", R"(,"build_args":{"APP_VERSION":"1.0"})"));
    auto v2 = built(*eng, request(df, "", R"(,"build_args":{"APP_VERSION":"2.0"})"));
    auto a1 = artifact_of(dir, v1), a2 = artifact_of(dir, v2);
    CHECK(debugfs(a1.image, "cat /app/build-info") == "version=1.0 channel=stable\n");
    CHECK(debugfs(a2.image, "cat /app/build-info") == "version=2.0 channel=stable\n");
    CHECK(has(debugfs(a1.image, "stat /app/test-report"), "File not found"));
    CHECK(v2.record.cache.misses == 1);  // the RUN that sees APP_VERSION; FROM's base is cached
    auto test =
        built(*eng, request(df, "", R"(,"build_args":{"APP_VERSION":"2.0"},"target":"test")"));
    CHECK(test.record.cache.hits == 1);
    CHECK(has(debugfs(artifact_of(dir, test).image, "cat /app/test-report"),
              "tests passed for version=2.0"));
    CHECK(has(v1.record.definition_json, R"("build_args":{"APP_VERSION":"1.0"})"));
  }
  {
    INFO("mounts.Dockerfile");
    auto b = built(*eng, request(corpus("mounts.Dockerfile"), ctx));
    auto a = artifact_of(dir, b);
    CHECK(has(debugfs(a.image, "stat /opt/busybox-copy"), "Type: regular"));
    CHECK(debugfs(a.image, "cat /srv-notes.txt") == "notes\n");
    CHECK(debugfs(a.image, "cat /asset-copy.txt") == "built asset\n");
    CHECK(has(debugfs(a.image, "cat /ctx-listing.txt"), "notes.txt"));
    CHECK(has(debugfs(a.image, "cat /ctx-listing.txt"), "scribble"));  // rw: seen by the step
    CHECK(debugfs(a.image, "cat /ro.txt") == "read-only\n");           // and gone after it
    CHECK(has(debugfs(a.image, "stat /ctx"), "File not found"));
    CHECK(has(debugfs(a.image, "stat /mnt/notes.txt"), "File not found"));
  }
  {
    INFO("onbuild.Dockerfile");
    auto parent = built(*eng, R"({"name":"onbuild-base","builder":{"source":{"type":"dockerfile",)"
                              R"("content":)" +
                                  json_quoted(corpus("onbuild.Dockerfile")) + "}}}");
    CHECK(has(
        artifact_of(dir, parent).config,
        R"("onbuild":["ENV BUILT_ON=parent","RUN echo \"child built on $BUILT_ON\" > /app/onbuild.txt"])"));
    auto ref = "default/onbuild-base@" + parent.record.id;
    auto child =
        built(*eng, R"({"name":"onbuild-child","builder":{"source":{"type":"template",)"
                    R"("ref":")" +
                        ref + R"("},"steps":[{"type":"run","cmd":"cat /app/onbuild.txt"}]}})");
    CHECK(contains(output(*eng, child.record.id), "child built on parent"));
    auto a = artifact_of(dir, child);
    CHECK(debugfs(a.image, "cat /app/onbuild.txt") == "child built on parent\n");
    CHECK_FALSE(has(a.config, "onbuild"));  // triggers run once, as in Docker
    CHECK(has(a.config, "BUILT_ON=parent"));
    CHECK(child.record.cache.steps == 3);
  }
  {
    INFO("url.Dockerfile");
    file_server files({{"tool.sh", "#!/bin/sh\necho downloaded tool\n"}, {"data.txt", "data\n"}});
    auto df = corpus("url.Dockerfile");
    auto args = [&](std::string extra) {
      return R"(,"build_args":{"BASE_URL":")" + files.base_url + "\"" + extra + "}";
    };
    auto b = built(*eng, request(df, "", args("")));
    auto out = output(*eng, b.record.id);
    CHECK(contains(out, "downloaded tool"));
    auto a = artifact_of(dir, b);
    CHECK(debugfs(a.image, "cat /usr/local/bin/tool.sh") == "#!/bin/sh\necho downloaded tool\n");
    CHECK(has(debugfs(a.image, "stat /usr/local/bin/tool.sh"), "Mode:  0600"));
    CHECK(debugfs(a.image, "cat /srv/data.txt") == "data\n");

    // Pinned: from the cache; unpinned: downloaded again, the same bytes build on.
    auto again = built(*eng, request(df, "", args("")));
    CHECK(again.record.cache.hits == 2);
    CHECK(again.record.cache.misses == 1);

    auto wrong = build(
        *eng, request(df, "", args(R"(,"TOOL_SHA256":"sha256:)" + std::string(64, '0') + "\"")));
    REQUIRE(wrong.record.status == build_status::error);
    CHECK(wrong.record.failure->code == "step_failed");
    CHECK(has(wrong.record.failure->message, "checksum mismatch: --checksum=sha256:000"));
    CHECK(has(wrong.record.failure->message,
              "but the download is "
              "sha256:af5a70135372ba3daadd0061fd2e14f8a3a0a2f25bf058be4aa5aa95fb810047"));

    auto missing = build(*eng, request("FROM busybox\nADD " + files.base_url + "/nope /x\n", ""));
    REQUIRE(missing.record.status == build_status::error);
    CHECK(has(missing.record.failure->message, "/files/nope: the server answered HTTP 404"));

    auto offline = eng->submit(request(df, "", args("") + R"(,"internet_access":false)"));
    REQUIRE_FALSE(offline.ok());
    CHECK(has(offline.error().message,
              "Dockerfile line 7: ADD of a URL downloads it at build time, "
              "but internet_access is false"));
  }
  CHECK(mounts_under(dir.path()) == 0);
}

TEST_CASE("ADD <url> downloads are capped by max_download_bytes", "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto o = sandbox_options(dir);
  o.max_download_bytes = 1000;
  auto eng = open_sandbox(o);
  file_server files({{"small", std::string(1000, 's')}, {"big", std::string(1001, 'b')}});
  auto small = build(*eng, request("FROM busybox\nADD " + files.base_url + "/small /small\n", ""));
  INFO(failure(small));
  CHECK(small.record.status == build_status::ready);
  auto big = build(*eng, request("FROM busybox\nADD " + files.base_url + "/big /big\n", ""));
  REQUIRE(big.record.status == build_status::error);
  CHECK(big.record.failure->code == "step_failed");
  CHECK(has(big.record.failure->message,
            "/files/big: the download is larger than 1000 bytes, this server's limit"));
  CHECK(mounts_under(dir.path()) == 0);
}

// What any file under `root` holds `needle`: a download's bytes left behind.
static std::vector<std::string> files_holding(const std::string& root, const std::string& needle) {
  std::vector<std::string> found;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec))
    if (it->is_regular_file(ec) && !it->is_symlink(ec) &&
        read_file(it->path().string()).find(needle) != std::string::npos)
      found.push_back(it->path().string());
  return found;
}

TEST_CASE("ADD <url> without Content-Length is capped as it streams, and checked when under it",
          "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto o = sandbox_options(dir);
  o.max_download_bytes = 4096;
  auto eng = open_sandbox(o);
  // Over the cap: 64 KiB of a marker no other file holds; under it: 3000 bytes.
  std::string over;
  while (over.size() < (64u << 10)) over += "overcap-marker-5e1f\n";
  std::string under;
  while (under.size() < 3000) under += "undercap-" + std::to_string(under.size()) + "\n";
  loopback_http_server server([&](const std::string& head) {
    auto path = loopback_http_server::path_of(head);
    if (path == "/over-chunked") return loopback_http_server::reply_chunked(over, 1000);
    if (path == "/over-close") return loopback_http_server::reply_until_close(over);
    if (path == "/under-chunked") return loopback_http_server::reply_chunked(under, 700);
    if (path == "/under-close") return loopback_http_server::reply_until_close(under);
    return loopback_http_server::reply("404 Not Found", "not here\n");
  });
  auto url = "http://" + server.host();

  for (auto name : {"over-chunked", "over-close"}) {
    INFO(name);
    auto b = build(*eng, request("FROM busybox\nADD " + url + "/" + name + " /big\n", ""));
    REQUIRE(b.record.status == build_status::error);
    CHECK(b.record.failure->code == "step_failed");
    CHECK(has(b.record.failure->message, "/" + std::string(name) +
                                             ": the download is larger than 4096 bytes, this "
                                             "server's limit (nullspaced --max-download-mb)"));
    CHECK(files_holding(dir.path(), "overcap-marker").empty());  // no partial download kept
  }

  auto checksum = "sha256:" + sha256_hex(under);
  for (auto name : {"under-chunked", "under-close"}) {
    INFO(name);
    auto b = built(*eng, request("FROM busybox\nADD --checksum=" + checksum + " " + url + "/" +
                                     name + " /small\n",
                                 ""));
    CHECK(has(debugfs(artifact_of(dir, b).image, "cat /small"), under));
    auto wrong = build(*eng, request("FROM busybox\nADD --checksum=sha256:" + std::string(64, '0') +
                                         " " + url + "/" + name + " /s\n",
                                     ""));
    REQUIRE(wrong.record.status == build_status::error);
    CHECK(has(wrong.record.failure->message, "but the download is " + checksum));
  }
  CHECK(mounts_under(dir.path()) == 0);
}

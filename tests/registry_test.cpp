// Pulls from OCI registries: reference parsing, auth challenges, indexes, layer
// unpacking into overlay format, and a private registry on loopback (Debian's
// docker-registry with htpasswd auth) holding images made with umoci and pushed
// with skopeo. Cases that need root or a missing tool skip with the reason.
#include <catch2/catch.hpp>

#include <openssl/evp.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>

#include "runtime/image/image_store.hpp"
#include "runtime/image/layer_unpack.hpp"
#include "runtime/image/oci_manifest.hpp"
#include "runtime/image/oci_registry.hpp"
#include "runtime/process/command.hpp"
#include "runtime/request/image_ref.hpp"
#include "storage/common/json_reader.hpp"
#include "storage/common/sha256.hpp"
#include "tests/loopback_http_server.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;
namespace fs = std::filesystem;

namespace {

bool on_path(const std::string& tool) {
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    auto end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    if (::access((dirs.substr(start, end - start) + "/" + tool).c_str(), X_OK) == 0) return true;
    start = end + 1;
  }
  return false;
}

// Why pulled layers cannot be unpacked here (owners, whiteouts and trusted
// xattrs need root), or "".
std::string unpack_unavailable() {
  return ::geteuid() == 0 ? "" : "unpacking layers (owners, whiteouts, trusted xattrs) needs root";
}

// Why the loopback registry cannot run here, or "".
std::string registry_unavailable() {
  if (auto why = unpack_unavailable(); !why.empty()) return why;
  for (auto tool : {"docker-registry", "umoci", "skopeo", "htpasswd"})
    if (!on_path(tool)) return std::string(tool) + " is not installed (tools/setup installs it)";
  return "";
}

#define REQUIRE_TOOLS(why_fn)                \
  do {                                       \
    if (auto why = why_fn(); !why.empty()) { \
      WARN("skipped: " << why);              \
      return;                                \
    }                                        \
  } while (0)

std::string random_hex(size_t n) {
  std::random_device rd;
  std::string out;
  while (out.size() < n) out += "0123456789abcdef"[rd() % 16];
  return out;
}

// Runs a helper; its output in the error if it fails.
std::string run(const std::vector<std::string>& argv) {
  auto r = runtime::run_command(argv);
  if (!r) return r.error().message;
  if (r->exit_status != 0) return argv[0] + " " + argv[1] + " failed: " + r->output;
  return "";
}

// Descriptor JSON of the manifest tagged `tag` in an OCI layout's index.json.
std::string tagged_descriptor(const std::string& layout, const std::string& tag) {
  simdjson::dom::parser parser;
  auto doc = parser.load(layout + "/index.json");
  for (auto m : doc["manifests"].get_array()) {
    std::string_view name;
    if (m.at_pointer("/annotations/org.opencontainers.image.ref.name").get(name) ==
            simdjson::SUCCESS &&
        name == tag)
      return simdjson::minify(m);
  }
  return "";
}

// `descriptor` (JSON) with a platform and without annotations.
std::string with_platform(const std::string& descriptor, const std::string& arch) {
  simdjson::dom::parser parser;
  simdjson::padded_string json(descriptor);
  simdjson::dom::object o = parser.parse(json).get_object();
  return R"({"mediaType":")" + storage::jr::str(o, "mediaType") + R"(","digest":")" +
         storage::jr::str(o, "digest") + R"(","size":)" +
         std::to_string(storage::jr::u64(o, "size")) + R"(,"platform":{"architecture":")" + arch +
         R"(","os":"linux"}})";
}

// Adds an image index of `entries` (descriptor JSON) to the layout as `tag`.
void add_index(const std::string& layout, const std::string& tag,
               const std::vector<std::string>& entries) {
  std::string index = R"({"schemaVersion":2,"mediaType":")" +
                      std::string(runtime::media_type::oci_index) + R"(","manifests":[)";
  for (size_t i = 0; i < entries.size(); ++i) index += (i ? "," : "") + entries[i];
  index += "]}";
  auto hex = sha256_hex(index);
  write_file(layout + "/blobs/sha256/" + hex, index);
  auto top = read_file(layout + "/index.json");
  auto entry = R"({"mediaType":")" + std::string(runtime::media_type::oci_index) +
               R"(","digest":"sha256:)" + hex + R"(","size":)" + std::to_string(index.size()) +
               R"(,"annotations":{"org.opencontainers.image.ref.name":")" + tag + R"("}})";
  auto list = top.find("\"manifests\":[");
  top.insert(list + 13, entry + ",");
  write_file(layout + "/index.json", top);
}

// A private registry on 127.0.0.1 (port chosen by the kernel) that accepts one
// user, with these images pushed:
//   ns/img:v1      two layers (busybox, /etc/greeting, /data/{doomed,kept};
//                  then /data/doomed deleted and /data/added), Env GREETING=hi
//   ns/img:multi   an index: linux/arm64 (ns/other's manifest) first, then v1's
//   ns/img:armonly an index with only linux/arm64
//   ns/corrupt:v1  one layer of its own, for a test to damage in storage
// Started once per test run; stopped (process_runner kills it) at exit.
class test_registry {
 public:
  static test_registry& get() {
    static test_registry r(true);
    return r;
  }
  // One without auth (as public images are pulled), with ns/img:v1 only.
  static test_registry& get_public() {
    static test_registry r(false);
    return r;
  }

  std::string problem;  // why setup failed, or ""
  std::string host;     // "127.0.0.1:<port>"
  const std::string user = "builder";
  const std::string password = "canary-" + random_hex(24);  // found nowhere it must not be
  std::string v1_manifest_digest;
  std::string corrupt_layer_digest;

  std::string storage() const { return dir_.sub("storage"); }

 private:
  explicit test_registry(bool with_auth) : with_auth_(with_auth) {
    problem = start();
    if (problem.empty()) problem = push_images();
  }

  std::string start() {
    auto hash = runtime::run_command({"htpasswd", "-Bbn", user, password});
    if (!hash || hash->exit_status != 0) return "htpasswd failed";
    write_file(dir_.sub("htpasswd"), hash->output);
    write_file(dir_.sub("config.yml"),
               "version: 0.1\n"
               "log:\n  level: info\n  accesslog:\n    disabled: true\n"
               "storage:\n  filesystem:\n    rootdirectory: " +
                   storage() +
                   "\n"
                   "http:\n  addr: 127.0.0.1:0\n" +
                   (with_auth_ ? "auth:\n  htpasswd:\n    realm: nullspace-test\n"
                                 "    path: " +
                                     dir_.sub("htpasswd") + "\n"
                               : std::string()));
    // The registry logs the address it listens on once it does (port 0: the
    // kernel's choice); we wait for that line, or for its exit.
    auto listening = std::make_shared<std::promise<std::string>>();
    auto once = std::make_shared<std::once_flag>();
    runtime::process_spec spec;
    spec.argv = {"docker-registry", "serve", dir_.sub("config.yml")};
    spec.env = {runtime::default_path_env};
    runner_.spawn(
        spec,
        [=](std::vector<runtime::output_line> lines) {
          for (auto& l : lines)
            if (auto at = l.text.find("listening on "); at != std::string::npos) {
              auto addr = l.text.substr(at + 13);
              addr = addr.substr(0, addr.find_first_of("\" "));
              std::call_once(*once, [&] { listening->set_value(addr); });
            }
        },
        [=](runtime::process_exit) { std::call_once(*once, [&] { listening->set_value(""); }); });
    auto ready = listening->get_future();
    if (ready.wait_for(generous) != std::future_status::ready) return "docker-registry hangs";
    host = ready.get();
    return host.empty() ? "docker-registry exited before listening" : "";
  }

  std::string push(const std::string& tag, const std::string& repo_tag, bool all = false) {
    std::vector<std::string> argv{"skopeo", "--insecure-policy", "copy", "--quiet"};
    if (all) argv.push_back("--all");
    if (with_auth_) argv.insert(argv.end(), {"--dest-creds", user + ":" + password});
    for (std::string a :
         std::vector<std::string>{"--dest-tls-verify=false", "oci:" + dir_.sub("oci") + ":" + tag,
                                  "docker://" + host + "/" + repo_tag})
      argv.push_back(a);
    return run(argv);
  }

  // A bundle's rootfs holding what a step's shell needs.
  static void add_busybox_shell(const std::string& rootfs) {
    for (auto d : {"bin", "etc", "data", "proc", "sys", "dev", "tmp", "root"})
      fs::create_directories(rootfs + "/" + d);
    fs::copy_file("/bin/busybox", rootfs + "/bin/busybox");
    fs::permissions(rootfs + "/bin/busybox", fs::perms(0755));
    for (auto applet : {"sh", "cat", "ls", "echo", "test"})
      fs::create_symlink("busybox", rootfs + "/bin/" + applet);
    write_file(rootfs + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n");
    write_file(rootfs + "/etc/group", "root:x:0:\n");
    write_file(rootfs + "/etc/hosts", "127.0.0.1 localhost\n");
    write_file(rootfs + "/etc/resolv.conf", "");
  }

  std::string push_images() {
    auto oci = dir_.sub("oci");
    auto bundle = dir_.sub("bundle");
    auto image = [&](const std::string& tag) { return oci + ":" + tag; };  // umoci --image
    std::string why;
    auto step = [&](const std::vector<std::string>& argv) {
      if (why.empty()) why = run(argv);
      return why.empty();
    };
    // ns/img:v1: layer 1, then a layer that deletes /data/doomed.
    step({"umoci", "init", "--layout", oci});
    step({"umoci", "new", "--image", image("base")});
    step({"umoci", "unpack", "--image", image("base"), bundle});
    if (!why.empty()) return why;
    add_busybox_shell(bundle + "/rootfs");
    write_file(bundle + "/rootfs/etc/greeting", "hello from a private registry\n");
    write_file(bundle + "/rootfs/data/doomed", "deleted by the second layer\n");
    write_file(bundle + "/rootfs/data/kept", "kept\n");
    step({"umoci", "repack", "--image", image("base"), bundle});
    step({"umoci", "config", "--image", image("base"), "--config.env", "GREETING=hi",
          "--config.env", "PATH=/bin"});
    fs::remove_all(bundle);
    step({"umoci", "unpack", "--image", image("base"), bundle});
    if (!why.empty()) return why;
    fs::remove(bundle + "/rootfs/data/doomed");
    write_file(bundle + "/rootfs/data/added", "added\n");
    step({"umoci", "repack", "--image", image("base"), bundle});
    fs::remove_all(bundle);
    // ns/other: what the index lists as linux/arm64.
    step({"umoci", "new", "--image", image("other")});
    step({"umoci", "unpack", "--image", image("other"), bundle});
    if (!why.empty()) return why;
    write_file(bundle + "/rootfs/arch", "arm64\n");
    step({"umoci", "repack", "--image", image("other"), bundle});
    fs::remove_all(bundle);
    // ns/corrupt:v1: a layer no other image has.
    step({"umoci", "new", "--image", image("corrupt")});
    step({"umoci", "unpack", "--image", image("corrupt"), bundle});
    if (!why.empty()) return why;
    write_file(bundle + "/rootfs/unique", random_hex(64));
    step({"umoci", "repack", "--image", image("corrupt"), bundle});
    if (!why.empty()) return why;

    auto v1 = tagged_descriptor(oci, "base");
    auto other = tagged_descriptor(oci, "other");
    if (v1.empty() || other.empty()) return "umoci made no tagged manifests";
    add_index(oci, "multi", {with_platform(other, "arm64"), with_platform(v1, "amd64")});
    add_index(oci, "armonly", {with_platform(other, "arm64")});
    {
      simdjson::dom::parser parser;
      simdjson::padded_string json(v1);
      v1_manifest_digest = storage::jr::str(parser.parse(json).get_object(), "digest");
      auto corrupt = tagged_descriptor(oci, "corrupt");
      simdjson::padded_string cjson(corrupt);
      auto manifest_digest = storage::jr::str(parser.parse(cjson).get_object(), "digest");
      auto manifest = parser.load(oci + "/blobs/sha256/" + manifest_digest.substr(7));
      std::string_view layer;
      if (manifest.at_pointer("/layers/0/digest").get(layer) == simdjson::SUCCESS)
        corrupt_layer_digest = std::string(layer);
    }
    step({"true"});
    if (!why.empty()) return why;
    if (auto e = push("base", "ns/img:v1"); !e.empty() || !with_auth_) return e;
    if (auto e = push("multi", "ns/img:multi", true); !e.empty()) return e;
    if (auto e = push("armonly", "ns/img:armonly", true); !e.empty()) return e;
    return push("corrupt", "ns/corrupt:v1");
  }

  bool with_auth_ = true;
  temp_dir dir_;                    // declared first: removed after the registry is gone
  runtime::process_runner runner_;  // kills the registry when destroyed
};

#define REQUIRE_REGISTRY()                      \
  REQUIRE_TOOLS(registry_unavailable);          \
  auto& registry = test_registry::get();        \
  INFO("registry setup: " << registry.problem); \
  REQUIRE(registry.problem.empty())

runtime::build_source image(std::string ref, std::optional<runtime::registry_auth> auth = {}) {
  runtime::build_source s;
  s.type = runtime::source_type::image;
  s.image = std::move(ref);
  s.auth = std::move(auth);
  return s;
}

// The base image of `source` from a fresh store, with the progress lines seen.
struct pulled {
  result<runtime::base_image> image;
  std::vector<std::string> progress;
};

pulled pull(runtime::image_store& store, const runtime::build_source& source) {
  auto lines = std::make_shared<std::vector<std::string>>();
  auto mu = std::make_shared<std::mutex>();
  runtime::image_job job([=](std::vector<std::string> ls) {
    std::lock_guard lock(*mu);
    lines->insert(lines->end(), ls.begin(), ls.end());
  });
  auto img = store.resolve(source, &job);
  std::lock_guard lock(*mu);
  return {std::move(img), *lines};
}

bool is_whiteout(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

std::string xattr(const std::string& path, const char* name) {
  char buf[64];
  auto n = ::lgetxattr(path.c_str(), name, buf, sizeof buf);
  return n < 0 ? "" : std::string(buf, static_cast<size_t>(n));
}

}  // namespace

TEST_CASE("image references parse the Docker way", "[registry]") {
  auto ref = [](std::string_view s) {
    auto r = runtime::parse_image_ref(s);
    return r ? r->str() : "error: " + r.error().message;
  };
  CHECK(ref("ubuntu") == "docker.io/library/ubuntu:latest");
  CHECK(ref("ubuntu:22.04") == "docker.io/library/ubuntu:22.04");
  CHECK(ref("team/app:1") == "docker.io/team/app:1");
  CHECK(ref("docker.io/library/debian:bookworm") == "docker.io/library/debian:bookworm");
  CHECK(ref("index.docker.io/x/y") == "docker.io/x/y:latest");
  CHECK(ref("localhost/img") == "localhost/img:latest");
  CHECK(ref("localhost:5000/ns/img:tag") == "localhost:5000/ns/img:tag");
  CHECK(ref("127.0.0.1:5000/ns/sub/img:v1.2-rc_3") == "127.0.0.1:5000/ns/sub/img:v1.2-rc_3");
  CHECK(ref("[::1]:5000/img") == "[::1]:5000/img:latest");
  CHECK(ref("ghcr.io/o/r@sha256:" + std::string(64, 'a')) ==
        "ghcr.io/o/r@sha256:" + std::string(64, 'a'));
  CHECK(ref("ghcr.io/o/r:t@sha256:" + std::string(64, 'b')) ==
        "ghcr.io/o/r:t@sha256:" + std::string(64, 'b'));
  auto parsed = runtime::parse_image_ref("reg.example:443/a/b:c");
  REQUIRE(parsed.ok());
  CHECK(parsed->registry == "reg.example:443");
  CHECK(parsed->repository == "a/b");
  CHECK(parsed->reference() == "c");

  for (std::string bad :
       std::vector<std::string>{"", "UPPER/case", "a//b", "img:", "img:-x", "-img",
                                "img@sha256:abc", "img@md5:" + std::string(32, 'a'),
                                "reg.example:/img", "a/b/", "img:a b", "a..b", "a_-b"}) {
    auto r = runtime::parse_image_ref(bad);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(r.error().field == "builder.source.image");
    CHECK(r.error().message.find("is invalid: ") != std::string::npos);
  }

  CHECK(runtime::is_loopback_registry("localhost:5000"));
  CHECK(runtime::is_loopback_registry("127.0.0.1:5000"));
  CHECK(runtime::is_loopback_registry("127.1.2.3"));
  CHECK(runtime::is_loopback_registry("[::1]:5000"));
  CHECK_FALSE(runtime::is_loopback_registry("127.example.com"));
  CHECK_FALSE(runtime::is_loopback_registry("ghcr.io"));
  CHECK(runtime::registry_base_url("127.0.0.1:5000") == "http://127.0.0.1:5000");
  CHECK(runtime::registry_base_url("ghcr.io") == "https://ghcr.io");
  CHECK(runtime::registry_base_url("docker.io") == "https://registry-1.docker.io");
}

TEST_CASE("auth challenges parse: Basic and Bearer with quoted commas", "[registry]") {
  auto basic = runtime::parse_auth_challenge(R"(Basic realm="basic-realm")");
  CHECK(basic.scheme == "basic");
  CHECK(basic.realm == "basic-realm");
  auto bearer = runtime::parse_auth_challenge(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",)"
      R"(scope="repository:library/ubuntu:pull,push")");
  CHECK(bearer.scheme == "bearer");
  CHECK(bearer.realm == "https://auth.docker.io/token");
  CHECK(bearer.service == "registry.docker.io");
  CHECK(bearer.scope == "repository:library/ubuntu:pull,push");
  CHECK(runtime::parse_auth_challenge("Negotiate abc").scheme.empty());
  CHECK(runtime::parse_auth_challenge("").scheme.empty());
}

TEST_CASE("an index picks this machine's platform or lists the ones it has", "[registry]") {
  auto d = [](const std::string& arch, char hex) {
    return R"({"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,)"
           R"("digest":"sha256:)" +
           std::string(64, hex) + R"(","platform":{"os":"linux","architecture":")" + arch + "\"}}";
  };
  auto index = R"({"schemaVersion":2,"manifests":[)" + d("arm64", 'a') + "," + d("amd64", 'b') +
               "," + d("unknown", 'c') + "]}";
  auto m = runtime::parse_oci_manifest(index, runtime::media_type::docker_list);
  REQUIRE(m.ok());
  CHECK(m->is_index);
  auto chosen = runtime::select_platform(*m, "linux/amd64", "img");
  REQUIRE(chosen.ok());
  CHECK(chosen->digest == "sha256:" + std::string(64, 'b'));
  auto none = runtime::select_platform(*m, "linux/s390x", "img");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message ==
        "img has no linux/s390x image; it has linux/arm64, linux/amd64, linux/unknown");

  auto bad_digest = runtime::parse_oci_manifest(
      R"({"schemaVersion":2,"config":{"digest":"sha256:../../x","size":1},"layers":[]})",
      runtime::media_type::oci_manifest);
  REQUIRE_FALSE(bad_digest.ok());
  CHECK(bad_digest.error().message.find("only sha256 digests") != std::string::npos);
  auto schema1 = runtime::parse_oci_manifest(R"({"schemaVersion":1,"fsLayers":[]})", "");
  REQUIRE_FALSE(schema1.ok());
  CHECK(schema1.error().message.find("schema 1") != std::string::npos);
  CHECK(runtime::host_platform() == "linux/amd64");
}

TEST_CASE("a layer unpacks in overlay format: whiteouts, opaque dirs, links, owners kept",
          "[registry]") {
  REQUIRE_TOOLS(unpack_unavailable);
  temp_dir dir;
  tar_writer tar;
  tar.dir("etc")
      .file("etc/greeting", "hi\n", 0640)
      .file("./bin/tool", "#!/bin/sh\n", 04755)
      .symlink("bin/alias", "tool")
      .hardlink("bin/same", "bin/tool")
      .file("etc/.wh.removed", "")
      .dir("opaque")
      .file("opaque/.wh..wh..opq", "")
      .file("opaque/new", "new\n")
      .file("implied/.wh..wh..opq", "")
      .file(".wh..wh.plnk/123", "aufs bookkeeping");
  write_file(dir.sub("layer.tar"), tar.finish());
  fs::create_directory(dir.sub("layer"));
  runtime::image_job job;
  auto r = runtime::unpack_layer(dir.sub("layer.tar"), dir.sub("layer"), job);
  INFO((r ? "" : r.error().message));
  REQUIRE(r.ok());
  auto layer = dir.sub("layer");
  CHECK(read_file(layer + "/etc/greeting") == "hi\n");
  CHECK((fs::status(layer + "/etc/greeting").permissions() & fs::perms::mask) == fs::perms(0640));
  CHECK((fs::status(layer + "/bin/tool").permissions() & fs::perms::set_uid) != fs::perms::none);
  CHECK(fs::read_symlink(layer + "/bin/alias") == "tool");
  CHECK(fs::equivalent(layer + "/bin/same", layer + "/bin/tool"));
  CHECK(is_whiteout(layer + "/etc/removed"));
  CHECK_FALSE(fs::exists(layer + "/etc/.wh.removed"));
  CHECK(xattr(layer + "/opaque", "trusted.overlay.opaque") == "y");
  CHECK(read_file(layer + "/opaque/new") == "new\n");
  CHECK(xattr(layer + "/implied", "trusted.overlay.opaque") == "y");
  CHECK_FALSE(fs::exists(layer + "/opaque/.wh..wh..opq"));
  CHECK_FALSE(fs::exists(layer + "/.wh..wh.plnk"));
  struct stat st {};
  REQUIRE(::stat((layer + "/etc/greeting").c_str(), &st) == 0);
  CHECK(st.st_mtim.tv_sec == 1700000000);

  // Entries that would leave the layer fail the unpack; nothing lands outside.
  auto escapes = [&](tar_writer& t) {
    temp_dir d;
    write_file(d.sub("bad.tar"), t.finish());
    fs::create_directory(d.sub("layer"));
    auto u = runtime::unpack_layer(d.sub("bad.tar"), d.sub("layer"), job);
    bool outside = fs::exists(d.sub("escaped")) || fs::exists(d.sub("outside/escaped"));
    return !u.ok() && !outside ? u.error().message : "unpacked";
  };
  tar_writer dotdot, absolute, via_link, hard;
  dotdot.file("../escaped", "x");
  CHECK(escapes(dotdot).find("outside its root") != std::string::npos);
  absolute.file("/escaped", "x");
  CHECK(escapes(absolute) != "unpacked");
  via_link.symlink("out", "..").file("out/escaped", "x");
  CHECK(escapes(via_link).find("outside its root") != std::string::npos);
  hard.hardlink("h", "../../etc/passwd");
  CHECK(escapes(hard).find("hard link to outside") != std::string::npos);
}

TEST_CASE("a private registry pull with the right credentials unpacks layers with whiteouts",
          "[registry]") {
  REQUIRE_REGISTRY();
  temp_dir dir;
  runtime::process_runner runner;
  runtime::image_store store(dir.sub("images"), runner);
  auto ref = registry.host + "/ns/img:v1";
  auto p = pull(store, image(ref, runtime::registry_auth{registry.user, registry.password}));
  INFO((p.image ? "" : p.image.error().message));
  REQUIRE(p.image.ok());
  auto& img = p.image.value();
  CHECK(img.name == ref);
  CHECK(img.digest == registry.v1_manifest_digest);
  REQUIRE(img.layers.size() == 2);
  auto top = img.layers[0], bottom = img.layers[1];
  CHECK(read_file(bottom + "/etc/greeting") == "hello from a private registry\n");
  CHECK(read_file(bottom + "/data/doomed") == "deleted by the second layer\n");
  CHECK(is_whiteout(top + "/data/doomed"));
  CHECK(read_file(top + "/data/added") == "added\n");
  CHECK(fs::read_symlink(bottom + "/bin/sh") == "busybox");
  CHECK(img.env == std::vector<std::string>{"GREETING=hi", "PATH=/bin"});
  for (auto& l : img.layers) CHECK(l.starts_with(dir.sub("images/layers/sha256-")));
  CHECK(contains(p.progress, "pulling " + ref + " from http://" + registry.host));
  CHECK(contains(p.progress, "layer sha256:"));
  CHECK(contains(p.progress, "pulled " + ref + " " + registry.v1_manifest_digest));
  CHECK_FALSE(contains(p.progress, registry.password));
  CHECK(files_containing(dir.path(), registry.password).empty());
  CHECK_FALSE(fs::exists(dir.sub("images/catalog")));
  // The manifest is kept, content-addressed; layer blobs only until unpacked.
  auto kept = dir.sub("images/blobs/sha256-") + registry.v1_manifest_digest.substr(7);
  CHECK(sha256_hex(read_file(kept)) == registry.v1_manifest_digest.substr(7));
  size_t blobs = 0;
  for (auto& e : fs::directory_iterator(dir.sub("images/blobs"))) {
    ++blobs;
    CHECK(e.path().filename().string().find(".tmp-") == std::string::npos);
  }
  CHECK(blobs == 2);  // the manifest and the config

  // Again: the manifest is asked for, the layers are not downloaded again.
  auto again = pull(store, image(ref, runtime::registry_auth{registry.user, registry.password}));
  REQUIRE(again.image.ok());
  CHECK(again.image->layers == img.layers);
  CHECK(contains(again.progress, "already unpacked"));
}

TEST_CASE("a manifest list resolves to its linux/amd64 image", "[registry]") {
  REQUIRE_REGISTRY();
  temp_dir dir;
  runtime::process_runner runner;
  runtime::image_store store(dir.sub("images"), runner);
  runtime::registry_auth auth{registry.user, registry.password};
  auto multi = pull(store, image(registry.host + "/ns/img:multi", auth));
  INFO((multi.image ? "" : multi.image.error().message));
  REQUIRE(multi.image.ok());
  CHECK(multi.image->digest == registry.v1_manifest_digest);  // not the arm64 entry listed first
  REQUIRE(multi.image->layers.size() == 2);
  CHECK(fs::exists(multi.image->layers[1] + "/etc/greeting"));

  auto arm = pull(store, image(registry.host + "/ns/img:armonly", auth));
  REQUIRE_FALSE(arm.image.ok());
  CHECK(arm.image.error().message ==
        registry.host + "/ns/img:armonly has no linux/amd64 image; it has linux/arm64");
}

TEST_CASE("wrong or missing registry credentials fail clearly, never showing the password",
          "[registry]") {
  REQUIRE_REGISTRY();
  temp_dir dir;
  runtime::process_runner runner;
  runtime::image_store store(dir.sub("images"), runner);
  auto ref = registry.host + "/ns/img:v1";
  auto wrong_password = "wrong-" + registry.password;
  auto wrong = pull(store, image(ref, runtime::registry_auth{registry.user, wrong_password}));
  REQUIRE_FALSE(wrong.image.ok());
  auto& e = wrong.image.error();
  CHECK(e.code == errc::unavailable);
  CHECK(e.field == "builder.source.auth");
  CHECK(e.message == "invalid credentials for a private registry: " + registry.host +
                         " rejected the credentials given for ns/img");
  CHECK(e.message.find(registry.password) == std::string::npos);
  CHECK_FALSE(contains(wrong.progress, registry.password));

  auto wrong_user = pull(store, image(ref, runtime::registry_auth{"nobody", registry.password}));
  REQUIRE_FALSE(wrong_user.image.ok());
  CHECK(
      wrong_user.image.error().message.starts_with("invalid credentials for a private registry: "));

  auto anonymous = pull(store, image(ref));
  REQUIRE_FALSE(anonymous.image.ok());
  CHECK(anonymous.image.error().message ==
        "registry " + registry.host + " requires credentials (builder.source.auth) for ns/img");
  CHECK(files_containing(dir.path(), registry.password).empty());
  CHECK_FALSE(fs::exists(dir.sub("images/layers")));  // nothing was downloaded
}

TEST_CASE("missing images, wrong digests and damaged blobs are errors, not images", "[registry]") {
  REQUIRE_REGISTRY();
  temp_dir dir;
  runtime::process_runner runner;
  runtime::image_store store(dir.sub("images"), runner);
  runtime::registry_auth auth{registry.user, registry.password};

  auto missing = pull(store, image(registry.host + "/ns/img:nope", auth));
  REQUIRE_FALSE(missing.image.ok());
  CHECK(missing.image.error().message ==
        "image " + registry.host + "/ns/img:nope not found on registry " + registry.host);

  // A digest the registry does not have.
  auto other_digest = registry.host + "/ns/img@sha256:" + std::string(64, '0');
  auto by_digest = pull(store, image(other_digest, auth));
  REQUIRE_FALSE(by_digest.image.ok());
  CHECK(by_digest.image.error().message.starts_with("image " + other_digest + " not found"));
  // The right digest, with a tag that does not matter then.
  auto pinned =
      pull(store, image(registry.host + "/ns/img:whatever@" + registry.v1_manifest_digest, auth));
  INFO((pinned.image ? "" : pinned.image.error().message));
  CHECK(pinned.image.ok());

  // Damage the only layer of ns/corrupt in the registry's storage (same size).
  REQUIRE_FALSE(registry.corrupt_layer_digest.empty());
  auto hex = registry.corrupt_layer_digest.substr(7);
  auto data = registry.storage() + "/docker/registry/v2/blobs/sha256/" + hex.substr(0, 2) + "/" +
              hex + "/data";
  auto bytes = read_file(data);
  REQUIRE(bytes.size() > 20);
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x5a);
  write_file(data, bytes);
  auto damaged = pull(store, image(registry.host + "/ns/corrupt:v1", auth));
  REQUIRE_FALSE(damaged.image.ok());
  CHECK(damaged.image.error().message.starts_with("digest mismatch for blob " +
                                                  registry.corrupt_layer_digest));
  CHECK_FALSE(fs::exists(dir.sub("images/layers/sha256-" + hex)));
  for (auto& e : fs::directory_iterator(dir.sub("images/layers")))
    CHECK_FALSE(e.path().filename().string().starts_with(".tmp-"));
  for (auto& e : fs::directory_iterator(dir.sub("images/blobs")))
    CHECK_FALSE(e.path().filename().string().find(".tmp-") != std::string::npos);
}

TEST_CASE("an unreachable registry and a cancelled pull are clear errors", "[registry]") {
  temp_dir dir;
  runtime::process_runner runner;
  runtime::image_store store(dir.sub("images"), runner);
  // Port 1 on loopback: nothing listens there, the connect is refused at once.
  auto refused = pull(store, image("127.0.0.1:1/ns/img:v1"));
  REQUIRE_FALSE(refused.image.ok());
  CHECK(refused.image.error().message.starts_with(
      "cannot reach registry 127.0.0.1:1 for 127.0.0.1:1/ns/img:v1: "));

  // A Docker Hub name the catalog does not have: tried on docker.io, and the
  // message says both (this machine may or may not reach docker.io).
  runtime::image_job cancelled;
  cancelled.cancel();
  auto hub = store.resolve(image("ubuntu:22.04"), &cancelled);
  REQUIRE_FALSE(hub.ok());
  CHECK(hub.error().message == "cancelled");
  auto malformed = store.resolve(image("Ubuntu:22.04"));
  REQUIRE_FALSE(malformed.ok());
  CHECK(malformed.error().code == errc::invalid_argument);
}

TEST_CASE("a build from a private registry image runs its steps and stores no credentials",
          "[registry]") {
  REQUIRE_SANDBOX();
  REQUIRE_REGISTRY();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto source = R"({"type":"image","image":")" + registry.host + R"(/ns/img:v1",)" +
                R"("auth":{"username":")" + registry.user + R"(","password":")";
  auto request = [&](const std::string& password) {
    return R"({"name":"pulled","builder":{"source":)" + source + password + R"("}},
      "steps":[{"type":"run","cmd":"cat /etc/greeting; ls /data; echo GREETING=$GREETING"}]}})";
  };
  auto b = build(*eng, request(registry.password));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "hello from a private registry"));
  CHECK(contains(out, "kept"));
  CHECK(contains(out, "added"));
  CHECK_FALSE(contains(out, "doomed"));
  CHECK(contains(out, "GREETING=hi"));
  bool base_named = false;
  for (auto& e : entries(*eng, b.record.id)) {
    CHECK(e.message.find(registry.password) == std::string::npos);
    if (e.phase == "base" &&
        e.message == "base " + registry.host + "/ns/img:v1 " + registry.v1_manifest_digest)
      base_named = true;
  }
  CHECK(base_named);

  auto denied = build(*eng, request("not-" + registry.password));
  REQUIRE(denied.record.status == build_status::error);
  CHECK(denied.record.failure->code == "base_unavailable");
  CHECK(denied.record.failure->message.find("invalid credentials for a private registry") !=
        std::string::npos);
  for (auto& e : entries(*eng, denied.record.id))
    CHECK(e.message.find(registry.password) == std::string::npos);

  eng.reset();  // flushes and closes the store before its files are searched
  CHECK(files_containing(dir.sub("data"), registry.password).empty());
}

TEST_CASE("COPY --from=<registry image> pulls it like a FROM and copies out of it", "[registry]") {
  REQUIRE_SANDBOX();
  REQUIRE_TOOLS(registry_unavailable);
  auto& registry = test_registry::get_public();
  INFO("registry setup: " << registry.problem);
  REQUIRE(registry.problem.empty());
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto image = registry.host + "/ns/img:v1";
  auto request = R"({"name":"copied","builder":{"source":{"type":"dockerfile","content":")"
                 "FROM busybox\\nCOPY --from=" +
                 image + " /etc/greeting /srv/greeting\\nCOPY --from=" + image +
                 " /data/ /srv/data/\\nRUN cat /srv/greeting; ls /srv/data\"}}}";
  auto b = build(*eng, request);
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "hello from a private registry"));
  CHECK(contains(out, "added"));
  CHECK(contains(out, "kept"));
  CHECK_FALSE(contains(out, "doomed"));  // the image's own whiteout holds
  auto log = entries(*eng, b.record.id);
  CHECK(std::any_of(log.begin(), log.end(), [&](auto& e) {
    return e.message == "base " + image + " " + registry.v1_manifest_digest;
  }));
  auto again = build(*eng, request);
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.misses == 0);  // the same digest: the copies come from the cache
}

TEST_CASE("RUN --mount=type=bind,from=<registry image> binds its rootfs read-only", "[registry]") {
  REQUIRE_SANDBOX();
  REQUIRE_TOOLS(registry_unavailable);
  auto& registry = test_registry::get_public();
  INFO("registry setup: " << registry.problem);
  REQUIRE(registry.problem.empty());
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto image = registry.host + "/ns/img:v1";
  auto dockerfile =
      "FROM busybox\n"
      "RUN --mount=type=bind,from=" +
      image +
      ",target=/img "
      "cat /img/etc/greeting; ls /img/data; touch /img/x 2>/dev/null || echo read-only\n"
      "RUN --mount=type=bind,from=" +
      image +
      ",source=/data,target=data "
      "ls /data; test ! -e /data/etc && echo only-the-subpath\n";
  auto request = R"({"name":"bound","builder":{"source":{"type":"dockerfile","content":)" +
                 json_quoted(dockerfile) + "}}}";
  auto b = build(*eng, request);
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "hello from a private registry"));
  CHECK(contains(out, "kept"));
  CHECK_FALSE(contains(out, "doomed"));  // the image's own whiteout holds
  CHECK(contains(out, "read-only"));
  CHECK(contains(out, "only-the-subpath"));
  auto log = entries(*eng, b.record.id);
  CHECK(std::any_of(log.begin(), log.end(), [&](auto& e) {
    return e.message == "base " + image + " " + registry.v1_manifest_digest;
  }));
  auto again = build(*eng, request);
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.misses == 0);  // the same digest: the steps come from the cache
  CHECK(mounts_under(dir.path()) == 0);
}

namespace {

// A one-thread HTTP server on loopback that speaks a registry's token flow:
// /v2/… answers 401 with a Bearer challenge unless it gets `Bearer good-token`
// (then 404: there are no images), and /token hands that token out for Basic
// user:password only.
class token_registry {
 public:
  token_registry(const std::string& user, const std::string& password)
      : basic_("Basic " + base64(user + ":" + password)),
        server_([this](const std::string& head) { return answer(head); }),
        host(server_.host()) {}

 private:
  static std::string base64(const std::string& s) {
    std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
    auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                             reinterpret_cast<const unsigned char*>(s.data()),
                             static_cast<int>(s.size()));
    out.resize(static_cast<size_t>(n));
    return out;
  }

  std::string answer(const std::string& req) {
    auto path = loopback_http_server::path_of(req);
    std::string authorization;
    if (auto at = req.find("\r\nAuthorization: "); at != std::string::npos) {
      auto start = at + 17;
      authorization = req.substr(start, req.find("\r\n", start) - start);
    }
    auto reply = [](const std::string& status, const std::string& extra, const std::string& body) {
      return loopback_http_server::reply(status, body,
                                         "Content-Type: application/json\r\n" + extra);
    };
    if (path.starts_with("/token?")) {
      bool asked_right = path.find("service=fake") != std::string::npos &&
                         path.find("scope=repository%3Ans%2Fimg%3Apull") != std::string::npos;
      if (authorization != basic_ || !asked_right) return reply("401 Unauthorized", "", "{}");
      ++tokens_given;
      return reply("200 OK", "", R"({"token":"good-token"})");
    }
    if (authorization == "Bearer good-token")
      return reply("404 Not Found", "",
                   R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]})");
    return reply("401 Unauthorized",
                 "WWW-Authenticate: Bearer realm=\"http://" + host +
                     "/token\",service=\"fake\",scope=\"repository:ns/img:pull\"\r\n",
                 R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]})");
  }

  std::string basic_;
  loopback_http_server server_;

 public:
  const std::string host;
  std::atomic<int> tokens_given{0};
};

}  // namespace

TEST_CASE("Bearer challenges fetch a token with the credentials and use it", "[registry]") {
  temp_dir dir;
  runtime::process_runner runner;
  runtime::image_store store(dir.sub("images"), runner);
  token_registry fake("builder", "s3cret-token-pass");
  auto ref = fake.host + "/ns/img:v1";

  // The token is accepted: the registry then says what it has (nothing).
  auto right = pull(store, image(ref, runtime::registry_auth{"builder", "s3cret-token-pass"}));
  REQUIRE_FALSE(right.image.ok());
  CHECK(right.image.error().message == "image " + ref + " not found on registry " + fake.host);
  CHECK(fake.tokens_given == 1);

  auto wrong = pull(store, image(ref, runtime::registry_auth{"builder", "not-the-pass"}));
  REQUIRE_FALSE(wrong.image.ok());
  CHECK(wrong.image.error().message == "invalid credentials for a private registry: " + fake.host +
                                           " rejected the credentials given for ns/img");
  CHECK(wrong.image.error().message.find("not-the-pass") == std::string::npos);

  auto anonymous = pull(store, image(ref));
  REQUIRE_FALSE(anonymous.image.ok());
  CHECK(anonymous.image.error().message ==
        "registry " + fake.host + " requires credentials (builder.source.auth) for ns/img");
  CHECK(fake.tokens_given == 1);
}

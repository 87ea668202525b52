// `copy` steps at the file level: a stored context archive written into a
// directory standing for a step's rootfs (the sandbox tests run the same code
// through a real overlay mount). Ownership checks need root; the rest runs as
// any user.
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "runtime/context/build_context.hpp"
#include "runtime/context/context_copy.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::runtime;
using nullspace::test::tar_writer;
namespace fs = std::filesystem;

namespace {

// A stored context and an empty rootfs next to it.
struct copy_fixture {
  test::temp_dir dir;
  std::string rootfs = dir.sub("rootfs");
  std::string tar;

  explicit copy_fixture(const std::string& archive) {
    fs::create_directories(rootfs);
    auto stored = store_context_tar(archive, dir.sub("contexts"));
    REQUIRE(stored.ok());
    tar = dir.sub("contexts") + "/" + stored->digest.substr(7) + ".tar";
    REQUIRE(context_tar_path(dir.sub("contexts"), stored->json()) == tar);
  }

  result<copy_summary> copy(const std::string& src, const std::string& dest, uint32_t uid = 0,
                            uint32_t gid = 0) {
    return copy_from_context(rootfs, {tar, src, dest, uid, gid});
  }

  std::string in_root(const std::string& path) const { return rootfs + path; }
};

std::string read(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), {}};
}

struct stat lstat_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st;
}

}  // namespace

TEST_CASE("copying a directory writes its contents under dest with modes, times and links",
          "[copy]") {
  copy_fixture f(tar_writer()
                     .mtime(1600000000)
                     .dir("app", 0750)
                     .file("app/main.py", "print('hi')\n", 0755)
                     .dir("app/pkg")
                     .file("app/pkg/data.txt", "data", 0600)
                     .symlink("app/current", "pkg/data.txt")
                     .hardlink("app/same.txt", "app/pkg/data.txt")
                     .fifo("app/pipe")
                     .file("other.txt", "not selected")
                     .finish());
  auto r = f.copy("app/", "/srv/app");
  REQUIRE(r.ok());
  CHECK(r->files == 3);  // main.py, data.txt and the hard link
  CHECK(r->dirs == 1);   // pkg (app itself maps onto dest)
  CHECK(r->symlinks == 1);
  CHECK(r->bytes == 16);
  REQUIRE(r->skipped == std::vector<std::string>{"app/pipe"});
  CHECK(r->text() == "3 files (16 bytes), 1 dir, 1 symlink");

  CHECK(read(f.in_root("/srv/app/main.py")) == "print('hi')\n");
  CHECK((lstat_of(f.in_root("/srv/app/main.py")).st_mode & 07777) == 0755);
  CHECK((lstat_of(f.in_root("/srv/app/pkg/data.txt")).st_mode & 07777) == 0600);
  CHECK(lstat_of(f.in_root("/srv/app/pkg/data.txt")).st_mtime == 1600000000);
  CHECK(lstat_of(f.in_root("/srv/app/pkg")).st_mtime == 1600000000);  // set after its children
  CHECK(fs::read_symlink(f.in_root("/srv/app/current")) == "pkg/data.txt");
  CHECK(lstat_of(f.in_root("/srv/app/same.txt")).st_ino ==
        lstat_of(f.in_root("/srv/app/pkg/data.txt")).st_ino);
  CHECK_FALSE(fs::exists(f.in_root("/srv/app/pipe")));
  CHECK_FALSE(fs::exists(f.in_root("/srv/app/other.txt")));
  CHECK_FALSE(fs::exists(f.in_root("/srv/other.txt")));
}

TEST_CASE("copying a file lands on dest, or inside it when dest is a directory", "[copy]") {
  copy_fixture f(tar_writer().file("conf/app.toml", "x = 1\n").finish());
  fs::create_directories(f.in_root("/etc/existing"));

  REQUIRE(f.copy("conf/app.toml", "/etc/app/config.toml").ok());
  CHECK(read(f.in_root("/etc/app/config.toml")) == "x = 1\n");

  REQUIRE(f.copy("conf/app.toml", "/opt/new/").ok());  // trailing slash: a directory
  CHECK(read(f.in_root("/opt/new/app.toml")) == "x = 1\n");

  REQUIRE(f.copy("conf/app.toml", "/etc/existing").ok());  // an existing directory
  CHECK(read(f.in_root("/etc/existing/app.toml")) == "x = 1\n");

  // An existing file is replaced, an existing symlink too (not followed).
  std::ofstream(f.in_root("/etc/app/config.toml")) << "old";
  fs::create_symlink("/etc/passwd", f.in_root("/etc/link.toml"));
  REQUIRE(f.copy("conf/app.toml", "/etc/link.toml").ok());
  CHECK(fs::is_regular_file(fs::symlink_status(f.in_root("/etc/link.toml"))));
  CHECK(read(f.in_root("/etc/link.toml")) == "x = 1\n");
}

TEST_CASE("the whole context is '.', and a hard link to an unselected file gets its data",
          "[copy]") {
  copy_fixture f(
      tar_writer().file("top.txt", "top").dir("sub").hardlink("sub/alias.txt", "top.txt").finish());
  REQUIRE(f.copy(".", "/w").ok());
  CHECK(read(f.in_root("/w/top.txt")) == "top");
  CHECK(read(f.in_root("/w/sub/alias.txt")) == "top");

  REQUIRE(f.copy("sub", "/only-sub").ok());  // the link's target is outside "sub"
  CHECK(read(f.in_root("/only-sub/alias.txt")) == "top");
  CHECK_FALSE(fs::exists(f.in_root("/only-sub/top.txt")));
}

TEST_CASE("symlinks in the image cannot lead a copy outside the rootfs", "[copy]") {
  copy_fixture f(tar_writer().file("payload", "owned").finish());
  auto outside = f.dir.sub("outside");
  fs::create_directories(outside);
  fs::create_directories(f.in_root("/outside"));
  // Inside the root, ".." stops at the root and "/" is the root itself.
  fs::create_symlink("../../outside", f.in_root("/up"));
  fs::create_symlink("/", f.in_root("/slash"));
  fs::create_symlink(outside, f.in_root("/abs"));  // the host path, absolute

  REQUIRE(f.copy("payload", "/up/p1").ok());
  CHECK(read(f.in_root("/outside/p1")) == "owned");  // resolved inside the root
  REQUIRE(f.copy("payload", "/slash/p2").ok());
  CHECK(read(f.in_root("/p2")) == "owned");
  auto through_abs = f.copy("payload", "/abs/p3");
  // The host path does not exist inside the root: a dangling link, never the host.
  CHECK_FALSE(through_abs.ok());
  CHECK(fs::is_empty(outside));
}

TEST_CASE("a context's absolute links land as links and lead later copies inside the root",
          "[copy]") {
  test::temp_dir host;
  auto outside = host.sub("outside");
  fs::create_directories(outside);
  copy_fixture links(tar_writer()
                         .symlink("etc-link", "/etc")
                         .symlink("host-link", outside)  // a host path, absolute
                         .symlink("dev", "/dev")
                         .finish());
  fs::create_directories(links.in_root("/etc"));
  auto r = links.copy(".", "/app");
  REQUIRE(r.ok());
  CHECK(r->symlinks == 3);
  CHECK(fs::is_symlink(fs::symlink_status(links.in_root("/app/etc-link"))));
  CHECK(fs::read_symlink(links.in_root("/app/etc-link")) == "/etc");
  CHECK(fs::read_symlink(links.in_root("/app/host-link")) == outside);
  CHECK(fs::read_symlink(links.in_root("/app/dev")) == "/dev");

  // A later copy through those links writes inside the root, never on the host.
  copy_fixture payload(tar_writer().file("p", "owned").finish());
  REQUIRE(copy_from_context(links.rootfs, {payload.tar, "p", "/app/etc-link/p", 0, 0}).ok());
  CHECK(read(links.in_root("/etc/p")) == "owned");
  CHECK_FALSE(copy_from_context(links.rootfs, {payload.tar, "p", "/app/host-link/p", 0, 0}).ok());
  CHECK(fs::is_empty(outside));
}

TEST_CASE("copy errors name what is wrong", "[copy]") {
  copy_fixture f(tar_writer().dir("d").file("d/f", "x").file("file", "y").finish());
  auto missing = f.copy("nope/", "/x");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == errc::invalid_argument);
  CHECK(missing.error().message == "'nope/' is not in the build context");

  fs::create_directories(f.in_root("/x/f"));
  auto dir_in_way = f.copy("d", "/x");
  REQUIRE_FALSE(dir_in_way.ok());
  CHECK(dir_in_way.error().code == errc::invalid_argument);
  CHECK(dir_in_way.error().message == "cannot replace the directory /x/f with a file");

  std::ofstream(f.in_root("/plain")) << "z";
  auto file_as_dir = f.copy("file", "/plain/inside/");
  REQUIRE_FALSE(file_as_dir.ok());
  CHECK(file_as_dir.error().message.find("/plain") != std::string::npos);

  CHECK(f.copy("file", "relative").error().code == errc::invalid_argument);
  CHECK(f.copy("../x", "/y").error().code == errc::invalid_argument);
}

TEST_CASE("copied files belong to the build's user", "[copy]") {
  if (::geteuid() != 0) {
    WARN("skipped: changing owners needs root");
    return;
  }
  copy_fixture f(tar_writer().dir("d").file("d/f", "x", 04755).symlink("d/l", "f").finish());
  REQUIRE(f.copy("d", "/home/app/d", 1234, 2345).ok());
  for (auto p : {"/home/app/d/f", "/home/app/d/l", "/home/app/d", "/home/app"}) {
    INFO(p);
    auto st = lstat_of(f.in_root(p));
    CHECK(st.st_uid == 1234);
    CHECK(st.st_gid == 2345);
  }
  // The mode is applied after the owner change, so set-id bits survive it.
  CHECK((lstat_of(f.in_root("/home/app/d/f")).st_mode & 07777) == 04755);
}

TEST_CASE("a source pattern copies every match; .dockerignore hides what it excludes", "[copy]") {
  copy_fixture f(tar_writer()
                     .file(".dockerignore", "*.lock\nsecrets/\n")
                     .file("package.json", "{}")
                     .file("package-lock.json", "{\"l\":1}")
                     .file("yarn.lock", "ignored")
                     .dir("secrets")
                     .file("secrets/key", "k")
                     .dir("src")
                     .file("src/a.py", "a")
                     .finish());
  auto both = f.copy("package*.json", "/app/");
  REQUIRE(both.ok());
  CHECK(both->files == 2);
  CHECK(read(f.in_root("/app/package-lock.json")) == "{\"l\":1}");

  auto many = f.copy("*.json", "/one");  // two matches need a directory
  REQUIRE_FALSE(many.ok());
  CHECK(many.error().message.find("matches 2 paths") != std::string::npos);
  auto none = f.copy("*.toml", "/x/");
  REQUIRE_FALSE(none.ok());
  CHECK(none.error().message == "no file in the build context matches '*.toml'");

  // The whole context, minus what .dockerignore excludes.
  auto all = f.copy(".", "/all");
  REQUIRE(all.ok());
  CHECK(fs::exists(f.in_root("/all/src/a.py")));
  CHECK_FALSE(fs::exists(f.in_root("/all/yarn.lock")));
  CHECK_FALSE(fs::exists(f.in_root("/all/secrets")));
  auto named = f.copy("secrets/key", "/k");
  REQUIRE_FALSE(named.ok());
  CHECK(named.error().message == "'secrets/key' is excluded by the context's .dockerignore");
}

// Build contexts: inspection of real tar archives (written with libarchive in
// memory), the path-escape rules, and the content-addressed store.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <functional>

#include "runtime/context/build_context.hpp"
#include "storage/common/sha256.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::runtime;
using nullspace::test::tar_writer;

namespace {

const context_entry* find_entry(const context_manifest& m, const std::string& path) {
  for (auto& e : m.entries)
    if (e.path == path) return &e;
  return nullptr;
}

const context_problem* find_problem(const std::vector<context_problem>& list,
                                    const std::string& path) {
  for (auto& p : list)
    if (p.path == path) return &p;
  return nullptr;
}

std::vector<std::string> dir_listing(const std::string& dir) {
  std::vector<std::string> names;
  if (!std::filesystem::exists(dir)) return names;
  for (auto& f : std::filesystem::directory_iterator(dir))
    names.push_back(f.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("a context manifest lists the entries in archive order with counts and bytes",
          "[context]") {
  auto tar = tar_writer()
                 .dir("./src/")
                 .file("./src/main.py", "print('hi')\n", 0755)
                 .file("README.md", "# demo\n")
                 .symlink("src/current", "main.py")
                 .hardlink("src/copy.py", "./src/main.py")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  REQUIRE(m->entries.size() == 5);
  CHECK(m->entries[0].path == "src");
  CHECK(m->entries[0].type == 'd');
  CHECK(m->entries[0].mode == 0755);
  CHECK(m->entries[1].path == "src/main.py");
  CHECK(m->entries[1].type == 'f');
  CHECK(m->entries[1].size == 12);
  CHECK(m->entries[1].mode == 0755);
  CHECK(m->entries[2].path == "README.md");
  CHECK(m->entries[2].mode == 0644);
  CHECK(m->entries[3].type == 'l');
  CHECK(m->entries[3].link_target == "main.py");
  CHECK(m->entries[3].size == 0);
  CHECK(m->entries[4].type == 'h');
  CHECK(m->entries[4].link_target == "src/main.py");  // normalized, from the root
  CHECK(m->entries[4].size == 0);
  CHECK(m->files == 2);
  CHECK(m->bytes == 12 + 7);
  CHECK(m->warnings.empty());
  CHECK(m->unsupported.empty());
}

TEST_CASE("the context id and digest are the sha256 of the tar bytes", "[context]") {
  auto tar = tar_writer().file("a", "one").finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  auto hex = sha256_hex(tar);
  CHECK(m->digest == "sha256:" + hex);
  CHECK(m->id == "bc_" + hex.substr(0, 32));
  auto other = inspect_context_tar(tar_writer().file("a", "two").finish());
  REQUIRE(other.ok());
  CHECK(other->id != m->id);
}

TEST_CASE("the manifest JSON names types as words", "[context]") {
  auto tar = tar_writer()
                 .dir("d")
                 .file("d/f", "xy")
                 .symlink("d/l", "f")
                 .hardlink("d/h", "d/f")
                 .fifo("p")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  auto head = "{\"id\":\"" + m->id + "\",\"digest\":\"" + m->digest + "\",\"files\":1,\"bytes\":2";
  CHECK(context_info{m->id, m->digest, m->files, m->bytes}.json() == head + "}");
  CHECK(m->json() ==
        head +
            ",\"entries\":["
            "{\"path\":\"d\",\"type\":\"dir\",\"size\":0,\"mode\":493},"
            "{\"path\":\"d/f\",\"type\":\"file\",\"size\":2,\"mode\":420},"
            "{\"path\":\"d/l\",\"type\":\"symlink\",\"size\":0,\"mode\":511,\"link_target\":\"f\"},"
            "{\"path\":\"d/h\",\"type\":\"hardlink\",\"size\":0,\"mode\":420,"
            "\"link_target\":\"d/f\"}],"
            "\"warnings\":[],"
            "\"unsupported\":[{\"path\":\"p\",\"reason\":\"fifos are not supported\"}]}");
}

TEST_CASE("long names written with pax and GNU extensions are read whole", "[context]") {
  std::string dir(120, 'd');
  std::string name = dir + "/" + std::string(150, 'n') + ".txt";
  std::string target = "../" + dir + "/" + std::string(130, 't');
  for (auto f : {tar_writer::format::pax, tar_writer::format::gnu}) {
    auto tar = tar_writer(f).file(name, "x").symlink(dir + "/link", target).finish();
    auto m = inspect_context_tar(tar);
    REQUIRE(m.ok());
    REQUIRE(m->entries.size() == 2);
    CHECK(m->entries[0].path == name);
    CHECK(m->entries[1].link_target == target);
    CHECK(m->unsupported.empty());
  }
}

TEST_CASE("files above the large-file limit produce a warning", "[context]") {
  auto tar = tar_writer()
                 .file("small", std::string(1024, 's'))
                 .file("big", std::string(1025, 'b'))
                 .finish();
  context_limits limits;
  limits.large_file_bytes = 1024;
  auto m = inspect_context_tar(tar, limits);
  REQUIRE(m.ok());
  REQUIRE(m->warnings.size() == 1);
  CHECK(m->warnings[0].path == "big");
  CHECK(m->warnings[0].reason == "file is larger than 1 KiB");
  CHECK(m->files == 2);
  CHECK(m->bytes == 2049);
  CHECK(inspect_context_tar(tar)->warnings.empty());  // 50 MiB by default
}

TEST_CASE("entries the context's .dockerignore excludes are listed once per tree", "[context]") {
  auto tar = tar_writer()
                 .file("./.dockerignore", "# build output\nnode_modules\n*.log\n!keep.log\n")
                 .dir("node_modules")
                 .file("node_modules/a.js", "a")
                 .file("node_modules/b.js", "b")
                 .file("debug.log", "d")
                 .file("keep.log", "k")
                 .file("main.js", "m")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  REQUIRE(m->warnings.size() == 2);
  CHECK(m->warnings[0].path == "node_modules");
  CHECK(m->warnings[0].reason == "excluded by .dockerignore: copies do not see it");
  CHECK(m->warnings[1].path == "debug.log");
  CHECK(m->files == 6);  // still part of the upload, which is the client's to trim
}

TEST_CASE("paths are normalized; a duplicate path warns and the later entry wins", "[context]") {
  auto tar = tar_writer()
                 .dir("./")
                 .file("./a/../b", "first")
                 .dir("c//d/./e/")
                 .file("c/d/./e//f", "x")
                 .file("b", "second!")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  REQUIRE(m->entries.size() == 3);  // "./" is the root itself: skipped silently
  CHECK(m->entries[0].path == "c/d/e");
  CHECK(m->entries[1].path == "c/d/e/f");
  CHECK(m->entries[2].path == "b");
  CHECK(m->entries[2].size == 7);
  CHECK(m->files == 2);
  CHECK(m->bytes == 8);
  REQUIRE(m->warnings.size() == 1);
  CHECK(m->warnings[0].path == "b");
  CHECK(m->warnings[0].reason == "path appears more than once; the later entry wins");
  CHECK(m->unsupported.empty());
}

TEST_CASE("entries escaping the root are listed by inspection and refused on upload", "[context]") {
  struct escape_case {
    std::string name;
    std::function<void(tar_writer&)> add;
    std::string path;    // as written in the archive
    std::string reason;  // the expected reason
  };
  std::vector<escape_case> cases{
      {"../x", [](tar_writer& t) { t.file("../x", "x"); }, "../x", "path escapes the context root"},
      {"a/../../x", [](tar_writer& t) { t.file("a/../../x", "x"); }, "a/../../x",
       "path escapes the context root"},
      {"/etc/passwd", [](tar_writer& t) { t.file("/etc/passwd", "x"); }, "/etc/passwd",
       "absolute path escapes the context root"},
      {"hard link -> ../x", [](tar_writer& t) { t.hardlink("h", "../x"); }, "h",
       "hard link target escapes the context root"},
      {"hard link -> /etc/shadow", [](tar_writer& t) { t.hardlink("h", "/etc/shadow"); }, "h",
       "absolute hard link target escapes the context root"},
  };
  for (auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      tar_writer w;
      w.file("ok.txt", "fine");
      c.add(w);
      auto tar = w.finish();

      auto m = inspect_context_tar(tar);
      REQUIRE(m.ok());
      REQUIRE(m->unsupported.size() == 1);
      CHECK(m->unsupported[0].path == c.path);
      CHECK(m->unsupported[0].reason == c.reason);
      REQUIRE(m->entries.size() == 1);
      CHECK(m->entries[0].path == "ok.txt");

      test::temp_dir dir;
      auto stored = store_context_tar(tar, dir.sub("contexts"));
      REQUIRE_FALSE(stored.ok());
      CHECK(stored.error().code == errc::invalid_argument);
      CHECK(stored.error().field == "body");
      CHECK_THAT(stored.error().message,
                 Catch::Contains("\"" + c.path + "\"") && Catch::Contains(c.reason));
      CHECK(dir_listing(dir.sub("contexts")).empty());
    }
  }
}

TEST_CASE("links whose targets stay inside the root are accepted", "[context]") {
  auto tar = tar_writer()
                 .file("b", "b")
                 .dir("a")
                 .symlink("a/l", "../b")
                 .symlink("a/self", ".")
                 .symlink("a/deep", "x/../../b")
                 .hardlink("a/h", "a/../b")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  CHECK(m->unsupported.empty());
  CHECK(m->warnings.empty());
  REQUIRE(find_entry(*m, "a/l"));
  CHECK(find_entry(*m, "a/l")->link_target == "../b");
  REQUIRE(find_entry(*m, "a/h"));
  CHECK(find_entry(*m, "a/h")->link_target == "b");
  test::temp_dir dir;
  CHECK(store_context_tar(tar, dir.sub("contexts")).ok());
}

TEST_CASE("symlinks are kept as written, wherever they point", "[context]") {
  // As Docker: a link's target is data. Nothing follows it on the host; a COPY
  // writes it as a link and resolves paths inside the build's root.
  auto tar = tar_writer()
                 .file("ok.txt", "fine")
                 .symlink("passwd", "/etc/passwd")
                 .symlink("dev", "/dev")
                 .symlink("a/up", "../../etc")
                 .symlink("a/via", "../passwd/../../x")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  CHECK(m->unsupported.empty());
  CHECK(m->warnings.empty());
  REQUIRE(find_entry(*m, "passwd"));
  CHECK(find_entry(*m, "passwd")->type == 'l');
  CHECK(find_entry(*m, "passwd")->link_target == "/etc/passwd");
  REQUIRE(find_entry(*m, "a/up"));
  CHECK(find_entry(*m, "a/up")->link_target == "../../etc");
  CHECK(find_entry(*m, "dev")->link_target == "/dev");
  test::temp_dir dir;
  auto stored = store_context_tar(tar, dir.sub("contexts"));
  REQUIRE(stored.ok());
  CHECK(stored->entries.size() == 5);
  // An entry *through* such a link still escapes: it would be written there.
  auto through = tar_writer().symlink("etc", "/etc").file("etc/passwd", "x").finish();
  auto refused = store_context_tar(through, dir.sub("contexts"));
  REQUIRE_FALSE(refused.ok());
  CHECK_THAT(refused.error().message, Catch::Contains("\"etc/passwd\"") &&
                                          Catch::Contains("passes through the symlink \"etc\""));
}

TEST_CASE("links are not followed through other symlinks", "[context]") {
  // "d" -> "." is harmless alone, but through it "d/l" -> "../x" is really
  // "l" -> "../x", which lexical resolution from "d" would miss.
  SECTION("an entry below a symlink") {
    auto tar = tar_writer().symlink("d", ".").symlink("d/l", "../x").finish();
    auto m = inspect_context_tar(tar);
    REQUIRE(m.ok());
    REQUIRE(m->unsupported.size() == 1);
    CHECK(m->unsupported[0].path == "d/l");
    CHECK_THAT(m->unsupported[0].reason, Catch::Contains("passes through the symlink \"d\""));
    test::temp_dir dir;
    CHECK(store_context_tar(tar, dir.sub("c")).error().code == errc::invalid_argument);
  }
  SECTION("the symlink may come later in the archive") {
    auto tar = tar_writer().file("d/f", "x").symlink("d", "/etc").finish();
    auto m = inspect_context_tar(tar);
    REQUIRE(m.ok());
    CHECK(m->unsupported.size() == 1);  // the link itself is kept as written
    CHECK(find_problem(m->unsupported, "d/f"));
    REQUIRE(m->entries.size() == 1);
    CHECK(m->entries[0].path == "d");
  }
  SECTION("a hard link target that goes up after a symlink") {
    auto tar =
        tar_writer().symlink("d", ".").symlink("l", "d/../x").hardlink("h", "d/../x").finish();
    auto m = inspect_context_tar(tar);
    REQUIRE(m.ok());
    REQUIRE(m->unsupported.size() == 1);  // the symlink "l" is kept as written
    CHECK(m->unsupported[0].path == "h");
    CHECK_THAT(m->unsupported[0].reason,
               Catch::StartsWith("hard link target goes up with \"..\" after passing through "
                                 "the symlink \"d\""));
  }
  SECTION("a link target through a symlink that goes no further up is fine") {
    auto tar =
        tar_writer().dir("sub").file("sub/f", "x").symlink("d", "sub").symlink("l", "d/f").finish();
    auto m = inspect_context_tar(tar);
    REQUIRE(m.ok());
    CHECK(m->unsupported.empty());
    CHECK(m->entries.size() == 4);
  }
}

TEST_CASE("only whole path components match a symlink", "[context]") {
  // "-" and "." sort before "/": a naive string prefix search would confuse these.
  auto tar = tar_writer()
                 .symlink("a/b/c/d", "../d")
                 .file("a/b/c/d-x/e", "1")
                 .file("a/b/c/d.txt", "2")
                 .file("a/b/c/dd/e", "3")
                 .file("a/b/c/d/e", "4")
                 .file("a/b/x/../c/d/f", "5")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  REQUIRE(m->unsupported.size() == 2);
  CHECK(m->unsupported[0].path == "a/b/c/d/e");
  CHECK(m->unsupported[1].path == "a/b/x/../c/d/f");
  CHECK(m->entries.size() == 4);
}

TEST_CASE("dangling hard links and non-UTF-8 paths warn", "[context]") {
  // GNU format: the pax writer refuses to translate a non-UTF-8 name.
  auto tar = tar_writer(tar_writer::format::gnu)
                 .hardlink("h", "missing")
                 .file("bad\xff.txt", "x")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  CHECK(m->entries.size() == 2);
  REQUIRE(m->warnings.size() == 2);
  CHECK(m->warnings[0].reason == "hard link target is not an earlier file of the archive");
  CHECK(m->warnings[1].path == "bad\xff.txt");
  CHECK_THAT(m->json(), Catch::Contains("bad\xEF\xBF\xBD.txt"));  // U+FFFD in the JSON
}

TEST_CASE("device files and fifos are unsupported but do not fail the upload", "[context]") {
  auto tar = tar_writer()
                 .file("app.py", "pass\n")
                 .device("dev/null", AE_IFCHR)
                 .device("dev/sda", AE_IFBLK)
                 .fifo("pipe")
                 .finish();
  auto m = inspect_context_tar(tar);
  REQUIRE(m.ok());
  REQUIRE(m->unsupported.size() == 3);
  CHECK(m->unsupported[0].path == "dev/null");
  CHECK(m->unsupported[0].reason == "device files are not supported");
  CHECK(m->unsupported[1].reason == "device files are not supported");
  CHECK(m->unsupported[2].reason == "fifos are not supported");
  REQUIRE(m->entries.size() == 1);
  CHECK(m->files == 1);

  test::temp_dir dir;
  auto stored = store_context_tar(tar, dir.path());
  REQUIRE(stored.ok());
  CHECK(stored->unsupported.size() == 3);
}

TEST_CASE("empty, garbage and truncated bodies are invalid arguments", "[context]") {
  auto tar = tar_writer().file("a", std::string(6000, 'a')).file("b", "b").finish();
  auto expect_invalid = [](std::string_view body, const std::string& says) {
    auto m = inspect_context_tar(body);
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == errc::invalid_argument);
    CHECK(m.error().field == "body");
    CHECK_THAT(m.error().message, Catch::Contains(says));
    test::temp_dir dir;
    CHECK_FALSE(store_context_tar(body, dir.sub("c")).ok());
    CHECK(dir_listing(dir.sub("c")).empty());
  };
  SECTION("empty") {
    expect_invalid("", "empty");
  }
  SECTION("garbage") {
    expect_invalid(std::string(4096, 'g'), "the build context is not a valid tar archive");
  }
  SECTION("cut in half, inside a file's data") {
    expect_invalid(std::string_view(tar).substr(0, tar.size() / 2), "not a valid tar archive");
  }
  SECTION("cut between two entries, so only the end marker is missing") {
    // ustar: a 512-byte header and one 512-byte data block per small file.
    auto small = tar_writer(tar_writer::format::ustar).file("a", "a").file("b", "b").finish();
    expect_invalid(std::string_view(small).substr(0, 1024), "end-of-archive marker");
  }
  SECTION("data after the end marker") {
    expect_invalid(tar + "trailing", "after the end-of-archive");
  }
  SECTION("gzip-compressed") {
    expect_invalid("\x1f\x8b\x08\x00rest", "gzip");
  }
}

TEST_CASE("an archive of only the end marker is an empty context", "[context]") {
  auto m = inspect_context_tar(tar_writer().finish());
  REQUIRE(m.ok());
  CHECK(m->entries.empty());
  CHECK(m->files == 0);
}

TEST_CASE("too many entries is payload_too_large", "[context]") {
  auto tar = tar_writer().file("a", "").file("b", "").file("c", "").finish();
  context_limits limits;
  limits.max_entries = 2;
  auto m = inspect_context_tar(tar, limits);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code == errc::payload_too_large);
  limits.max_entries = 3;
  CHECK(inspect_context_tar(tar, limits).ok());
}

TEST_CASE("storing a context is content-addressed, atomic and idempotent", "[context]") {
  auto tar = tar_writer().dir("src").file("src/a.txt", "alpha").finish();
  test::temp_dir dir;
  auto contexts = dir.sub("data/contexts");  // created on demand, parents too
  auto first = store_context_tar(tar, contexts);
  REQUIRE(first.ok());
  auto hex = first->digest.substr(7);
  auto tar_path = contexts + "/" + hex + ".tar";
  auto json_path = contexts + "/" + hex + ".json";
  CHECK(dir_listing(contexts) == std::vector<std::string>{hex + ".json", hex + ".tar"});
  CHECK(test::read_file(tar_path) == tar);
  CHECK(test::read_file(json_path) == first->json());

  // A second upload of the same bytes answers the same and rewrites nothing:
  // the tar keeps its inode and a marker put into the manifest survives.
  struct stat before {};
  REQUIRE(::stat(tar_path.c_str(), &before) == 0);
  test::write_file(json_path, "marker");
  auto second = store_context_tar(tar, contexts);
  REQUIRE(second.ok());
  CHECK(second->id == first->id);
  CHECK(second->json() == first->json());
  struct stat after {};
  REQUIRE(::stat(tar_path.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(test::read_file(json_path) == "marker");
  CHECK(dir_listing(contexts).size() == 2);  // no temp files left behind

  auto other = store_context_tar(tar_writer().file("b", "beta").finish(), contexts);
  REQUIRE(other.ok());
  CHECK(other->id != first->id);
  CHECK(dir_listing(contexts).size() == 4);
}

// Found by tests/fuzz/fuzz_context_tar (corpus file context_tar/regression_hardlink_to_root):
// a hard link whose target resolves to the root was kept as an entry with an
// empty link_target.
TEST_CASE("a hard link to the context root is listed as unsupported, not kept", "[context]") {
  for (std::string target : {".", "a/..", "./"}) {
    DYNAMIC_SECTION("hard link -> " << target) {
      auto tar = tar_writer().file("ok.txt", "fine").hardlink("h", target).finish();
      auto m = inspect_context_tar(tar);
      REQUIRE(m.ok());
      REQUIRE(m->entries.size() == 1);
      CHECK(m->entries[0].path == "ok.txt");
      REQUIRE(m->unsupported.size() == 1);
      CHECK(m->unsupported[0].path == "h");
      CHECK(m->unsupported[0].reason == "hard link target is the context root, not a file");
      // Not an escape: the upload is accepted, without the link.
      test::temp_dir dir;
      auto stored = store_context_tar(tar, dir.sub("contexts"));
      REQUIRE(stored.ok());
      CHECK(stored->entries.size() == 1);
    }
  }
}

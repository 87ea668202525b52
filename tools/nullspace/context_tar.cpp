#include "tools/nullspace/context_tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "runtime/context/build_context.hpp"
#include "runtime/request/path_glob.hpp"
#include "storage/common/sha256.hpp"
#include "tools/nullspace/cli_error.hpp"

namespace fs = std::filesystem;

namespace nullspace::cli {
namespace {

struct archive_deleter {
  void operator()(archive* a) const { archive_write_free(a); }
};
struct entry_deleter {
  void operator()(archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t append_to_string(archive*, void* user, const void* buf, size_t n) {
  static_cast<std::string*>(user)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw usage_error("cannot read " + p.string());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool has_reinclude(const std::string& rules) {
  size_t pos = 0;
  while (pos < rules.size()) {
    auto end = rules.find('\n', pos);
    if (end == std::string::npos) end = rules.size();
    auto line = std::string_view(rules).substr(pos, end - pos);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.starts_with('!')) return true;
    pos = end + 1;
  }
  return false;
}

// What cannot go into a tar, as the warning names it; "" for what can.
const char* unpackable_kind(mode_t mode) {
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISDIR(mode) || S_ISLNK(mode) || S_ISREG(mode)) return "";
  return "not a file, directory or link";
}

struct item {
  std::string rel;
  fs::path path;
  struct stat st {};
};

}  // namespace

bool is_large(const context_scan& scan) {
  return scan.bytes > large_context_bytes || scan.files > large_context_files;
}

std::vector<std::string> scan_warnings(const context_scan& scan) {
  std::vector<std::string> out;
  for (auto& s : scan.skipped)
    out.push_back("warning: " + s.path + " is " + s.kind +
                  ": not sent (a build context holds files, directories and symlinks)");
  if (is_large(scan)) {
    char mb[32];
    std::snprintf(mb, sizeof mb, "%.1f MB", static_cast<double>(scan.bytes) / 1e6);
    out.push_back("build context " + scan.dir + ": " + std::to_string(scan.files) + " files, " +
                  mb +
                  ", all packed and uploaded before the build starts. A .dockerignore next to "
                  "the Dockerfile keeps out what the build does not need (.git, node_modules, "
                  "build output), or give --context a smaller directory.");
  }
  return out;
}

context_archive tar_directory(const std::string& dir,
                              const std::function<void(const context_scan&)>& scanned) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw usage_error("build context " + dir + " is not a directory");
  fs::path root(dir);
  std::string rules;
  if (fs::is_regular_file(root / ".dockerignore", ec)) rules = read_all(root / ".dockerignore");
  runtime::dockerignore ignore(rules);
  // Without `!` lines nothing inside an ignored directory can come back, so
  // its tree is not even walked (node_modules, .git, …).
  bool prune = !has_reinclude(rules);

  context_archive out;
  auto& scan = out.scan;
  scan.dir = dir;
  std::vector<item> items;
  // The iterator names entries `dir` + "/" + their relative path (no "/"
  // added after a trailing one). Never made canonical: a symlink's own
  // path is what goes into the tar, wherever it points.
  auto prefix = root.string();
  if (!prefix.ends_with('/')) prefix += '/';
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) throw usage_error("cannot read build context " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw usage_error("cannot read build context " + dir + ": " + ec.message());
    auto full = it->path().string();
    if (!full.starts_with(prefix)) throw usage_error("cannot read " + full);  // cannot happen
    item i{full.substr(prefix.size()), it->path()};
    if (::lstat(i.path.c_str(), &i.st) != 0) throw usage_error("cannot read " + full);
    if (i.rel != ".dockerignore" && !ignore.empty() && ignore.ignores(i.rel)) {
      ++scan.ignored;
      if (prune && S_ISDIR(i.st.st_mode)) it.disable_recursion_pending();
      continue;
    }
    if (auto kind = unpackable_kind(i.st.st_mode); *kind) {
      scan.skipped.push_back({i.rel, kind});
      continue;
    }
    ++scan.entries;
    if (S_ISREG(i.st.st_mode)) {
      ++scan.files;
      scan.bytes += static_cast<uint64_t>(i.st.st_size);
    }
    items.push_back(std::move(i));
  }
  std::sort(items.begin(), items.end(), [](const item& a, const item& b) { return a.rel < b.rel; });
  std::sort(scan.skipped.begin(), scan.skipped.end(),
            [](auto& a, auto& b) { return a.path < b.path; });
  if (scanned) scanned(scan);

  std::unique_ptr<archive, archive_deleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out.tar, nullptr, append_to_string, nullptr) != ARCHIVE_OK)
    throw cli_error(exit_failed,
                    std::string("cannot make a tar archive: ") + archive_error_string(a.get()));
  scan.files = scan.bytes = 0;  // recounted from what is read
  for (auto& i : items) {
    const auto& st = i.st;
    std::unique_ptr<archive_entry, entry_deleter> e(archive_entry_new());
    archive_entry_set_pathname(e.get(), i.rel.c_str());
    archive_entry_set_perm(e.get(), st.st_mode & 07777);
    archive_entry_set_mtime(e.get(), st.st_mtim.tv_sec, 0);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    std::string data;
    if (S_ISDIR(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFDIR);
    } else if (S_ISLNK(st.st_mode)) {
      archive_entry_set_filetype(e.get(), AE_IFLNK);
      auto target = fs::read_symlink(i.path, ec);
      if (ec) throw usage_error("cannot read link " + i.path.string() + ": " + ec.message());
      archive_entry_set_symlink(e.get(), target.c_str());
    } else {
      data = read_all(i.path);
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
      ++scan.files;
      scan.bytes += data.size();
    }
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK ||
        (!data.empty() && archive_write_data(a.get(), data.data(), data.size()) !=
                              static_cast<la_ssize_t>(data.size())))
      throw cli_error(exit_failed,
                      "cannot archive " + i.rel + ": " + archive_error_string(a.get()));
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK)
    throw cli_error(exit_failed,
                    std::string("cannot make a tar archive: ") + archive_error_string(a.get()));
  out.id = runtime::context_id_from_sha256(sha256_hex(out.tar));
  return out;
}

}  // namespace nullspace::cli

#include "tools/nullspace/context_tar.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>

#include <algorithm>
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

}  // namespace

context_archive tar_directory(const std::string& dir) {
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
  struct item {
    std::string rel;
    fs::path path;
  };
  std::vector<item> items;
  fs::recursive_directory_iterator it(root, fs::directory_options::none, ec), end;
  if (ec) throw usage_error("cannot read build context " + dir + ": " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw usage_error("cannot read build context " + dir + ": " + ec.message());
    auto rel = fs::relative(it->path(), root, ec).generic_string();
    if (ec) throw usage_error("cannot read " + it->path().string() + ": " + ec.message());
    if (rel != ".dockerignore" && !ignore.empty() && ignore.ignores(rel)) {
      ++out.ignored;
      if (prune && it->is_directory(ec) && !it->is_symlink(ec)) it.disable_recursion_pending();
      continue;
    }
    items.push_back({rel, it->path()});
  }
  std::sort(items.begin(), items.end(), [](const item& a, const item& b) { return a.rel < b.rel; });

  std::unique_ptr<archive, archive_deleter> a(archive_write_new());
  archive_write_set_format_pax_restricted(a.get());
  archive_write_set_bytes_in_last_block(a.get(), 1);
  if (archive_write_open(a.get(), &out.tar, nullptr, append_to_string, nullptr) != ARCHIVE_OK)
    throw cli_error(exit_failed,
                    std::string("cannot make a tar archive: ") + archive_error_string(a.get()));
  for (auto& i : items) {
    struct stat st {};
    if (::lstat(i.path.c_str(), &st) != 0) throw usage_error("cannot read " + i.path.string());
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
    } else if (S_ISREG(st.st_mode)) {
      data = read_all(i.path);
      archive_entry_set_filetype(e.get(), AE_IFREG);
      archive_entry_set_size(e.get(), static_cast<la_int64_t>(data.size()));
      ++out.files;
      out.bytes += data.size();
    } else {
      out.skipped.push_back(i.rel);
      continue;
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

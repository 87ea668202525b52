#include "runtime/context/build_context.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <memory>
#include <optional>
#include <system_error>
#include <unordered_map>

#include "runtime/context/tar_entries.hpp"
#include "runtime/request/path_glob.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/sha256.hpp"

// How paths are judged. Every entry path and hard link target is resolved
// lexically, component by component, never by asking a file system:
//  - an entry path is resolved from the root; an absolute path or a ".." that
//    climbs above the root escapes;
//  - a hard link target is resolved from the root (that is what tar means by
//    it) and must name an entry of the archive: absolute targets escape;
//  - symlinks are never followed through other symlinks. Lexical resolution is
//    only sound while no symlink sits in the middle of a path, so we are
//    conservative instead: an entry whose path runs through a symlink of the
//    archive (e.g. "d" -> "." and then "d/l"), or a hard link target that runs
//    through one and then goes up with "..", is treated as escaping.
// Any of these fails an upload. A symlink's own target is not judged at all:
// it is data, kept as written (absolute, or up out of the context, as Docker
// allows). Nothing resolves it on the host: a copy writes the link as a link
// and resolves every path inside the build's root (context_copy.cpp).
// Device files and fifos are merely listed.

namespace nullspace::runtime {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view not_a_tar = "the build context is not a valid tar archive: ";

// One header as libarchive reports it, before any judgement.
struct raw_entry {
  std::string path;
  char type = '?';
  uint64_t size = 0;
  uint32_t mode = 0;
  std::string link;
  std::string content;  // only for the top-level .dockerignore
};

bool is_dockerignore(std::string_view path) {
  while (path.starts_with("./")) path.remove_prefix(2);
  return path == ".dockerignore";
}

struct archive_deleter {
  void operator()(archive* a) const { archive_read_free(a); }
};

bool all_zero(std::string_view bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](char c) { return c == '\0'; });
}

// Reads every header, skipping the data. libarchive accepts an archive that
// simply stops at a block boundary, so a body cut between two entries would
// pass for a shorter archive: we insist on the end-of-archive marker, and on
// nothing but zero padding after it (bytes no inspection saw must not be stored).
result<std::vector<raw_entry>> read_headers(std::string_view tar, const context_limits& limits) {
  std::unique_ptr<archive, archive_deleter> a(archive_read_new());
  if (!a) return make_error(errc::internal, "libarchive could not allocate a reader");
  archive_read_support_format_tar(a.get());  // ustar, pax, GNU and v7
  if (archive_read_open_memory(a.get(), tar.data(), tar.size()) != ARCHIVE_OK)
    return make_error(errc::invalid_argument, std::string(not_a_tar) + libarchive_message(a.get()),
                      "body");
  std::vector<raw_entry> out;
  int64_t end_of_last_entry = 0;
  for (;;) {
    archive_entry* e = nullptr;
    int r = archive_read_next_header(a.get(), &e);
    if (r == ARCHIVE_EOF) break;
    // ARCHIVE_WARN is e.g. a UTF-8 pax path that the C locale cannot represent;
    // the raw bytes are still there, so it is not a reason to refuse the archive.
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return make_error(errc::invalid_argument,
                        std::string(not_a_tar) + libarchive_message(a.get()), "body");
    if (out.size() >= limits.max_entries)
      return make_error(
          errc::payload_too_large,
          "the build context has more than " + std::to_string(limits.max_entries) + " entries",
          "body");
    raw_entry raw;
    const char* path = archive_entry_pathname(e);
    if (!path) path = archive_entry_pathname_utf8(e);
    raw.path = path ? path : "";
    raw.type = entry_type(e);
    raw.mode = static_cast<uint32_t>(archive_entry_perm(e)) & 07777;
    if (raw.type == 'f' && archive_entry_size(e) > 0)
      raw.size = static_cast<uint64_t>(archive_entry_size(e));
    const char* link = raw.type == 'h'   ? archive_entry_hardlink(e)
                       : raw.type == 'l' ? archive_entry_symlink(e)
                                         : nullptr;
    raw.link = link ? link : "";
    bool keep = raw.type == 'f' && raw.size <= (1u << 20) && is_dockerignore(raw.path);
    if (keep) {
      raw.content.resize(raw.size);
      if (archive_read_data(a.get(), raw.content.data(), raw.content.size()) !=
          static_cast<la_ssize_t>(raw.content.size()))
        return make_error(errc::invalid_argument,
                          std::string(not_a_tar) + libarchive_message(a.get()), "body");
    }
    out.push_back(std::move(raw));
    // Skipping also catches an entry whose data is cut short.
    if (archive_read_data_skip(a.get()) != ARCHIVE_OK)
      return make_error(errc::invalid_argument,
                        std::string(not_a_tar) + libarchive_message(a.get()), "body");
    end_of_last_entry = archive_filter_bytes(a.get(), 0);
  }
  auto consumed = archive_filter_bytes(a.get(), 0);
  if (consumed <= end_of_last_entry)
    return make_error(
        errc::invalid_argument,
        std::string(not_a_tar) + "it ends without the end-of-archive marker (truncated upload?)",
        "body");
  if (consumed < 0 || static_cast<uint64_t>(consumed) > tar.size() ||
      !all_zero(tar.substr(static_cast<size_t>(consumed))))
    return make_error(errc::invalid_argument,
                      std::string(not_a_tar) + "there is data after the end-of-archive marker",
                      "body");
  return out;
}

// Path components, dropping empty ones and ".".
std::vector<std::string_view> components(std::string_view path) {
  std::vector<std::string_view> out;
  while (!path.empty()) {
    auto slash = path.find('/');
    auto part = path.substr(0, slash);
    if (!part.empty() && part != ".") out.push_back(part);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

std::string joined(const std::vector<std::string_view>& parts) {
  std::string out;
  for (auto p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

// The archive's symlink paths, sorted component by component ('/' stored as
// '\0', which sorts below every other byte), so the symlinks at or below a
// position form one contiguous range. A walk narrows that range one component at
// a time: checking every prefix of a path costs O(length · log n) instead of the
// O(length²) of looking each prefix up as a string (paths are attacker input).
class symlink_index {
 public:
  struct range {
    size_t first = 0, last = 0;  // [first, last) into keys_
  };

  symlink_index() = default;
  explicit symlink_index(std::vector<std::string> normalized_paths)
      : keys_(std::move(normalized_paths)) {
    for (auto& k : keys_) std::replace(k.begin(), k.end(), '/', '\0');
    std::sort(keys_.begin(), keys_.end());
    keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
  }

  range all() const { return {0, keys_.size()}; }

  // The keys of `r` whose component starting at byte `offset` is `component`.
  range descend(range r, size_t offset, std::string_view component) const {
    auto begin = keys_.begin() + static_cast<ptrdiff_t>(r.first);
    auto end = keys_.begin() + static_cast<ptrdiff_t>(r.last);
    // A key that ends before `offset` is the current position itself: it sorts first.
    if (begin != end && begin->size() < offset) ++begin;
    auto lo = std::partition_point(
        begin, end, [&](const std::string& k) { return compare(k, offset, component) < 0; });
    auto hi = std::partition_point(
        lo, end, [&](const std::string& k) { return compare(k, offset, component) == 0; });
    return {static_cast<size_t>(lo - keys_.begin()), static_cast<size_t>(hi - keys_.begin())};
  }

  // True if the position `length` bytes deep whose range is `r` is a symlink.
  bool is_symlink(range r, size_t length) const {
    return r.first < r.last && keys_[r.first].size() == length;
  }

 private:
  // Orders the component of `key` at `offset` against `c`, touching at most
  // |c| + 1 bytes of the key.
  static int compare(const std::string& key, size_t offset, std::string_view c) {
    for (size_t i = 0; i < c.size(); ++i) {
      if (offset + i >= key.size() || key[offset + i] == '\0') return -1;
      auto a = static_cast<unsigned char>(key[offset + i]);
      auto b = static_cast<unsigned char>(c[i]);
      if (a != b) return a < b ? -1 : 1;
    }
    size_t end = offset + c.size();
    return end == key.size() || key[end] == '\0' ? 0 : 1;
  }

  std::vector<std::string> keys_;
};

// A position in the tree of paths: the components so far and, per depth, the
// symlinks below it and the byte length of the '\0'-joined prefix.
class path_cursor {
 public:
  explicit path_cursor(const symlink_index& index) : index_(index), ranges_{index.all()} {}

  bool at_root() const { return parts_.empty(); }
  void up() {
    parts_.pop_back();
    ranges_.pop_back();
    lengths_.pop_back();
  }
  // Steps into `component`; true if the path so far is a symlink of the archive.
  bool down(std::string_view component) {
    size_t offset = lengths_.empty() ? 0 : lengths_.back() + 1;
    parts_.push_back(component);
    ranges_.push_back(index_.descend(ranges_.back(), offset, component));
    lengths_.push_back(offset + component.size());
    return index_.is_symlink(ranges_.back(), lengths_.back());
  }
  std::string path() const { return joined(parts_); }

 private:
  const symlink_index& index_;
  std::vector<std::string_view> parts_;
  std::vector<symlink_index::range> ranges_;
  std::vector<size_t> lengths_;
};

// The outcome of a lexical walk: the normalized path, or why it is refused.
struct walk_result {
  std::string path;
  std::string problem;  // completes "<subject> …", empty if the path stays inside
};

enum class walk_kind { entry_path, link_target };

// Resolves `path` from the normalized directory `base`. See the comment at the
// top of the file for the rules on symlinks met on the way.
walk_result walk(std::string_view base, std::string_view path, const symlink_index& symlinks,
                 walk_kind kind) {
  path_cursor at(symlinks);
  for (auto part : components(base)) at.down(part);
  auto rest = components(path);
  std::string via;  // the symlink a link target passed through, if any
  for (size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == "..") {
      if (!via.empty())
        return {{},
                "goes up with \"..\" after passing through the symlink \"" + via +
                    "\" (links are not followed)"};
      if (at.at_root()) return {{}, "escapes the context root"};
      at.up();
      continue;
    }
    bool symlink = at.down(rest[i]);
    bool last = i + 1 == rest.size();
    if (!symlink || last || !via.empty()) continue;
    if (kind == walk_kind::entry_path)
      return {{}, "passes through the symlink \"" + at.path() + "\" (links are not followed)"};
    via = at.path();
  }
  return {at.path(), {}};
}

std::string parent_of(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

// Every path the archive makes a symlink, for the walks above. Conservative: a
// symlink later replaced by a directory of the same path still counts.
symlink_index symlink_paths(const std::vector<raw_entry>& raw) {
  symlink_index none;
  std::vector<std::string> paths;
  for (auto& r : raw)
    if (r.type == 'l' && !r.path.starts_with('/')) {
      auto w = walk({}, r.path, none, walk_kind::link_target);
      if (w.problem.empty() && !w.path.empty()) paths.push_back(std::move(w.path));
    }
  return symlink_index(std::move(paths));
}

std::string size_text(uint64_t bytes) {
  if (bytes >= (1ull << 20) && bytes % (1ull << 20) == 0)
    return std::to_string(bytes >> 20) + " MiB";
  if (bytes >= 1024 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " bytes";
}

const char* not_supported_reason(char type) {
  switch (type) {
    case 'c':
    case 'b':
      return "device files are not supported";
    case 'p':
      return "fifos are not supported";
    default:
      return "this kind of entry is not supported";
  }
}

const char* type_word(char type) {
  switch (type) {
    case 'f':
      return "file";
    case 'd':
      return "dir";
    case 'l':
      return "symlink";
    case 'h':
      return "hardlink";
    case 'c':
      return "chardev";
    case 'b':
      return "blockdev";
    case 'p':
      return "fifo";
    default:
      return "other";
  }
}

// The manifest plus what only an upload needs: the first entry escaping the root.
struct inspection {
  context_manifest manifest;
  std::optional<context_problem> first_escape;
};

// Judges one entry: an empty problem means it is supported and `entry` is filled.
std::string judge(const raw_entry& raw, const symlink_index& symlinks, context_entry& entry,
                  bool& escapes) {
  escapes = true;
  if (raw.path.starts_with('/')) return "absolute path escapes the context root";
  auto w = walk({}, raw.path, symlinks, walk_kind::entry_path);
  if (!w.problem.empty()) return "path " + w.problem;
  entry = {w.path, raw.type, raw.size, raw.mode, {}};
  if (raw.type == 'l') {
    entry.link_target = raw.link;  // wherever it points: see the top of the file
  } else if (raw.type == 'h') {
    if (raw.link.starts_with('/')) return "absolute hard link target escapes the context root";
    auto t = walk({}, raw.link, symlinks, walk_kind::link_target);
    if (!t.problem.empty()) return "hard link target " + t.problem;
    if (t.path.empty()) {  // "", ".", "a/..": inside, but no file (found by fuzz_context_tar)
      escapes = false;
      return "hard link target is the context root, not a file";
    }
    entry.link_target = std::move(t.path);
  }
  escapes = false;
  if (raw.type == 'f' || raw.type == 'd' || raw.type == 'l' || raw.type == 'h') return {};
  return not_supported_reason(raw.type);
}

inspection inspect_entries(const std::vector<raw_entry>& raw, const context_limits& limits) {
  inspection out;
  auto& m = out.manifest;
  auto symlinks = symlink_paths(raw);
  // path -> index in m.entries of its current winner, or npos if that is unsupported.
  std::unordered_map<std::string, size_t> seen;
  std::vector<bool> replaced;
  for (auto& r : raw) {
    context_entry entry;
    bool escapes = false;
    auto problem = judge(r, symlinks, entry, escapes);
    if (escapes) {
      m.unsupported.push_back({r.path, problem});
      if (!out.first_escape) out.first_escape = m.unsupported.back();
      continue;
    }
    if (entry.path.empty()) continue;  // "./" and the like: the root itself
    if (!json::valid_utf8(r.path))
      m.warnings.push_back({r.path, "path is not valid UTF-8; JSON shows it with U+FFFD"});
    auto [it, first] = seen.try_emplace(entry.path, std::string::npos);
    if (!first) {
      m.warnings.push_back({r.path, "path appears more than once; the later entry wins"});
      if (it->second != std::string::npos) replaced[it->second] = true;
    }
    if (!problem.empty()) {
      m.unsupported.push_back({r.path, problem});
      it->second = std::string::npos;
      continue;
    }
    if (entry.type == 'f' && entry.size > limits.large_file_bytes)
      m.warnings.push_back({r.path, "file is larger than " + size_text(limits.large_file_bytes)});
    if (entry.type == 'h') {
      auto target = seen.find(entry.link_target);
      bool linkable = target != seen.end() && target->second != std::string::npos &&
                      m.entries[target->second].type != 'd';
      if (!linkable)
        m.warnings.push_back({r.path, "hard link target is not an earlier file of the archive"});
    }
    it->second = m.entries.size();
    m.entries.push_back(std::move(entry));
    replaced.push_back(false);
  }
  std::vector<context_entry> winners;
  for (size_t i = 0; i < m.entries.size(); ++i)
    if (!replaced[i]) winners.push_back(std::move(m.entries[i]));
  m.entries = std::move(winners);
  for (auto& e : m.entries)
    if (e.type == 'f') ++m.files, m.bytes += e.size;
  // What the context's .dockerignore hides from copies: each excluded tree once.
  auto rules = std::find_if(raw.rbegin(), raw.rend(),
                            [](const raw_entry& r) { return is_dockerignore(r.path); });
  if (rules != raw.rend()) {
    dockerignore ignore(rules->content);
    for (auto& e : m.entries)
      if (ignore.ignores(e.path) &&
          (parent_of(e.path).empty() || !ignore.ignores(parent_of(e.path))))
        m.warnings.push_back({e.path, "excluded by .dockerignore: copies do not see it"});
  }
  return out;
}

result<inspection> inspect(std::string_view tar, const context_limits& limits) {
  if (tar.empty())
    return make_error(errc::invalid_argument, "the build context is empty: send a tar archive",
                      "body");
  if (tar.size() > limits.max_tar_bytes)
    return make_error(errc::payload_too_large,
                      "the build context is larger than " + size_text(limits.max_tar_bytes),
                      "body");
  if (tar.starts_with("\x1f\x8b"))
    return make_error(errc::invalid_argument,
                      std::string(not_a_tar) + "it is gzip-compressed; send an uncompressed tar",
                      "body");
  auto raw = read_headers(tar, limits);
  if (!raw) return raw.error();
  auto out = inspect_entries(*raw, limits);
  auto hex = sha256_hex(tar);
  out.manifest.id = context_id_from_sha256(hex);
  out.manifest.digest = "sha256:" + hex;
  return out;
}

error io_error(const std::string& what, const std::string& path, int err) {
  return make_error(errc::internal,
                    what + " " + path + ": " + std::generic_category().message(err));
}

result<bool> write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    auto n = ::write(fd, bytes.data(), bytes.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("cannot write", path, errno);
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

result<bool> sync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("cannot open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("cannot fsync", dir, err);
  return true;
}

// Writes `bytes` as dir/name unless that file exists. The bytes go to a unique
// temp file in the same directory, are fsynced, and only then renamed, so the
// final name never holds a partial file; the directory is fsynced so the
// rename itself survives a crash.
result<bool> write_once(const std::string& dir, const std::string& name, std::string_view bytes) {
  auto final_path = dir + "/" + name;
  if (::access(final_path.c_str(), F_OK) == 0) return true;
  std::string tmp = dir + "/." + name + ".tmp-XXXXXX";
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) return io_error("cannot create a temp file in", dir, errno);
  auto written = write_all(fd, bytes, tmp);
  int sync_err = written && ::fsync(fd) != 0 ? errno : 0;
  ::close(fd);
  auto fail = [&](error e) -> result<bool> {
    ::unlink(tmp.c_str());
    return e;
  };
  if (!written) return fail(written.error());
  if (sync_err != 0) return fail(io_error("cannot fsync", tmp, sync_err));
  if (::rename(tmp.c_str(), final_path.c_str()) != 0)
    return fail(io_error("cannot rename a temp file to", final_path, errno));
  return sync_dir(dir);
}

}  // namespace

std::string context_manifest::json() const {
  json::writer w;
  w.begin_object().field("id", id).field("digest", digest).field("files", files);
  w.field("bytes", bytes).key("entries").begin_array();
  for (auto& e : entries) {
    w.begin_object().field("path", e.path).field("type", type_word(e.type));
    w.field("size", e.size).field("mode", e.mode);
    if (e.type == 'l' || e.type == 'h') w.field("link_target", e.link_target);
    w.end_object();
  }
  w.end_array();
  for (auto* list : {&warnings, &unsupported}) {
    w.key(list == &warnings ? "warnings" : "unsupported").begin_array();
    for (auto& p : *list)
      w.begin_object().field("path", p.path).field("reason", p.reason).end_object();
    w.end_array();
  }
  w.end_object();
  return std::move(w).str();
}

result<context_manifest> inspect_context_tar(std::string_view tar, const context_limits& limits) {
  auto r = inspect(tar, limits);
  if (!r) return r.error();
  return std::move(r->manifest);
}

result<context_manifest> store_context_tar(std::string_view tar, const std::string& contexts_dir,
                                           const context_limits& limits) {
  auto r = inspect(tar, limits);
  if (!r) return r.error();
  if (auto& bad = r->first_escape)
    return make_error(errc::invalid_argument,
                      "the build context entry \"" + bad->path + "\" is refused: " + bad->reason,
                      "body");
  std::error_code ec;
  fs::create_directories(contexts_dir, ec);
  if (ec) return io_error("cannot create", contexts_dir, ec.value());
  auto& m = r->manifest;
  auto hex = m.digest.substr(std::string_view("sha256:").size());
  // The tar first: a manifest on disk promises that its archive is there too.
  if (auto w = write_once(contexts_dir, hex + ".tar", tar); !w) return w.error();
  if (auto w = write_once(contexts_dir, hex + ".json", m.json()); !w) return w.error();
  return std::move(m);
}

}  // namespace nullspace::runtime

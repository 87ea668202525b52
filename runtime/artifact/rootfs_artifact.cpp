#include "runtime/artifact/rootfs_artifact.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "runtime/process/command.hpp"
#include "runtime/sandbox/overlay.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/sha256.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

constexpr uint64_t block = 4096;
constexpr uint64_t mib = 1 << 20;

struct tree_usage {
  uint64_t blocks = 0;  // 4 KiB data blocks the files need
  uint64_t inodes = 0;
};

// What copying `dir` into ext4 takes: every file's data rounded up to blocks,
// one block per directory and per long symlink, one inode per entry.
tree_usage measure(const std::string& dir) {
  tree_usage u;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    ++u.inodes;
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) continue;
    if (S_ISREG(st.st_mode))
      u.blocks += (static_cast<uint64_t>(st.st_size) + block - 1) / block;
    else if (S_ISDIR(st.st_mode) || (S_ISLNK(st.st_mode) && st.st_size >= 60))
      ++u.blocks;
  }
  return u;
}

// The image size the files need: data, inode tables (256 B each, with room
// for more inodes), a journal and group metadata.
uint64_t needed_bytes(const tree_usage& u) {
  return u.blocks * block * 105 / 100 + (u.inodes + 1024) * 512 + 48 * mib;
}

std::optional<artifact_info> read_existing(const std::string& dir, const std::string& id) {
  auto text = read_text_file(dir + "/artifact.json");
  if (text.empty() || !fs::exists(dir + "/rootfs.ext4")) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::padded_string json(text);
  simdjson::dom::object o;
  if (parser.parse(json).get(o) != simdjson::SUCCESS) return std::nullopt;
  artifact_info a;
  a.id = id;
  a.dir = dir;
  a.digest = storage::jr::str(o, "digest");
  a.image_bytes = storage::jr::u64(o, "image_bytes");
  a.used_bytes = storage::jr::u64(o, "used_bytes");
  a.disk_mb = static_cast<uint32_t>(storage::jr::u64(o, "disk_mb"));
  a.reused = true;
  if (!a.digest.starts_with("sha256:")) return std::nullopt;
  return a;
}

// Makes the image and its files in `tmp` from the tree at `root`.
result<artifact_info> make_in(const artifact_spec& spec, const std::string& root,
                              const std::string& tmp) {
  auto usage = measure(root);
  uint64_t needed = needed_bytes(usage);
  uint64_t size = 0;
  if (spec.disk_mb) {
    size = uint64_t{spec.disk_mb} * mib;
    if (size < needed)
      return make_error(errc::failed_precondition,
                        "disk_mb " + std::to_string(spec.disk_mb) +
                            " is too small: the root filesystem needs about " +
                            std::to_string((needed + mib - 1) / mib) + " MB");
  } else {
    // Headroom for what machines write: a fifth of the files, at least 64 MB.
    size = needed + std::max<uint64_t>(64 * mib, needed / 5);
    size = (size + 4 * mib - 1) / (4 * mib) * (4 * mib);
  }
  artifact_info a;
  a.id = spec.id;
  a.used_bytes = usage.blocks * block;
  a.disk_mb = static_cast<uint32_t>(size / mib);
  a.image_bytes = size;
  auto image = tmp + "/rootfs.ext4";
  {
    int fd = ::open(image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
      if (fd >= 0) ::close(fd);
      return make_error(errc::internal, "cannot create " + image);
    }
    ::close(fd);
  }
  std::string mkfs;
  for (auto p : {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"})
    if (::access(p, X_OK) == 0) mkfs = p;
  if (mkfs.empty())
    return make_error(errc::unavailable,
                      "making the rootfs image needs mkfs.ext4 (apt-get install e2fsprogs)");
  // -m 0: a machine's root needs no blocks reserved for root; -N: inodes for
  // every file with room to grow.
  auto inodes = std::to_string(usage.inodes + usage.inodes / 4 + 4096);
  auto r = run_command({mkfs, "-q", "-F", "-b", "4096", "-m", "0", "-N", inodes, "-L", "rootfs",
                        "-E", "root_owner=0:0", "-d", root, image});
  if (!r) return r.error();
  if (r->exit_status != 0) {
    std::string last;
    for (auto& l : last_lines(r->output, 4)) last += "\n  " + l;
    return make_error(errc::internal,
                      "mkfs.ext4 failed (exit " + std::to_string(r->exit_status) + "):" + last);
  }
  auto digest = rootfs_digest(image);
  if (!digest) return digest.error();
  a.digest = digest.value();
  if (!write_text_file(tmp + "/config.json", spec.config_json))
    return make_error(errc::internal, "cannot write the template config");
  json::writer w;
  w.begin_object()
      .field("format", "ext4")
      .field("digest", a.digest)
      .field("image_bytes", a.image_bytes)
      .field("used_bytes", a.used_bytes)
      .field("disk_mb", a.disk_mb);
  // The layer stack it was made of: a build FROM this template starts on it.
  w.key("layers").begin_array();
  for (auto& l : spec.layers) w.value(l);
  w.end_array();
  w.end_object();
  if (!write_text_file(tmp + "/artifact.json", w.str()))
    return make_error(errc::internal, "cannot write the artifact record");
  return a;
}

}  // namespace

result<std::string> rootfs_digest(const std::string& image_path) {
  int fd = ::open(image_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return make_error(errc::internal, "cannot read " + image_path);
  struct stat st {};
  ::fstat(fd, &st);
  sha256 h;
  h.update_field("ext4-sparse-v1").update_field(std::to_string(st.st_size));
  std::vector<char> buf(1 << 20);
  off_t pos = 0;
  bool ok = true;
  while (ok && pos < st.st_size) {
    off_t data = ::lseek(fd, pos, SEEK_DATA);
    if (data < 0) break;  // ENXIO: only a hole is left
    off_t hole = ::lseek(fd, data, SEEK_HOLE);
    if (hole < 0) hole = st.st_size;
    h.update_field(std::to_string(data) + "+" + std::to_string(hole - data));
    for (off_t at = data; at < hole;) {
      auto want = static_cast<size_t>(std::min<off_t>(hole - at, static_cast<off_t>(buf.size())));
      auto n = ::pread(fd, buf.data(), want, at);
      if (n <= 0) {
        ok = false;
        break;
      }
      h.update(std::string_view(buf.data(), static_cast<size_t>(n)));
      at += n;
    }
    pos = hole;
  }
  ::close(fd);
  if (!ok) return make_error(errc::internal, "cannot read " + image_path);
  return "sha256:" + h.hex_digest();
}

result<artifact_info> make_rootfs_artifact(const artifact_spec& spec) {
  auto dir = spec.artifacts_dir + "/" + spec.id;
  if (auto existing = read_existing(dir, spec.id)) return *existing;
  if (spec.layers.empty()) return make_error(errc::internal, "an artifact needs a layer");
  std::error_code ec;
  fs::create_directories(spec.artifacts_dir, ec);
  auto tmp = spec.artifacts_dir + "/.tmp-" + spec.id + "-" + std::to_string(::getpid()) + "-" +
             std::to_string(reinterpret_cast<uintptr_t>(&spec));
  remove_tree(tmp);
  fs::create_directories(tmp, ec);
  // One layer is the tree itself; several are merged by a read-only overlay.
  std::string root = spec.layers.front();
  bool mounted = spec.layers.size() > 1;
  if (mounted) {
    fs::create_directories(spec.mount_dir, ec);
    auto m = mount_overlay(spec.layers, "", "", spec.mount_dir);
    if (!m) {
      remove_tree(tmp);
      return m.error();
    }
    root = spec.mount_dir;
  }
  auto made = make_in(spec, root, tmp);
  if (mounted) unmount_quietly(spec.mount_dir);
  if (!made) {
    remove_tree(tmp);
    return made.error();
  }
  fs::rename(tmp, dir, ec);
  if (ec) {
    remove_tree(tmp);  // another build made the same artifact first: use theirs
    if (auto existing = read_existing(dir, spec.id)) return *existing;
    return make_error(errc::internal, "cannot store the artifact: " + ec.message());
  }
  made->dir = dir;
  return made;
}

}  // namespace nullspace::runtime

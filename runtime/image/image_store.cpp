#include "runtime/image/image_store.hpp"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <sstream>

#include "runtime/image/debian_images.hpp"
#include "runtime/image/image_pull.hpp"
#include "runtime/process/command.hpp"
#include "runtime/sandbox/overlay.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/sha256.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

// Bumped whenever the layout of a made image changes, so that digests (and with
// them every cache key built on top) change too.
constexpr const char* busybox_layout = "busybox-layout-1";
constexpr const char* debian_layout = "debian-layout-1";

std::string strip_registry(std::string ref) {
  for (std::string_view p : {"docker.io/library/", "docker.io/", "library/"})
    if (ref.starts_with(p)) return ref.substr(p.size());
  return ref;
}

// A catalog name as a file name: "python:3.11" -> "python-3.11".
std::string file_name(std::string name) {
  for (auto& c : name)
    if (c == ':' || c == '/') c = '-';
  return name;
}

// An exclusive flock on a file, held until destroyed. flock locks belong to
// the open file, so two builds of one process exclude each other as builds of
// two processes do.
class file_lock {
 public:
  file_lock() = default;
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  ~file_lock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  // Takes the lock, polling while another holder has it so that `job` can
  // cancel the wait; `on_wait` runs once if we have to wait.
  result<bool> acquire(const std::string& path, image_job& job,
                       const std::function<void()>& on_wait) {
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return make_error(errc::internal, "cannot open " + path);
    bool waited = false;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK && errno != EINTR)
        return make_error(errc::internal, "cannot lock " + path);
      if (!waited) on_wait();
      waited = true;
      if (!job.pause(std::chrono::milliseconds(200)))
        return make_error(errc::unavailable, "cancelled");
    }
    return true;
  }

 private:
  int fd_ = -1;
};

}  // namespace

image_store::image_store(std::string dir, process_runner& runner, std::string debian_mirror)
    : dir_(std::move(dir)), runner_(runner), mirror_(std::move(debian_mirror)) {}

std::vector<std::string> image_store::catalog() {
  std::vector<std::string> names{"busybox"};
  for (auto& r : debian_recipes()) names.push_back(r.name);
  return names;
}

std::string catalog_name(const build_source& source) {
  switch (source.type) {
    case source_type::python_image:
      // "3" follows the catalog's python 3, as python:3 follows the newest.
      return source.version == "3" ? "python:3.11" : "python:" + source.version;
    case source_type::image: {
      auto ref = strip_registry(source.image);
      if (ref == "busybox" || ref == "busybox:latest") return "busybox";
      for (auto alias :
           {"debian", "debian:12", "debian:bookworm", "debian:12-slim", "debian:bookworm-slim"})
        if (ref == alias) return "debian:bookworm";
      for (auto alias : {"python:3", "python:3.11", "python:3.11-slim", "python:3.11-bookworm",
                         "python:3.11-slim-bookworm", "python:3-slim"})
        if (ref == alias) return "python:3.11";
      if (ref.starts_with("python:") || ref.starts_with("debian:")) return ref;
      return {};
    }
    default:
      return {};
  }
}

namespace {

// "busybox, debian:bookworm and python:3.11"
std::string catalog_list() {
  std::string have;
  auto names = image_store::catalog();
  for (size_t i = 0; i < names.size(); ++i)
    have += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return have;
}

}  // namespace

result<base_image> image_store::resolve(const build_source& source, image_job* job) {
  auto name = catalog_name(source);
  if (source.type == source_type::image) {
    auto ref = parse_image_ref(source.image);
    if (!ref) return ref.error();
    // Docker Hub names the catalog makes are made here; everything else is pulled.
    bool in_catalog =
        ref->registry == docker_hub && (name == "busybox" || find_debian_recipe(name));
    if (!in_catalog) return pull(*ref, source, job);
  }
  if (name == "busybox") return busybox();
  if (find_debian_recipe(name)) return make(name, job);
  // python_image sources come from the catalog only: a pull of the official
  // python image is an `image` source.
  bool python = source.type == source_type::python_image;
  std::string what = python ? "python_image " + source.version : to_string(source.type);
  return make_error(errc::invalid_argument,
                    what + " cannot be made on this machine: the local catalog has " +
                        catalog_list() +
                        (python ? " (an image source \"python:" + source.version +
                                      "\" would be pulled from Docker Hub instead)"
                                : ""),
                    "builder.source");
}

result<base_image> image_store::pull(const image_ref& ref, const build_source& source,
                                     image_job* job) {
  image_job own;
  auto img = pull_image(ref, source.auth, source.image, dir_, job ? *job : own);
  // A Docker Hub name the catalog does not have: say both.
  if (!img && ref.registry == docker_hub && img.error().message != "cancelled") {
    auto e = img.error();
    e.message = "image " + source.image + " is not in the local catalog (" + catalog_list() +
                ") and pulling it failed: " + e.message;
    return e;
  }
  return img;
}

result<base_image> image_store::make(const std::string& name, image_job* job) {
  if (name == "busybox") return busybox();
  if (!find_debian_recipe(name))
    return make_error(errc::invalid_argument, "'" + name + "' is not in the local catalog");
  if (job) return debian(name, *job);
  image_job own;
  return debian(name, own);
}

std::optional<base_image> image_store::read_catalog(const std::string& name) const {
  auto text = read_text_file(dir_ + "/catalog/" + file_name(name) + ".json");
  if (text.empty()) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::padded_string json(text);
  simdjson::dom::object o;
  if (parser.parse(json).get(o) != simdjson::SUCCESS) return std::nullopt;
  base_image img{storage::jr::str(o, "name"),
                 storage::jr::str(o, "digest"),
                 {},
                 storage::jr::strings(o, "env")};
  for (auto& l : storage::jr::strings(o, "layers")) {
    // Stored relative to the store, so the directory can move.
    if (l.empty() || l.find('/') != std::string::npos || !fs::is_directory(dir_ + "/layers/" + l))
      return std::nullopt;
    img.layers.push_back(dir_ + "/layers/" + l);
  }
  if (img.name != name || !img.digest.starts_with("sha256:") || img.layers.empty())
    return std::nullopt;
  return img;
}

result<base_image> image_store::debian(const std::string& name, image_job& job) {
  {
    std::lock_guard lock(mu_);
    if (auto it = made_.find(name);
        it != made_.end() && fs::is_directory(it->second.layers.front()))
      return it->second;
  }
  auto remember = [&](base_image img) {
    std::lock_guard lock(mu_);
    made_[name] = img;
    return img;
  };
  if (auto img = read_catalog(name)) return remember(std::move(*img));

  std::error_code ec;
  for (auto sub : {"/locks", "/catalog", "/layers", "/debs"})
    fs::create_directories(dir_ + sub, ec);
  file_lock lock;
  auto held = lock.acquire(dir_ + "/locks/" + file_name(name) + ".lock", job, [&] {
    job.progress("waiting for another build that is making " + name);
  });
  if (!held) return held.error();
  if (auto img = read_catalog(name)) return remember(std::move(*img));  // made while we waited

  const auto& recipe = *find_debian_recipe(name);
  auto stem = file_name(name);
  // Half-made layers of this image are from a maker that died: we hold its lock.
  for (auto& e : fs::directory_iterator(dir_ + "/layers", ec))
    if (e.path().filename().string().starts_with(".tmp-" + stem + "-")) remove_tree(e.path());
  auto tmp = dir_ + "/layers/.tmp-" + stem + "-" + std::to_string(::getpid());
  job.progress("making " + name + " with debootstrap from " + mirror_ +
               " (once: later builds reuse it)");
  auto made = debootstrap_rootfs(recipe, tmp, {mirror_, dir_ + "/debs"}, runner_, job);
  if (!made) {
    remove_tree(tmp);
    return made.error();
  }
  sha256 h;
  h.update_field(debian_layout).update_field(recipe.describe());
  h.update_field(read_text_file(tmp + "/var/lib/dpkg/status"));
  auto hex = h.hex_digest();
  auto layer_id = stem + "-" + hex.substr(0, 16);
  auto layer = dir_ + "/layers/" + layer_id;
  if (fs::is_directory(layer))
    remove_tree(tmp);  // the same packages were made before (the catalog entry was lost)
  else if (fs::rename(tmp, layer, ec); ec) {
    remove_tree(tmp);
    return make_error(errc::internal, "cannot store the " + name + " layer: " + ec.message());
  }
  base_image img{name, "sha256:" + hex, {layer}, {default_path_env}};
  img.env.insert(img.env.end(), recipe.env.begin(), recipe.env.end());

  json::writer w;
  w.begin_object().field("name", name).field("digest", img.digest);
  w.key("layers").begin_array().value(layer_id).end_array();
  w.key("env").begin_array();
  for (auto& e : img.env) w.value(e);
  w.end_array().end_object();
  auto entry = dir_ + "/catalog/" + stem + ".json";
  write_text_file(entry + ".tmp", w.str());
  fs::rename(entry + ".tmp", entry, ec);
  if (ec) return make_error(errc::internal, "cannot record " + name + ": " + ec.message());
  job.progress("made " + name + " " + img.digest + " (" + std::to_string(tree_bytes(layer) >> 20) +
               " MB)");
  return remember(std::move(img));
}

result<base_image> image_store::busybox() {
  const std::string bin = "/bin/busybox";
  struct stat st {};
  if (::stat(bin.c_str(), &st) != 0)
    return make_error(errc::unavailable,
                      "the busybox image needs Debian's busybox-static (/bin/busybox)");
  int64_t mtime_ns = int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec;
  std::lock_guard lock(mu_);
  if (busybox_ && busybox_size_ == st.st_size && busybox_mtime_ns_ == mtime_ns &&
      std::filesystem::is_directory(busybox_->layers.front()))
    return *busybox_;
  auto img = make_busybox(bin);
  if (img) {
    busybox_ = img.value();
    busybox_size_ = st.st_size;
    busybox_mtime_ns_ = mtime_ns;
  }
  return img;
}

result<base_image> image_store::make_busybox(const std::string& bin) {
  auto bytes = read_text_file(bin);
  if (bytes.empty())
    return make_error(errc::unavailable,
                      "the busybox image needs Debian's busybox-static (/bin/busybox)");
  sha256 h;
  h.update_field(busybox_layout).update_field(bytes);
  auto hex = h.hex_digest();
  base_image img{"busybox", "sha256:" + hex, {}, {default_path_env}};
  auto layer = dir_ + "/layers/busybox-" + hex.substr(0, 16);
  img.layers.push_back(layer);
  if (fs::is_directory(layer)) return img;

  std::error_code ec;
  fs::create_directories(dir_ + "/layers", ec);
  auto tmp = layer + ".tmp-" + std::to_string(::getpid()) + "-" +
             std::to_string(reinterpret_cast<uintptr_t>(&img));
  fs::remove_all(tmp, ec);
  for (auto d : {"bin", "sbin", "usr/bin", "usr/sbin", "etc", "root", "tmp", "home", "proc", "sys",
                 "dev", "run", "var/tmp"})
    fs::create_directories(tmp + "/" + d, ec);
  fs::permissions(tmp + "/tmp", fs::perms::all | fs::perms::sticky_bit, ec);
  fs::copy_file(bin, tmp + "/bin/busybox", ec);
  if (ec) return make_error(errc::internal, "cannot copy busybox: " + ec.message());
  fs::permissions(tmp + "/bin/busybox", fs::perms(0755), ec);
  auto list = run_command({bin, "--list-full"});
  if (!list || list->exit_status != 0)
    return make_error(errc::internal, "busybox --list-full failed");
  std::istringstream applets(list->output);
  std::string path;
  while (std::getline(applets, path)) {
    if (path.empty() || path == "bin/busybox") continue;
    std::string target;  // relative, so the link works wherever the rootfs is mounted
    for (auto slashes = std::count(path.begin(), path.end(), '/'); slashes > 0; --slashes)
      target += "../";
    target += "bin/busybox";
    fs::create_symlink(target, tmp + "/" + path, ec);
    ec.clear();
  }
  write_text_file(
      tmp + "/etc/passwd",
      "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  write_text_file(tmp + "/etc/group", "root:x:0:\nnogroup:x:65534:\n");
  write_text_file(tmp + "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
  write_text_file(tmp + "/etc/resolv.conf", "");
  fs::rename(tmp, layer, ec);
  if (ec) {
    // Another build made it first: use theirs.
    fs::remove_all(tmp, ec);
    if (!fs::is_directory(layer))
      return make_error(errc::internal, "cannot store the busybox layer");
  }
  return img;
}

}  // namespace nullspace::runtime

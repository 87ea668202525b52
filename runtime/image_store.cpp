#include "runtime/image_store.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "runtime/command.hpp"
#include "runtime/process_runner.hpp"
#include "runtime/sha256.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

// Bumped whenever the layout of a made image changes, so that digests (and with
// them every cache key built on top) change too.
constexpr const char* busybox_layout = "busybox-layout-1";

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_all(const std::string& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string strip_registry(std::string ref) {
  for (std::string_view p : {"docker.io/library/", "docker.io/", "library/"})
    if (ref.starts_with(p)) return ref.substr(p.size());
  return ref;
}

}  // namespace

std::string catalog_name(const build_source& source) {
  switch (source.type) {
    case source_type::python_image:
      return "python:" + source.version;
    case source_type::image: {
      auto ref = strip_registry(source.image);
      if (ref == "busybox" || ref == "busybox:latest") return "busybox";
      if (ref == "debian:bookworm" || ref == "debian:12" || ref == "debian")
        return "debian:bookworm";
      if (ref.starts_with("python:")) return ref;
      return {};
    }
    default:
      return {};
  }
}

result<base_image> image_store::resolve(const build_source& source) {
  auto name = catalog_name(source);
  if (name == "busybox") return busybox();
  std::string what = source.type == source_type::python_image ? "python_image " + source.version
                     : source.type == source_type::image      ? "image " + source.image
                                                              : to_string(source.type);
  return make_error(errc::invalid_argument,
                    what +
                        " cannot be made on this machine: the local catalog has busybox; "
                        "registry pulls and debootstrap images are not available yet",
                    "builder.source");
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
  auto bytes = read_all(bin);
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
  write_all(tmp + "/etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
  write_all(tmp + "/etc/group", "root:x:0:\nnogroup:x:65534:\n");
  write_all(tmp + "/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n");
  write_all(tmp + "/etc/resolv.conf", "");
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

#include "runtime/image/debian_images.hpp"

#include <unistd.h>

#include <deque>
#include <filesystem>

#include "storage/common/file_text.hpp"

namespace nullspace::runtime {
namespace fs = std::filesystem;

namespace {

std::string joined(const std::vector<std::string>& v, char sep) {
  std::string out;
  for (auto& s : v) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

// What debootstrap leaves that an image should not carry: the downloaded
// packages and index files (apt_install steps fetch fresh ones), and the build
// host's resolver and host name (a sandbox binds its own resolv.conf).
void trim_rootfs(const debian_recipe& recipe, const std::string& dir) {
  std::error_code ec;
  for (auto sub : {"/var/cache/apt/archives", "/var/lib/apt/lists"})
    for (auto& e : fs::directory_iterator(dir + sub, ec))
      if (e.is_regular_file(ec)) fs::remove(e.path(), ec);
  fs::remove(dir + "/var/cache/apt/pkgcache.bin", ec);
  fs::remove(dir + "/var/cache/apt/srcpkgcache.bin", ec);
  for (auto& p : recipe.remove) fs::remove_all(dir + "/" + p, ec);
  write_text_file(dir + "/etc/resolv.conf", "");
  write_text_file(dir + "/etc/hostname", "nullspace\n");
  write_text_file(dir + "/etc/hosts", "127.0.0.1 localhost\n::1 localhost ip6-localhost\n");
  for (auto f : {"/etc/resolv.conf", "/etc/hostname", "/etc/hosts"})
    fs::permissions(dir + f, fs::perms(0644), ec);
}

}  // namespace

std::string debian_recipe::describe() const {
  return "debootstrap minbase " + suite + " include=" + joined(packages, ',') +
         " env=" + joined(env, ' ') + " remove=" + joined(remove, ' ');
}

const std::vector<debian_recipe>& debian_recipes() {
  static const std::vector<debian_recipe> recipes{
      {"debian:bookworm", "bookworm", {}, {"LANG=C.UTF-8"}, {}},
      {"python:3.11",
       "bookworm",
       {"python3", "python3-pip", "python3-venv", "python-is-python3", "ca-certificates"},
       {"LANG=C.UTF-8"},
       // Debian marks its Python as externally managed; a template's pip
       // installs are the point of the image (as in the official python image).
       {"usr/lib/python3.11/EXTERNALLY-MANAGED"}},
  };
  return recipes;
}

const debian_recipe* find_debian_recipe(const std::string& name) {
  for (auto& r : debian_recipes())
    if (r.name == name) return &r;
  return nullptr;
}

result<bool> debootstrap_rootfs(const debian_recipe& recipe, const std::string& dir,
                                const debootstrap_options& opts, process_runner& runner,
                                image_job& job) {
  std::string tool;
  for (auto p : {"/usr/sbin/debootstrap", "/sbin/debootstrap", "/usr/bin/debootstrap"})
    if (::access(p, X_OK) == 0) tool = p;
  if (tool.empty())
    return make_error(errc::unavailable, "making " + recipe.name +
                                             " needs debootstrap, which is not installed "
                                             "(apt-get install debootstrap)");
  std::error_code ec;
  fs::create_directories(opts.cache_dir, ec);
  process_spec spec;
  spec.argv = {tool, "--variant=minbase", "--cache-dir=" + fs::absolute(opts.cache_dir).string()};
  if (!recipe.packages.empty()) spec.argv.push_back("--include=" + joined(recipe.packages, ','));
  spec.argv.insert(spec.argv.end(), {recipe.suite, dir, opts.mirror});
  spec.env = {default_path_env, "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive", "HOME=/root"};

  // Every line goes to the log as progress; the last few also into the error.
  std::deque<std::string> tail;  // touched only on the runner thread until run() returns
  auto ex = job.run(runner, std::move(spec), [&tail](const std::vector<std::string>& lines) {
    for (auto& l : lines) {
      tail.push_back(l);
      if (tail.size() > 8) tail.pop_front();
    }
  });
  if (ex.killed || job.cancelled()) return make_error(errc::unavailable, "cancelled");
  if (!ex.spawn_error.empty())
    return make_error(errc::unavailable, "cannot start debootstrap: " + ex.spawn_error);
  if (ex.term_signal != 0 || ex.exit_status != 0) {
    std::string last;
    for (auto& l : tail) last += "\n  " + l;
    return make_error(errc::unavailable,
                      "debootstrap of " + recipe.name + " from " + opts.mirror + " failed" +
                          (ex.term_signal ? " (signal " + std::to_string(ex.term_signal) + ")"
                                          : " (exit " + std::to_string(ex.exit_status) + ")") +
                          (last.empty() ? "" : ":" + last));
  }
  trim_rootfs(recipe, dir);
  return true;
}

}  // namespace nullspace::runtime

// nullspace: the command-line client. Today it has the commands that work on
// this machine's files directly; the HTTP commands (template build, logs, …)
// come with the template registry.
//
//   nullspace image list                 the images the local catalog can make
//   nullspace image bootstrap [NAME…]    make catalog images ahead of the first build
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "runtime/image_job.hpp"
#include "runtime/image_store.hpp"
#include "runtime/process_runner.hpp"

namespace {

constexpr int exit_build_error = 1;
constexpr int exit_usage = 2;

int bootstrap(const std::string& images_dir, const std::string& mirror,
              std::vector<std::string> names) {
  if (names.empty()) names = {"python:3.11"};
  for (auto& n : names) {
    bool known = false;
    for (auto& c : nullspace::runtime::image_store::catalog()) known = known || c == n;
    if (!known) {
      std::cerr << "nullspace: '" << n
                << "' is not in the local catalog (see: nullspace image list)\n";
      return exit_usage;
    }
  }
  if (::geteuid() != 0) {
    std::cerr << "nullspace: making images needs root (debootstrap mounts and chroots)\n";
    return exit_usage;
  }
  nullspace::runtime::process_runner runner;
  nullspace::runtime::image_store store(images_dir, runner, mirror);
  for (auto& n : names) {
    nullspace::runtime::image_job job([](std::vector<std::string> lines) {
      for (auto& l : lines) std::cout << "  " << l << "\n";
      std::cout.flush();
    });
    std::cout << n << ":\n";
    auto img = store.make(n, &job);
    if (!img) {
      std::cerr << "nullspace: " << n << ": " << img.error().message << "\n";
      return exit_build_error;
    }
    std::cout << n << " " << img->digest << " " << img->layers.front() << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"nullspace: build and run sandbox templates"};
  app.require_subcommand(1);
  auto* image = app.add_subcommand("image", "base images of the local catalog");
  image->require_subcommand(1);

  std::string images_dir = "./data/images";
  std::string mirror = nullspace::runtime::default_debian_mirror;
  std::vector<std::string> names;
  auto* boot = image->add_subcommand(
      "bootstrap", "make catalog images now, so that no build waits for them (needs root)");
  boot->add_option("names", names, "catalog names (default: python:3.11)");
  boot->add_option("--images-dir", images_dir, "the server's images dir (DATA_DIR/images)")
      ->envname("NULLSPACE_IMAGES_DIR")
      ->capture_default_str();
  boot->add_option("--debian-mirror", mirror, "where debootstrap downloads from")
      ->envname("NULLSPACE_DEBIAN_MIRROR")
      ->capture_default_str();
  auto* list = image->add_subcommand("list", "the images the local catalog can make");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : exit_usage;
  }
  if (*boot) return bootstrap(images_dir, mirror, names);
  if (*list) {
    for (auto& n : nullspace::runtime::image_store::catalog()) std::cout << n << "\n";
    return 0;
  }
  return exit_usage;
}

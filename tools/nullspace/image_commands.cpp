// nullspace image list|bootstrap: the images the local catalog can make,
// made ahead of the first build that needs them (root, on the server's host).
#include <unistd.h>

#include <iostream>
#include <memory>

#include "storage/common/absolute_path.hpp"
#include "runtime/image/image_job.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/process/process_runner.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

int bootstrap(const std::string& images_dir, const std::string& mirror,
              std::vector<std::string> names) {
  if (names.empty()) names = {"python:3.11"};
  for (auto& n : names) {
    bool known = false;
    for (auto& c : runtime::image_store::catalog()) known = known || c == n;
    if (!known)
      throw usage_error("'" + n + "' is not in the local catalog (see: nullspace image list)");
  }
  if (::geteuid() != 0)
    throw usage_error("making images needs root (debootstrap mounts and chroots)");
  runtime::process_runner runner;
  // Absolute once, like nullspaced's: debootstrap and the catalog's records
  // must not depend on the directory they happen to run in.
  runtime::image_store store(nullspace::absolute_path(images_dir), runner, mirror);
  auto& term = terminal::get();
  for (auto& n : names) {
    runtime::image_job job([&term](std::vector<std::string> lines) {
      for (auto& l : lines) term.out_line("  " + l);
    });
    term.out_line(n + ":");
    auto img = store.make(n, &job);
    if (!img) throw cli_error(exit_failed, n + ": " + img.error().message);
    term.out_line(n + " " + img->digest + " " + img->layers.front());
  }
  return exit_ok;
}

struct image_flags {
  std::string images_dir = "./data/images";
  std::string mirror = runtime::default_debian_mirror;
  std::vector<std::string> names;
};

}  // namespace

void add_image_commands(CLI::App& app, app_context& ctx) {
  auto* image = app.add_subcommand("image", "Base images of this machine's local catalog");
  image->require_subcommand(1);
  auto f = std::make_shared<image_flags>();

  auto* boot = image->add_subcommand(
      "bootstrap", "Make catalog images now, so that no build waits for them (needs root)");
  boot->add_option("NAME", f->names, "Catalog names (default: python:3.11)");
  boot->add_option("--images-dir", f->images_dir, "The server's images dir (DATA_DIR/images)")
      ->envname("NULLSPACE_IMAGES_DIR")
      ->capture_default_str();
  boot->add_option("--debian-mirror", f->mirror, "Where debootstrap downloads from")
      ->envname("NULLSPACE_DEBIAN_MIRROR")
      ->capture_default_str();
  boot->footer("Example:\n  sudo nullspace image bootstrap --images-dir ./data/images python:3.11");
  boot->callback(
      [&ctx, f] { ctx.action = [f] { return bootstrap(f->images_dir, f->mirror, f->names); }; });

  auto* list = image->add_subcommand("list", "List the images the local catalog can make");
  list->callback([&ctx] {
    ctx.action = [] {
      for (auto& n : runtime::image_store::catalog()) terminal::get().out_line(n);
      return exit_ok;
    };
  });
}

}  // namespace nullspace::cli

// The catalog images made with debootstrap from Debian's mirror: what each one
// contains (its recipe) and how its root filesystem is made.
#pragma once

#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/image/image_job.hpp"
#include "runtime/process/process_runner.hpp"

namespace nullspace::runtime {

struct debian_recipe {
  std::string name;  // catalog name: "debian:bookworm", "python:3.11"
  std::string suite;
  std::vector<std::string> packages;  // beyond minbase
  std::vector<std::string> env;       // "K=V" of the image config (PATH is added)
  std::vector<std::string> remove;    // paths removed from the made rootfs
  // Everything above as one string: part of the image digest, so changing a
  // recipe changes every cache key built on it.
  std::string describe() const;
};

// The recipe of catalog image `name`, or nullptr.
const debian_recipe* find_debian_recipe(const std::string& name);
const std::vector<debian_recipe>& debian_recipes();

struct debootstrap_options {
  std::string mirror;     // e.g. http://deb.debian.org/debian
  std::string cache_dir;  // downloaded .debs, kept between makes
};

// Makes the root filesystem of `recipe` in `dir` (which must not exist yet),
// reporting progress through `job`. Needs root and debootstrap. On failure the
// error carries the last lines debootstrap printed; the caller removes `dir`.
result<bool> debootstrap_rootfs(const debian_recipe& recipe, const std::string& dir,
                                const debootstrap_options& opts, process_runner& runner,
                                image_job& job);

}  // namespace nullspace::runtime

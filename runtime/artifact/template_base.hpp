// The base of a build whose source is a template ({"type": "template", "ref":
// …}): the layer stack the template's artifact was made of, with the env,
// user and working dir of its template config, so the new build goes on where
// the template ended (as Docker's FROM does).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

struct template_base {
  std::string digest;               // the artifact's digest: names the content
  std::vector<std::string> layers;  // absolute dirs, top first
  std::vector<std::string> env;     // "K=V"
  std::string user = "root";
  uint32_t uid = 0, gid = 0;
  std::string workdir = "/";
  std::vector<std::string> onbuild;  // the template's ONBUILD instructions, to run first
};

// Reads <artifact_dir>/artifact.json and config.json. unavailable (saying so)
// when the artifact or one of its layers is no longer stored. Blocking.
result<template_base> read_template_base(const std::string& artifact_dir);

// The layer dirs <artifact_dir>/artifact.json lists (empty if unreadable).
std::vector<std::string> artifact_layer_dirs(const std::string& artifact_dir);

}  // namespace nullspace::runtime

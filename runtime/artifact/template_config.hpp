// What a machine started from a template needs besides its root filesystem:
// stored as config.json next to the artifact's image.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

struct template_config {
  std::vector<std::string> env;  // "K=V": the image's env and the env steps
  env_list runtime_envs;         // added when a machine starts (builder.runtime_envs)
  std::string user = "root";
  uint32_t uid = 0, gid = 0;
  std::string workdir = "/";
  std::string start_cmd;
  ready_check ready;
  uint32_t ready_timeout_ms = 0;
  env_list labels;                         // Dockerfile LABEL
  std::vector<std::string> exposed_ports;  // Dockerfile EXPOSE: "8000/tcp"
  std::vector<std::string> volumes;        // Dockerfile VOLUME (recorded; one root filesystem)
  std::string stop_signal;                 // Dockerfile STOPSIGNAL ("SIGINT"; "" = SIGTERM)
  std::vector<std::string> onbuild;        // Dockerfile ONBUILD instructions, as written

  // {"env": [...], "runtime_envs": {...}, "user", "uid", "gid", "workdir",
  //  "start_cmd", "ready": {"type", …} | null, "ready_timeout_ms", "labels": {...},
  //  "exposed_ports": [...]} and, when set, "volumes": [...], "stop_signal",
  //  "onbuild": [...]
  std::string json() const;
};

// Reads json() back (an artifact's config.json, for the machines started from
// it). invalid_argument naming what is wrong if it is not such an object;
// fields it lacks keep their defaults.
result<template_config> parse_template_config(std::string_view json);

}  // namespace nullspace::runtime

// The build plan: the normalized step list with a cache key per step.
// cache_key(step i) = sha256(cache_key(step i-1) || normalized step || content digests),
// where step -1 is the base (normalized source). A Dockerfile stage starts a chain
// of its own: FROM <image> from nothing, FROM <stage> from that stage's last key;
// COPY --from also hashes the last key of the stage it reads. Secret values never enter a key:
// only secret ids do, and registry passwords do not at all.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "runtime/request/build_request.hpp"

namespace nullspace::runtime {

struct plan_step {
  build_step step;  // what the executor runs
  size_t index = 0;
  std::string type;        // to_string(step_type)
  std::string summary;     // one line a human reads, e.g. "apt_install git curl"
  std::string normalized;  // canonical JSON of the step, the hashed form
  std::string cache_key;   // "sha256:<hex>"
};

// The ONBUILD triggers of the template a build starts from, as the :plan
// answer shows them (runtime/plan/onbuild.hpp): they run first, as the plan's
// first `steps`.
struct template_triggers {
  std::string template_ref;               // the request's ref
  std::string build_id;                   // the build it resolved to
  std::vector<std::string> instructions;  // as written in the template's Dockerfile
  size_t steps = 0;                       // how many of the plan's first steps they are
  std::string problem;  // why they could not be lowered (the build will fail so); "" if fine
};

struct build_plan {
  std::string backend;       // "native" | "buildkit"
  std::string base_summary;  // e.g. "python_image 3.11"
  std::string base_key;      // "sha256:<hex>" of the normalized source
  // A Dockerfile's steps (runtime/dockerfile/dockerfile.hpp) come first, then the request's.
  std::vector<plan_step> steps;
  std::string start_cmd;  // builder.start_cmd, else the Dockerfile's ENTRYPOINT + CMD
  env_list labels;        // Dockerfile LABELs
  std::vector<std::string> exposed_ports;  // Dockerfile EXPOSE, e.g. "8000/tcp"
  std::vector<std::string> volumes;        // Dockerfile VOLUME
  std::string stop_signal;                 // Dockerfile STOPSIGNAL
  std::vector<std::string> onbuild;        // Dockerfile ONBUILD
  // A template source's ONBUILD triggers (only in a :plan answer; the build
  // actor inserts them when it reads the template).
  std::optional<template_triggers> triggers;
  // builder.ready, else a Dockerfile HEALTHCHECK (when there is a start command),
  // with its deadline: ready_timeout_ms, or the HEALTHCHECK's.
  ready_check ready;
  uint32_t ready_timeout_ms = 0;
  uint32_t cpu_count = 0, memory_mb = 0, disk_mb = 0;
  bool internet_access = true;
};

build_plan make_plan(const build_request& req);

// Steps a build adds when it starts (the ONBUILD instructions of the template
// it builds on), planned as if they followed `parent_key`, numbered from
// `first_index`.
std::vector<plan_step> plan_more_steps(std::vector<build_step> steps, std::string parent_key,
                                       size_t first_index);

// {"backend","base":{summary,cache_key},"steps":[{index,type,summary,cache_key}],"resources":{…}}
// and, for a template with ONBUILD triggers,
// "onbuild_triggers":{template,build,instructions,steps[,problem]}
std::string plan_json(const build_plan& plan);

}  // namespace nullspace::runtime

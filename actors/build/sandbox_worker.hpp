// The blocking half of a sandboxed build: one detached actor (its own thread)
// per building build, so mounts, directory walks and image making never run on
// CAF's shared workers. The build actor asks; the worker does one thing at a
// time and answers. Container processes themselves run under process_runner.
#pragma once

#include <chrono>

#include <caf/all.hpp>

#include <memory>
#include <optional>
#include <string>

#include "nullspace/error.hpp"
#include "runtime/artifact/rootfs_artifact.hpp"
#include "runtime/artifact/template_base.hpp"
#include "runtime/image/image_store.hpp"
#include "runtime/sandbox/ready_probe.hpp"
#include "runtime/sandbox/step_sandbox.hpp"

namespace nullspace::actors {

using base_atom = caf::atom_constant<caf::atom("base")>;
using prepare_atom = caf::atom_constant<caf::atom("prepare")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using cleanup_atom = caf::atom_constant<caf::atom("cleanup")>;
using seal_atom = caf::atom_constant<caf::atom("seal")>;
using copy_atom = caf::atom_constant<caf::atom("copy")>;
using probe_atom = caf::atom_constant<caf::atom("probe")>;
using artifact_atom = caf::atom_constant<caf::atom("artifact")>;
using template_atom = caf::atom_constant<caf::atom("template")>;

// A worker's answer: its value, or the error that prevented it.
template <class T>
struct worker_reply {
  std::optional<error> err;
  T value;
  static worker_reply of(result<T> r) {
    if (!r) return {r.error(), {}};
    return {std::nullopt, std::move(r.value())};
  }
};

using base_reply = worker_reply<runtime::base_image>;
using prepare_reply = worker_reply<runtime::prepared_step>;
using commit_reply = worker_reply<runtime::step_outcome>;
using copy_reply = worker_reply<runtime::copy_outcome>;
using artifact_reply = worker_reply<runtime::artifact_info>;
using template_reply = worker_reply<runtime::template_base>;

struct base_request {
  runtime::build_source source;
  std::shared_ptr<runtime::image_job> job;  // the build keeps it too, to cancel
};

struct commit_request {
  std::string build_id;
  size_t step = 0;
  bool keep = false;  // the step succeeded: its upper dir becomes layer `layer_name`
  std::string layer_name;
  uint64_t memory_limit = 0;
};

struct copy_job {
  runtime::step_job step;  // build, step index and lowers; no container runs
  runtime::copy_request copy;
  std::string layer_name;
  bool from_stage = false;                // COPY --from=<stage>: read these layers,
  std::vector<std::string> stage_layers;  // not copy.tar_path
  // COPY <<EOF: the one file (name, content) it writes, not copy.tar_path.
  std::optional<std::pair<std::string, std::string>> inline_file;
  // ADD <url>: downloaded (and checked against `checksum`) as file copy.src.
  std::string url, checksum;
};

// One look at the ready check of a running start command.
struct probe_request {
  std::string container_id;
  runtime::ready_check check;
  runtime::sandbox_spec as;              // env, cwd and user a command check runs with
  std::chrono::milliseconds timeout{0};  // a command check's: then its process tree is killed
};

using sandbox_worker_actor =
    caf::typed_actor<caf::replies_to<base_atom, base_request>::with<base_reply>,
                     caf::replies_to<prepare_atom, runtime::step_job>::with<prepare_reply>,
                     caf::replies_to<commit_atom, commit_request>::with<commit_reply>,
                     caf::replies_to<copy_atom, copy_job>::with<copy_reply>,
                     caf::replies_to<probe_atom, probe_request>::with<runtime::probe_result>,
                     caf::replies_to<artifact_atom, runtime::artifact_spec>::with<artifact_reply>,
                     // the base of a build on a template: its artifact's dir
                     caf::replies_to<template_atom, std::string>::with<template_reply>,
                     // removes everything the build left (containers, mounts, secrets, cgroups)
                     caf::replies_to<cleanup_atom, std::string>::with<bool>,
                     // the same at the end of a build, after syncing the layers
                     // its steps committed: true if they are durable
                     caf::replies_to<seal_atom, std::string>::with<bool>>;

// Spawned detached; `images` and `sandbox` outlive it (the engine owns them).
sandbox_worker_actor spawn_sandbox_worker(caf::local_actor* parent, runtime::image_store* images,
                                          runtime::step_sandbox* sandbox);

}  // namespace nullspace::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::base_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::runtime::step_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::base_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::prepare_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::commit_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::commit_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::copy_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::copy_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::probe_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::runtime::probe_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::runtime::artifact_spec)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::artifact_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::template_reply)

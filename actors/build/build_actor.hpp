// build: one actor per live build. It owns the build's state machine, drives the
// executor step by step, and writes every transition together with the log entry
// recording it (through log_hub, in one WriteBatch). It becomes terminal exactly
// once, tells the manager, and quits.
//
// Two executors (engine_options::isolation_mode):
//  - sandbox: the base image, then each step in an OCI container over the
//    layers so far (through a sandbox_worker for the blocking half), then the
//    start command with its ready check and the ext4 artifact
//    (build_finalize.cpp);
//  - host (development): `run` steps as plain child processes in a per-build
//    work dir, `env` and `workdir` applied; other step kinds and start/ready
//    checks fail the build with "not supported by this executor yet".
#pragma once

#include <memory>

#include "actors/engine_context.hpp"
#include "actors/messages.hpp"
#include "runtime/plan/plan.hpp"

namespace nullspace::actors {

// The steps a build's record counts (cache.steps): its plan's, FROM steps excepted.
uint32_t counted_steps(const runtime::build_plan& plan);

// `rec` must be in status waiting or queued and already durable.
build_actor spawn_build(caf::local_actor* manager_self, std::shared_ptr<engine_context> ctx,
                        storage::build_record rec, runtime::build_request req,
                        build_manager_actor manager);

}  // namespace nullspace::actors

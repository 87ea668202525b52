// build: one actor per live build. It owns the build's state machine, drives the
// executor step by step, and writes every transition together with the log entry
// recording it (through log_hub, in one WriteBatch). It becomes terminal exactly
// once, tells the manager, and quits.
//
// Executor (until the sandbox engine lands): `run` steps are real child processes
// on the host (sh -c, cwd inside a per-build work dir, environment from `env`
// steps, secrets as files in a private memory-backed dir named by
// $NULLSPACE_SECRETS_DIR); `env` and `workdir` steps are applied; every other step
// kind, and start/ready checks, fail the build with "not supported by this executor yet".
#pragma once

#include <memory>

#include "actors/engine_context.hpp"
#include "actors/messages.hpp"

namespace nullspace::actors {

// `rec` must be in status waiting or queued and already durable.
build_actor spawn_build(caf::local_actor* manager_self, std::shared_ptr<engine_context> ctx,
                        storage::build_record rec, runtime::build_request req,
                        build_manager_actor manager);

}  // namespace nullspace::actors

// machine: one actor per live machine (DESIGN.md, "Actors and messages").
//
//   starting → ready ⇄ paused;  ready|paused → stopping → stopped;  any → failed
//
// It owns the machine's durable record and log: every state change is written
// with the log entry that records it, in one batch. Its blocking work (the
// driver: start, polls, probes, files, pause, stop) runs on the engine's
// blocking pool, one job of this machine at a time; commands run through the
// driver's exec and report back here. A machine that fails leaves nothing on
// the host. The actor ends (and tells its manager) once the machine is stopped
// or failed; when the engine shuts down it ends without stopping the machine,
// which the next start adopts.
#pragma once

#include <memory>

#include "actors/engine_context.hpp"
#include "actors/machine/machine_messages.hpp"

namespace nullspace::actors {

// A new machine: resolves nothing more (the facade did), writes its record,
// starts it. `created` is answered once the record is durable (wait = false)
// or once the machine is ready or failed (wait = true).
machine_actor spawn_machine(caf::local_actor* manager, std::shared_ptr<engine_context> ctx,
                            machine_create create,
                            caf::typed_response_promise<machine_reply> created);

// A machine of the store that was running when the engine last stopped: the
// driver takes it back, or it is failed as lost.
machine_actor adopt_machine(caf::local_actor* manager, std::shared_ptr<engine_context> ctx,
                            machine_record record);

}  // namespace nullspace::actors

// template_registry: the single writer of template families, tags, aliases,
// namespaces and of build records once they are terminal (their current tags
// and retention). Detached: it reads and writes RocksDB directly. Reads for the
// API go straight to the store (actors/registry/template_reads.hpp).
//
// - claim: a submit may build under ns/name (creates the template on first use).
// - terminal: a build's terminal append passes through here on its way to the
//   log_hub: its tags attach (ready only) and its retention starts in the same
//   WriteBatch as the entry. The registry waits for that commit before it takes
//   its next message, so every change sees the one before it.
// - registry_op: tags, promote, aliases, reserve, rename, visibility, delete.
// - sweep: retention (actors/registry/retention_sweep.hpp), also on a timer.
#pragma once

#include <memory>

#include "actors/engine_context.hpp"

namespace nullspace::actors {

template_registry_actor spawn_template_registry(caf::local_actor* parent,
                                                std::shared_ptr<engine_context> ctx);

}  // namespace nullspace::actors

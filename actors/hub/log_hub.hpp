// log_hub: the only writer of log entries.
//
// - Assigns dense per-build offsets (0,1,2,…), continuing from the store after a
//   restart; an offset is never reused, even when a batch fails (counters roll back).
//   Senders encode their entries (append_request::add); the hub only writes each
//   entry's offset into its stored JSON (number_entry), so its thread does not
//   spend itself on encoding.
// - Group commit: an append is committed at once when nothing else waits in the
//   mailbox; under load, every append queued before the flush joins its batch.
//   One WriteBatch per flush for all builds; each append is acknowledged only
//   after its batch is durable.
// - Fan-out: committed entries go to live followers, shared as one immutable
//   batch. A follower gets the stored backlog first, then live entries, with no
//   gap and no duplicate, then an `end` batch once the build is terminal.
//
// Spawn it detached: flushes block on RocksDB (and fsync with `sync`).
#pragma once

#include "actors/messages.hpp"

namespace nullspace::actors {

// Standalone (tests, tools).
log_hub_actor spawn_log_hub(caf::actor_system& sys, storage::store* db);
// As a linked child of a supervisor.
log_hub_actor spawn_log_hub(caf::local_actor* parent, storage::store* db);

}  // namespace nullspace::actors

// Typed message interfaces of the actor tree (DESIGN.md, "Actors and messages").
//
//   orchestrator ── log_hub          (detached: owns blocking RocksDB writes)
//                └─ build_manager ── build (one per live build, linked)
//
// Every payload type below is process-local (never sent across nodes), so they
// are whitelisted with CAF_ALLOW_UNSAFE_MESSAGE_TYPE instead of inspect().
#pragma once

#include <caf/all.hpp>

#include <array>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "nullspace/pool.hpp"
#include "nullspace/templates.hpp"
#include "runtime/process/process_runner.hpp"
#include "runtime/request/build_request.hpp"
#include "storage/build_record.hpp"
#include "storage/log_entry.hpp"
#include "storage/store.hpp"
#include "storage/unnumbered_entry.hpp"

namespace nullspace::actors {

// ---- atoms (CAF 0.17: at most 10 characters) ----
using append_atom = caf::atom_constant<caf::atom("append")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using follow_atom = caf::atom_constant<caf::atom("follow")>;
using unfollow_atom = caf::atom_constant<caf::atom("unfollow")>;
using batch_atom = caf::atom_constant<caf::atom("batch")>;
using submit_atom = caf::atom_constant<caf::atom("submit")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using finished_atom = caf::atom_constant<caf::atom("finished")>;
using ctx_ready_atom = caf::atom_constant<caf::atom("ctxready")>;
using lines_atom = caf::atom_constant<caf::atom("lines")>;
using exited_atom = caf::atom_constant<caf::atom("exited")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using restart_atom = caf::atom_constant<caf::atom("restart")>;
using claim_atom = caf::atom_constant<caf::atom("claim")>;
using terminal_atom = caf::atom_constant<caf::atom("terminal")>;
using sweep_atom = caf::atom_constant<caf::atom("sweep")>;

// ---- store failures across actors ----

// The hub answers appends it could not write with the store's error inside a
// CAF error (its code's name and message), so whoever asked can answer the
// API with that code: insufficient_storage (507) for a full data dir.
inline caf::error store_failure(const error& e) {
  return caf::make_error(caf::sec::runtime_error, std::string(to_string(e.code)), e.message);
}
inline error from_store_failure(const caf::error& err, const std::string& what) {
  auto& ctx = err.context();
  if (ctx.match_elements<std::string, std::string>() &&
      ctx.get_as<std::string>(0) == to_string(errc::insufficient_storage))
    return make_error(errc::insufficient_storage, ctx.get_as<std::string>(1));
  return make_error(errc::unavailable, what + caf::to_string(err));
}

// ---- log_hub payloads ----

// Entries of one log to make durable (a build's, or a machine's: the log id is
// the build or machine id), optionally with the build record that the same
// WriteBatch must carry (a status transition and the entry recording it commit
// together). `create` also writes the history index row.
struct append_request {
  std::string build_id;  // the log's id
  // Encoded here, on the sender's thread (add); the hub only writes in the
  // offsets it assigns.
  std::vector<storage::unnumbered_entry> entries;
  std::optional<storage::build_record> record;
  bool create = false;
  // More writes for the same batch (the template registry's tag moves and
  // retention rows when a build becomes terminal).
  std::function<void(storage::store&, storage::write_batch&)> also;
  // The last append of a machine's log: its stopped or failed record, which
  // its followers get as their end.
  std::optional<storage::machine_record> machine_end;
  // The last append of a warm pool's log (it was deleted): its last record.
  std::optional<pool_record> pool_end;

  void add(storage::log_entry e) { entries.push_back(storage::encode_unnumbered(std::move(e))); }
  void add(std::vector<storage::log_entry> es) {
    entries.reserve(entries.size() + es.size());
    for (auto& e : es) add(std::move(e));
  }
};

// What followers receive: committed entries, in offset order, with no gap.
// Shared, immutable: thousands of followers of a build share one batch.
struct follow_batch {
  std::string build_id;
  std::vector<storage::raw_entry> entries;
  // Set on the last batch a follower gets: the terminal build record, or the
  // last record of a machine.
  std::optional<storage::build_record> end;
  std::optional<storage::machine_record> machine_end;
  std::optional<pool_record> pool_end;  // a deleted pool's (empty when it was gone already)
  bool ends() const { return end || machine_end || pool_end; }
};
using follow_batch_ptr = std::shared_ptr<const follow_batch>;

struct hub_stats {
  uint64_t entries_appended = 0;
  uint64_t batches_written = 0;
  uint64_t followers = 0;
  // Builds per status (index: storage::build_status), counted from the store at
  // hub start and kept current by every committed record.
  std::array<uint64_t, 6> builds_by_status{};
};

using log_follower = caf::typed_actor<caf::reacts_to<batch_atom, follow_batch_ptr>>;

using log_hub_actor = caf::typed_actor<
    // -> next offset of the build after this append, once durable
    caf::replies_to<append_atom, append_request>::with<uint64_t>,
    // backlog from `from`, then live entries, then the end batch
    caf::reacts_to<follow_atom, std::string, uint64_t, log_follower>,
    caf::reacts_to<unfollow_atom, std::string, log_follower>,
    caf::replies_to<stats_atom>::with<hub_stats>,
    caf::reacts_to<flush_atom>>;  // internal: group commit

// ---- build / build_manager payloads ----

// Answer of manager and build operations: a record, or an API error.
struct build_reply {
  std::optional<error> err;
  storage::build_record record;
};

struct submit_request {
  std::string tenant;
  runtime::build_request request;  // parsed and validated; holds secret values in memory
  std::string retry_of;
  // The Idempotency-Key's row (object_id is the new build's): written in the
  // build's first batch.
  std::optional<storage::idempotency_record> idempotency;
};

struct manager_stats {
  uint64_t queued = 0, running = 0, live = 0, slots = 0;
};

using build_manager_actor = caf::typed_actor<
    caf::replies_to<submit_atom, submit_request>::with<build_reply>,
    caf::replies_to<cancel_atom, std::string /*tenant*/, std::string /*id*/,
                    std::string /*reason*/>::with<build_reply>,
    caf::reacts_to<finished_atom, std::string>,   // from a build that became terminal
    caf::reacts_to<ctx_ready_atom, std::string>,  // a build context finished uploading
    caf::replies_to<stats_atom>::with<manager_stats>>;

using build_actor =
    caf::typed_actor<caf::reacts_to<start_atom>,  // an executor slot was granted
                     caf::replies_to<cancel_atom, std::string>::with<build_reply>,
                     caf::reacts_to<ctx_ready_atom, std::string>,
                     caf::reacts_to<lines_atom, uint64_t, std::vector<runtime::output_line>>,
                     caf::reacts_to<exited_atom, uint64_t, runtime::process_exit>,
                     // progress of making the base image (debootstrap output)
                     caf::reacts_to<progress_atom, std::vector<std::string>>,
                     // time to probe the ready check again (of start number N)
                     caf::reacts_to<tick_atom, uint64_t>,
                     // kill process N again (its container did not exist yet)
                     caf::reacts_to<stop_atom, uint64_t>>;

// ---- template_registry payloads ----

enum class registry_op_kind {
  assign_tags,     // ref names the build; values: tags
  remove_tag,      // values: {tag}
  promote,         // ref: a build id; values: {tag}
  add_alias,       // values: {alias}
  remove_alias,    // values: {alias}
  reserve,         // ref: the name; namespace_name: where ("" = the tenant's)
  rename,          // values: {new name}; namespace_name: new namespace ("" = same)
  set_visibility,  // values: {private|public}
  remove,          // delete the template
};

struct registry_op {
  registry_op_kind kind{};
  std::string tenant;
  std::string ref;
  std::vector<std::string> values;
  std::string namespace_name;
};

// The template after the change (and the build it concerned, if any).
struct registry_reply {
  std::optional<error> err;
  storage::template_record t;
  std::optional<storage::build_record> build;
};

using template_registry_actor = caf::typed_actor<
    // A build is submitted under ns/name: may the tenant build there? Creates
    // the template (and claims the namespace) on first use.
    caf::replies_to<claim_atom, std::string /*tenant*/, std::string /*ns*/,
                    std::string /*name*/>::with<registry_reply>,
    // A build becomes terminal: its tags attach (ready only), retention starts,
    // all in the log_hub batch of the terminal entry. -> the hub's answer.
    caf::replies_to<terminal_atom, append_request>::with<uint64_t>,
    caf::replies_to<registry_op>::with<registry_reply>,
    // Deletes what expired by `now_ms`.
    caf::replies_to<sweep_atom, int64_t>::with<nullspace::sweep_summary>,
    // A round trip: answers once start-up (adopting old history) is done.
    caf::replies_to<stats_atom>::with<bool>,
    caf::reacts_to<tick_atom>>;  // internal: the periodic sweep

}  // namespace nullspace::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::append_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::follow_batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::hub_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::build_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::submit_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::manager_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::registry_op)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::registry_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::sweep_summary)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<nullspace::runtime::output_line>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::runtime::process_exit)

// Typed interfaces of the machine half of the actor tree:
//
//   orchestrator ── machine_manager ── machine (one per live machine, linked)
//
// The manager admits machines (caps), spawns their actors, routes every
// request by id (checking the tenant) and adopts running machines at start-up.
// A machine actor owns one machine's lifecycle; its blocking work (the
// driver's calls) runs on the engine's blocking pool and comes back to it as
// a continuation message. Payloads are process-local.
#pragma once

#include <caf/all.hpp>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "nullspace/error.hpp"
#include "nullspace/machine.hpp"
#include "nullspace/pool.hpp"
#include "runtime/artifact/template_config.hpp"
#include "runtime/machine/machine_driver.hpp"

namespace nullspace::actors {

using create_atom = caf::atom_constant<caf::atom("create")>;
using mstate_atom = caf::atom_constant<caf::atom("mstate")>;
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using cmdtime_atom = caf::atom_constant<caf::atom("cmdtime")>;
using call_atom = caf::atom_constant<caf::atom("call")>;

// A machine's answer: its record, or the error that prevented the request.
struct machine_reply {
  std::optional<error> err;
  machine_record record;
  uint64_t log_next_offset = 0;  // as the machine actor knows it; 0: not known, read the store
};

// A create, resolved by the engine facade: the template's build, its
// artifact and config, and the machine's id and effective settings.
struct machine_create {
  machine_record record;  // id, tenant, template, build, artifact, resources, deadline, labels
  std::string artifact_dir;
  runtime::template_config config;
  env_pairs envs;  // values: memory only
  bool wait = true;
  // The Idempotency-Key's row (object_id is the machine's): written with its
  // first record.
  std::optional<storage::idempotency_record> idempotency;
};

struct machine_op {
  // checkout: a warm pool hands its ready machine to a create request (sent
  // inside a machine_handover).
  enum kind { get, stop, pause, resume, set_timeout, wait_ready, checkout } what = get;
  std::string tenant, id;
  int64_t timeout_ms = 0;  // set_timeout, checkout: the new deadline is now + this
  std::string reason;      // stop: why ("deleted", "timeout", …)
  pool_checkout served;    // checkout: how the request was served
  env_pairs labels;        // checkout: the request's labels
  // checkout: the create's Idempotency-Key row, written with the checkout.
  std::optional<storage::idempotency_record> idempotency;
};

// The answer to a create served through a warm pool: the pool's part (which
// pool, why none, its counts) and, on a hit, the machine's. The pool delegates
// the handover to the machine actor, which records the checkout and answers
// the create itself: a hit costs the create one request, not two.
struct checkout_reply {
  std::optional<error> err;  // the pool does not exist (for this tenant)
  std::string pool_id, template_ref;
  std::string machine_id;  // empty: none handed out
  // Why none: empty, disabled, draining, degraded, bypass, version_mismatch.
  std::string reason;
  uint64_t waited_ms = 0;
  pool_counts counts;
  // A hit: the machine actor's answer to the checkout (an error when the
  // machine ended between the pool's last news of it and the handover).
  std::optional<machine_reply> handed;
};

// A pool's ready machine handed to a create: the checkout (op.what ==
// checkout) and the pool's part of the answer, completed by the machine.
struct machine_handover {
  machine_op op;
  checkout_reply reply;
};

// A command: answered with its result at the end, or at once with its id
// (background), or streamed through `stream` (its on_exit ends it).
struct command_job {
  std::string tenant, id;
  command_request request;
  std::shared_ptr<command_stream_callbacks> stream;  // null: not streamed
};

struct command_reply {
  std::optional<error> err;
  command_result result;
};

struct command_query {
  std::string tenant, id, command_id;
  uint64_t stdout_offset = 0, stderr_offset = 0;
  bool kill = false;
};

struct file_job {
  enum kind { read, write, list, remove, connect } what = read;
  std::string tenant, id, path;
  std::string data;  // write
  file_write_options options;
  bool recursive = false;
  uint16_t port = 0;  // connect
};

struct file_reply {
  static file_reply failed(error e) {
    file_reply r;
    r.err = std::move(e);
    return r;
  }
  std::optional<error> err;
  std::string data;
  file_info info;
  std::vector<file_info> entries;
  int fd = -1;  // connect: owned by the receiver
};

// Work done elsewhere (the blocking pool) handed back to run in the actor.
struct continuation {
  std::function<void()> fn;
};

struct machine_stats {
  std::array<uint64_t, 6> by_state{};  // live machines, and ended ones since start
  uint64_t commands_run = 0;
  std::vector<uint64_t> create_buckets;  // create-to-ready, cumulative counts per bound
  uint64_t creates = 0;
  double create_ms_sum = 0;
};

using machine_actor =
    caf::typed_actor<caf::replies_to<machine_op>::with<machine_reply>,
                     caf::replies_to<machine_handover>::with<checkout_reply>,
                     caf::replies_to<command_job>::with<command_reply>,
                     caf::replies_to<command_query>::with<command_reply>,
                     caf::replies_to<file_job>::with<file_reply>,
                     caf::reacts_to<run_atom, continuation>,   // a blocking job's result
                     caf::reacts_to<call_atom, continuation>,  // a driver callback's news
                     caf::reacts_to<tick_atom, uint64_t>,      // poll the machine (of round N)
                     caf::reacts_to<deadline_atom, uint64_t>,  // its timeout (of setting N)
                     caf::reacts_to<cmdtime_atom, uint64_t>>;  // a command's timeout (command N)

using machine_manager_actor =
    caf::typed_actor<caf::replies_to<create_atom, machine_create>::with<machine_reply>,
                     caf::replies_to<machine_op>::with<machine_reply>,
                     caf::replies_to<machine_handover>::with<checkout_reply>,
                     caf::replies_to<command_job>::with<command_reply>,
                     caf::replies_to<command_query>::with<command_reply>,
                     caf::replies_to<file_job>::with<file_reply>,
                     // a machine actor reports its machine's new state
                     caf::reacts_to<mstate_atom, std::string, machine_state>,
                     caf::replies_to<stats_atom>::with<machine_stats>,
                     caf::reacts_to<tick_atom>>;  // internal: the retention sweep

}  // namespace nullspace::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::machine_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::machine_create)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::machine_op)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::machine_handover)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::checkout_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::command_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::command_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::command_query)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::file_job)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::file_reply)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::continuation)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::actors::machine_stats)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(nullspace::machine_state)

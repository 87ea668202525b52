// Internals of the machine actor shared by its source files: the state its
// handlers work on and the helpers that move a machine along. Not an
// interface: only actors/machine/machine_*.cpp include it.
//
//   machine_actor.cpp     behavior, lifecycle (start, poll, ready, stop, fail, adopt)
//   machine_commands.cpp  commands run in the machine
//   machine_files.cpp     files and ports
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/engine_context.hpp"
#include "actors/hub/log_appender.hpp"
#include "actors/machine/machine_actor.hpp"
#include "runtime/sandbox/probe_tally.hpp"

namespace nullspace::actors::machine_detail {

using storage::log_entry;

constexpr size_t failure_tail_lines = 20;
constexpr size_t finished_commands_kept = 64;  // background commands readable after they end

// A command running (or, in the background, recently ended) in the machine.
struct running_command {
  std::string id;  // "c<n>" within the machine
  uint64_t seq = 0;
  command_request request;
  std::shared_ptr<runtime::command_handle> handle;
  std::shared_ptr<command_stream_callbacks> stream;                // streamed to its caller
  std::optional<caf::typed_response_promise<command_reply>> done;  // answered at its end
  std::string out, err;  // captured output (background and plain runs), capped
  int64_t started_ms = 0;
  command_result result;  // filled in at the end
  bool ended = false;
  bool killed = false, timed_out = false;
};

struct machine_actor_state {
  std::shared_ptr<engine_context> ctx;
  machine_manager_actor manager;
  machine_record rec;
  std::unique_ptr<log_appender> log;
  // The log's next offset as of the last append the hub acknowledged (0
  // until then): replies carry it, so a view needs no store read for it.
  uint64_t log_next_offset = 0;
  // A create's or checkout's Idempotency-Key row: the next record_change
  // writes it with the record (then it is cleared).
  std::optional<storage::idempotency_record> idempotency;

  // Starting: what the driver needs (env values live only here, in memory).
  runtime::machine_spec spec;
  runtime::ready_check ready;
  uint32_t ready_timeout_ms = 60000;
  int64_t started_ms = 0;                     // when the driver launched it
  std::string last_probe;                     // what the last probe saw
  std::optional<runtime::probe_tally> tally;  // the ready check's probes (Docker's retries)
  std::vector<caf::typed_response_promise<machine_reply>> ready_waiters;

  // The blocking pool: one job of this machine at a time, in order.
  bool busy = false;
  std::deque<std::function<void()>> jobs;

  // Polling: start-command output and the machine's state.
  uint64_t poll_round = 0;
  bool poll_due = false;  // a tick is scheduled
  uint64_t output_offset = 0;
  std::string partial_line;
  std::deque<std::string> tail;  // last output lines, for failure messages
  uint64_t quiet_polls = 0;      // polls in a row without new output (slows polling down)
  bool oom_seen = false;
  bool start_end_logged = false;  // a ready machine's start command ended (logged once)
  bool failing = false;           // fail() began: the driver is removing the machine

  uint64_t deadline_seq = 0;
  bool deadline_armed = false;  // the timer of the current deadline is set

  // Stopping.
  bool stop_requested = false;
  std::string stop_reason;
  std::vector<caf::typed_response_promise<machine_reply>> stop_waiters;

  // Commands.
  uint64_t next_command = 0;
  std::map<uint64_t, running_command> commands;
  std::deque<uint64_t> finished;  // background commands ended, oldest first

  // For the create-to-ready histogram.
  bool counted_ready = false;
};

using machine_ptr = machine_actor::stateful_pointer<machine_actor_state>;

log_entry make_entry(std::string kind, std::string level, std::string message,
                     std::string phase = {});

// Runs `work` on the blocking pool (after this machine's earlier jobs), then
// `then(result)` back in the actor.
template <class Work, class Then>
void blocking(machine_ptr self, Work work, Then then) {
  auto me = caf::actor_cast<machine_actor>(self);
  auto* pool = self->state.ctx->blocking;
  self->state.jobs.push_back([me, pool, work = std::move(work), then = std::move(then)]() mutable {
    pool->post([me, work = std::move(work), then = std::move(then)]() mutable {
      auto r = work();
      caf::anon_send(me, run_atom::value,
                     continuation{[then = std::move(then), r = std::move(r)]() mutable {
                       then(std::move(r));
                     }});
    });
  });
  if (!self->state.busy) {
    self->state.busy = true;
    auto job = std::move(self->state.jobs.front());
    self->state.jobs.pop_front();
    job();
  }
}

// The next job of this machine, once the last one handed back its result.
void next_job(machine_ptr self);

// A state change: the record (now in `rec`) and its log entries, in one batch.
// `committed(ok)` runs once it is durable.
void record_change(machine_ptr self, std::vector<log_entry> entries,
                   std::function<void(bool)> committed = nullptr);

// Ends the machine as failed with `code` and `message` (nothing of it stays on
// the host); answers everyone waiting with the error.
void fail(machine_ptr self, std::string code, std::string message);

// Whether the machine takes commands and file operations now, or the error.
std::optional<error> usable(const machine_actor_state& st, bool paused_ok = false);

// Commands (machine_commands.cpp).
void run_command(machine_ptr self, command_job& job, caf::typed_response_promise<command_reply> rp);
command_reply query_command(machine_ptr self, const command_query& q);
void command_timed_out(machine_ptr self, uint64_t seq);
void kill_all_commands(machine_ptr self);

// Files and ports (machine_files.cpp).
void file_operation(machine_ptr self, file_job& job, caf::typed_response_promise<file_reply> rp);

}  // namespace nullspace::actors::machine_detail

// Internals of the build actor shared by its source files: the state every
// handler works on and the helpers that move a build along. Not an interface:
// only actors/build_*.cpp include it.
//
//   build_actor.cpp     behavior, log appends, terminal transitions, steps
//   build_finalize.cpp  after the last step: start command + ready check, artifact
#pragma once

#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/build/build_actor.hpp"
#include "actors/build/sandbox_worker.hpp"
#include "runtime/image/image_job.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/sandbox/probe_tally.hpp"

namespace nullspace::actors::build_detail {

namespace fs = std::filesystem;
using storage::build_status;
using storage::log_entry;

constexpr size_t failure_tail_lines = 10;

// What a Dockerfile stage has built when the next one begins: restored by
// FROM <stage>, read by COPY --from=<stage>.
struct stage_snapshot {
  std::vector<std::string> layers;
  std::string chain_key;
  runtime::env_list env;
  std::vector<std::string> base_env;
  std::string cwd = "/";
  uint32_t uid = 0, gid = 0;
  std::string user = "root";
};

struct build_state {
  std::shared_ptr<engine_context> ctx;
  build_manager_actor manager;
  storage::build_record rec;
  runtime::build_request req;
  runtime::build_plan plan;

  size_t next_step = 0;
  size_t steps_run = 0;
  int32_t running_step = -1;
  std::optional<uint64_t> proc;  // sequence number of the running process
  uint64_t proc_seq = 0;
  uint64_t runner_id = 0;  // the runner's id of that process, for kill()
  runtime::env_list env;
  std::string cwd = "/";
  std::deque<std::string> tail;  // last output lines of the running step
  std::string secrets_dir;       // of the running step, on a memory-backed tmpfs

  size_t in_flight = 0;         // appends sent and not yet acknowledged
  std::vector<log_entry> held;  // output waiting for an append slot

  // Sandboxed builds (ctx->sandbox set): the worker doing the blocking half,
  // the layer stack so far (top first), and the chained cache key.
  sandbox_worker_actor worker;
  std::vector<std::string> layers;
  std::string chain_key;
  std::vector<std::string> base_env;  // "K=V" from the base image config
  uint32_t uid = 0, gid = 0;
  std::string container;       // of the running step (or start command), for cancel
  std::string user = "root";   // of the last user step, for the template config
  std::string phase = "step";  // of output lines: "step", or "ready" for the start command
  int32_t stage = -1;          // the Dockerfile stage being built
  std::map<int32_t, stage_snapshot> stages;  // the stages built before it
  // COPY --from=<image>: the pulled image's layers and digest, by step index.
  std::map<size_t, runtime::base_image> copy_images;
  // RUN --mount=type=bind,from=<image>: the pulled images, by reference.
  std::map<std::string, runtime::base_image> bind_images;
  // Cache records of the steps run so far, by chained key: their layers were
  // committed unsynced (step_sandbox::finish), so the records are written only
  // at the end, after one sync of the layers (durable before visible to other
  // builds). This build's own later steps (another stage) find them here.
  std::vector<std::pair<std::string, storage::cache_entry>> unsynced_cache;

  // The start command and its ready check (build_finalize.cpp).
  bool starting = false;      // the start command's container is up
  bool ready_passed = false;  // stopped on purpose: the check passed
  bool ready_timed_out = false;
  bool ready_failed = false;  // stopped on purpose: the check's retries failed
  bool probing = false;       // a probe is in flight
  int64_t start_ms = 0;
  uint64_t tick_seq = 0;                      // ticks of an earlier start are ignored
  std::string last_probe;                     // what the last probe saw, for the failure message
  std::optional<runtime::probe_tally> tally;  // the ready check's probes (Docker's retries)
  // While the base image is being resolved (maybe made: minutes), for cancel.
  std::shared_ptr<runtime::image_job> base_job;
  bool cleaned = false;

  std::optional<caf::typed_response_promise<build_reply>> cancel_promise;
  std::string cancel_reason;
  bool finishing = false;  // the terminal append is in flight

  const runtime::build_step& step_at(size_t i) const { return plan.steps[i].step; }

  stage_snapshot snapshot() const {
    return {layers, chain_key, env, base_env, cwd, uid, gid, user};
  }
  // Goes on from `s`: an earlier stage, a template's end, or (default) nothing.
  void restore(const stage_snapshot& s) {
    layers = s.layers;
    chain_key = s.chain_key;
    env = s.env;
    base_env = s.base_env;
    cwd = s.cwd;
    uid = s.uid;
    gid = s.gid;
    user = s.user;
  }
  std::string root_dir() const { return ctx->work_root() + "/" + rec.id + "/root"; }

  void remove_secrets_dir() {
    if (secrets_dir.empty()) return;
    std::error_code ec;
    fs::remove_all(secrets_dir, ec);
    secrets_dir.clear();
  }

  // Kills the running step. A sandboxed step is killed through its container:
  // killing `runc run` would orphan the container, which `runc run` exits with.
  // Right after the launch the container may not exist yet (`runc run` is still
  // creating it) and the kill fails: `again`, if given, then gets a stop_atom
  // for this process a moment later (backing off to once a second) and sends
  // the kill again while the process runs: a cancel must not wait on a step
  // that was never killed.
  void stop_process(build_actor again = {}) {
    if (container.empty()) {
      ctx->runner->kill(runner_id);
      return;
    }
    auto delay = std::chrono::milliseconds(
        std::min(int64_t{25} << std::min(kill_attempts++, 6u), int64_t{1000}));
    auto retry = [again, delay, seq = proc.value_or(0)](runtime::process_exit ex) {
      bool failed = !ex.spawn_error.empty() || ex.term_signal != 0 || ex.exit_status != 0;
      if (again && failed) caf::delayed_anon_send(again, delay, stop_atom::value, seq);
    };
    ctx->runner->spawn(
        {ctx->sandbox->kill_argv(container), {}, {}, {}}, [](auto) {}, std::move(retry));
  }
  unsigned kill_attempts = 0;  // of the running process

  ~build_state() {
    // The actor may die without finishing (shutdown, manager crash): leave no
    // process and no secret file behind. The record stays non-terminal in the
    // store and start-up recovery picks it up (and removes what a sandboxed
    // step left: its worker cleans the build up before building again).
    if (proc && ctx) stop_process();
    if (base_job) base_job->cancel();  // else the worker would make the image to the end
    if (worker) caf::anon_send_exit(worker, caf::exit_reason::user_shutdown);
    remove_secrets_dir();
    if (ctx && !rec.id.empty() && storage::is_terminal(rec.status)) {
      std::error_code ec;
      fs::remove_all(ctx->work_root() + "/" + rec.id, ec);
    }
  }
  static inline const char* name = "build";
};

using build_ptr = build_actor::stateful_pointer<build_state>;

// Kills the running step (or start command) of the build, again until it is gone.
inline void stop_step(build_ptr self) {
  self->state.stop_process(caf::actor_cast<build_actor>(self));
}

// `phase` ("base", "step", "ready", "artifact") says which part of the build it is from.
log_entry make_entry(std::string kind, std::string level, std::string message, int32_t step = -1,
                     std::string phase = {});
log_entry status_entry(build_status s, std::string message);

// Appends to the build's log (a record change goes with `with_record`).
void append(build_ptr self, std::vector<log_entry> entries, bool with_record = false);
// Becomes terminal with these final entries.
void finish(build_ptr self, build_status to, std::vector<log_entry> entries);
void fail(build_ptr self, std::string code, std::string message, int32_t step);
void finish_cancelled(build_ptr self);
// For an answer that arrives after other work ran (a worker's reply): true if
// the build moved on meanwhile, and that is dealt with: a finishing build
// ignores the answer, a cancelled one finishes as cancelled here.
bool moved_on(build_ptr self);

// Starts a process whose lines and exit come back as lines_atom/exited_atom.
void launch(build_ptr self, runtime::process_spec spec);
// How a process failed, as the end of a sentence, or "" if it succeeded.
std::string exit_problem(const runtime::process_exit& ex, bool status_carries_signal);
// A sandboxed container that failed before it ever ran (no pid file): the
// runtime refused it (sandbox_failed, with the runtime's words), or could not
// execute the step's program (`own_code`, e.g. step_failed). `where` names
// the step ("step 2 (run make)").
void fail_unstarted(build_ptr self, const runtime::process_exit& ex, const std::string& where,
                    int32_t step, const std::string& own_code);
std::vector<std::string> secret_values(const runtime::build_request& req);
// The environment of a sandboxed process: image env, env steps, HOME.
std::vector<std::string> sandbox_env(const build_state& st);

// build_finalize.cpp: after the last step of a sandboxed build.
void finalize_sandboxed(build_ptr self);
// The start command's container exited (or was stopped once ready).
void on_start_exit(build_ptr self, const runtime::process_exit& ex);
void on_ready_tick(build_ptr self, uint64_t seq);

}  // namespace nullspace::actors::build_detail

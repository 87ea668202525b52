// After the last step of a sandboxed build: the start command and its ready
// check (if the template has one), then the rootfs artifact, then ready.
//
// The start command runs in a container over the final layers with its own
// upper dir, discarded afterwards, and its own network namespace (loopback
// only): a build's service never binds a host port, and the ready check cannot
// be fooled by something else listening on the host. A tick every 250 ms
// probes the check (through the worker: port/url/file inside the container's
// namespaces, a command by `runc exec`, killed at its timeout) until it
// passes, its retries fail (probe_tally.hpp: a HEALTHCHECK), the command exits,
// or ready_timeout_ms runs out.
#include <chrono>

#include "actors/build/build_internal.hpp"
#include "runtime/artifact/template_config.hpp"
#include "runtime/sandbox/ready_probe.hpp"
#include "storage/common/sha256.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors::build_detail {
namespace {

constexpr auto ready_poll = std::chrono::milliseconds(250);

log_entry phase_entry(std::string phase, std::string message, std::string level = "info") {
  return make_entry("log", std::move(level), std::move(message), -1, std::move(phase));
}

// The start command's environment: the image's, then the runtime envs.
runtime::sandbox_spec start_spec(const build_state& st) {
  runtime::sandbox_spec sp;
  sp.args = {"/bin/sh", "-c", st.plan.start_cmd};
  sp.env = sandbox_env(st);
  for (auto& [k, v] : st.req.runtime_envs) {
    std::erase_if(sp.env, [&](const std::string& e) { return e.starts_with(k + "="); });
    sp.env.push_back(k + "=" + v);
  }
  sp.cwd = st.cwd;
  sp.uid = st.uid;
  sp.gid = st.gid;
  sp.hostname = "nullspace";
  sp.network = false;
  sp.cpu_count = st.req.cpu_count;
  sp.memory_bytes = uint64_t{st.req.memory_mb} << 20;
  return sp;
}

std::string artifact_id(const std::string& chain_key, uint32_t disk_mb, const std::string& config) {
  sha256 h;
  h.update_field("artifact-v1").update_field(chain_key);
  h.update_field(std::to_string(disk_mb)).update_field(config);
  return h.hex_digest().substr(0, 32);
}

void make_artifact(build_ptr self) {
  auto& st = self->state;
  runtime::template_config cfg;
  cfg.env = sandbox_env(st);
  cfg.runtime_envs = st.req.runtime_envs;
  cfg.user = st.user;
  cfg.uid = st.uid;
  cfg.gid = st.gid;
  cfg.workdir = st.cwd;
  cfg.start_cmd = st.plan.start_cmd;
  cfg.ready = st.plan.ready;
  cfg.ready_timeout_ms = st.plan.ready_timeout_ms;
  cfg.labels = st.plan.labels;
  cfg.exposed_ports = st.plan.exposed_ports;
  cfg.volumes = st.plan.volumes;
  cfg.stop_signal = st.plan.stop_signal;
  cfg.onbuild = st.plan.onbuild;
  runtime::artifact_spec spec;
  spec.config_json = cfg.json();
  spec.id = artifact_id(st.chain_key, st.req.disk_mb, spec.config_json);
  spec.layers = st.layers;
  spec.disk_mb = st.req.disk_mb;
  spec.artifacts_dir = st.ctx->config.data_dir + "/artifacts";
  spec.mount_dir = st.ctx->work_root() + "/" + st.rec.id + "/artifact-root";
  append(self, {phase_entry("artifact", "making the root filesystem image (ext4)")});
  self->request(st.worker, caf::infinite, artifact_atom::value, std::move(spec))
      .then([=](artifact_reply& r) {
        auto& s = self->state;
        if (moved_on(self)) return;
        if (r.err)
          return fail(
              self, r.err->code == errc::failed_precondition ? "disk_too_small" : "artifact_failed",
              r.err->message, -1);
        auto& a = r.value;
        s.rec.artifact =
            storage::artifact_ref{a.id, a.digest, a.image_bytes, a.used_bytes, a.disk_mb};
        s.rec.artifact_availability = "available";
        auto msg = "artifact " + a.digest + ": ext4 image of " + std::to_string(a.disk_mb) +
                   " MB, " + std::to_string(a.used_bytes >> 20) + " MB used" +
                   (a.reused ? " (reused: same layers and config)" : "");
        finish(self, build_status::ready,
               {phase_entry("artifact", std::move(msg)),
                status_entry(build_status::ready, "build ready")});
      });
}

void start_command(build_ptr self) {
  auto& st = self->state;
  runtime::step_job job;
  job.build_id = st.rec.id;
  job.step = st.plan.steps.size();  // the start command's work dir follows the steps'
  job.lowers = st.layers;
  job.spec = start_spec(st);
  auto check = st.plan.ready.type == runtime::ready_type::none
                   ? std::string("no ready check: it must keep running")
                   : "ready check: " + runtime::describe(st.plan.ready);
  append(self, {phase_entry("ready", "starting the start command (" + check + ", timeout " +
                                         std::to_string(st.plan.ready_timeout_ms) + " ms)")});
  self->request(st.worker, caf::infinite, prepare_atom::value, std::move(job))
      .then([=](prepare_reply& r) {
        auto& s = self->state;
        if (moved_on(self)) return;
        if (r.err) return fail(self, "sandbox_failed", "start command: " + r.err->message, -1);
        s.container = r.value.container_id;
        s.starting = true;
        s.phase = "ready";
        s.start_ms = storage::now_ms();
        s.tally.emplace(s.plan.ready);
        auto seq = ++s.tick_seq;
        runtime::process_spec spec;
        spec.argv = s.ctx->sandbox->run_argv(r.value);
        spec.env = {runtime::default_path_env};
        spec.redact = secret_values(s.req);
        launch(self, std::move(spec));
        self->delayed_send(self, ready_poll, tick_atom::value, seq);
      });
}

}  // namespace

void finalize_sandboxed(build_ptr self) {
  auto& st = self->state;
  st.running_step = -1;
  st.tail.clear();
  if (st.plan.start_cmd.empty()) return make_artifact(self);
  start_command(self);
}

void on_ready_tick(build_ptr self, uint64_t seq) {
  auto& st = self->state;
  if (seq != st.tick_seq || !st.starting || !st.proc || st.ready_passed || st.ready_timed_out ||
      st.ready_failed || st.cancel_promise || st.finishing)
    return;
  auto elapsed = storage::now_ms() - st.start_ms;
  if (elapsed >= int64_t{st.plan.ready_timeout_ms}) {
    st.ready_timed_out = true;
    stop_step(self);  // on_start_exit reports the timeout
    return;
  }
  self->delayed_send(self, ready_poll, tick_atom::value, seq);
  if (st.probing) return;
  if (st.plan.ready.type == runtime::ready_type::none) {
    st.ready_passed = true;
    append(self, {phase_entry("ready", "the start command is running (no ready check)")});
    stop_step(self);
    return;
  }
  st.probing = true;
  // A command probe without a timeout of its own has what is left of the deadline.
  auto left = std::chrono::milliseconds(std::max<int64_t>(1, st.plan.ready_timeout_ms - elapsed));
  probe_request req{st.container, st.plan.ready, start_spec(st),
                    runtime::command_probe_timeout(st.plan.ready, left)};
  self->request(st.worker, caf::infinite, probe_atom::value, std::move(req))
      .then([=](runtime::probe_result& r) {
        auto& s = self->state;
        s.probing = false;
        if (seq != s.tick_seq || !s.starting || s.ready_passed || s.ready_timed_out ||
            s.ready_failed)
          return;
        s.last_probe = r.detail;
        s.tally->record(r.ready, elapsed);
        if (s.tally->failed()) {
          s.ready_failed = true;
          stop_step(self);  // on_start_exit reports it
          return;
        }
        if (!r.ready) return;
        s.ready_passed = true;
        append(self, {phase_entry("ready", "ready check passed (" + r.detail + ") after " +
                                               std::to_string(storage::now_ms() - s.start_ms) +
                                               " ms, probe " + std::to_string(s.tally->probes()))});
        stop_step(self);  // on_start_exit goes on to the artifact
      });
}

void on_start_exit(build_ptr self, const runtime::process_exit& ex) {
  auto& st = self->state;
  st.starting = false;
  commit_request req{st.rec.id, st.plan.steps.size(), false, "", uint64_t{st.req.memory_mb} << 20};
  self->request(st.worker, caf::infinite, commit_atom::value, std::move(req))
      .then([=](commit_reply& r) {
        auto& s = self->state;
        s.container.clear();
        if (moved_on(self)) return;
        if (r.err) return fail(self, "sandbox_failed", "start command: " + r.err->message, -1);
        if (s.ready_passed) return make_artifact(self);
        auto check = runtime::describe(s.plan.ready);
        auto seen = s.last_probe.empty() ? std::string() : " (last probe: " + s.last_probe + ")";
        if (s.ready_failed)
          return fail(
              self, "ready_check_failed",
              "the ready check (" + check + ") failed: " + s.tally->failure_summary() + seen, -1);
        if (s.ready_timed_out)
          return fail(self, "ready_timeout",
                      "the ready check (" + check + ") did not pass within " +
                          std::to_string(s.plan.ready_timeout_ms) + " ms (ready_timeout_ms)" + seen,
                      -1);
        if (r.value.oom)
          return fail(self, "out_of_memory",
                      "the start command ran out of memory: it reached the build's limit of " +
                          std::to_string(s.req.memory_mb) + " MB (memory_mb) and was killed",
                      -1);
        if (!r.value.started)
          return fail_unstarted(self, ex, "the start command", -1, "start_failed");
        auto how = exit_problem(ex, true);
        if (how.empty()) how = " exited with status 0";
        fail(self, "start_failed",
             "the start command" + how + " before the ready check (" + check + ") passed" + seen,
             -1);
      });
}

}  // namespace nullspace::actors::build_detail

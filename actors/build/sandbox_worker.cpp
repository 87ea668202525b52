#include "actors/build/sandbox_worker.hpp"

#include "runtime/process/command.hpp"

namespace nullspace::actors {
namespace {

sandbox_worker_actor::behavior_type worker_behavior(sandbox_worker_actor::pointer,
                                                    runtime::image_store* images,
                                                    runtime::step_sandbox* sandbox) {
  return {
      [=](base_atom, const base_request& r) {
        return base_reply::of(images->resolve(r.source, r.job.get()));
      },
      [=](prepare_atom, const runtime::step_job& job) {
        return prepare_reply::of(sandbox->prepare(job));
      },
      [=](commit_atom, const commit_request& r) {
        return commit_reply::of(
            sandbox->finish(r.build_id, r.step, r.keep, r.layer_name, r.memory_limit));
      },
      [=](copy_atom, const copy_job& j) {
        if (!j.url.empty())
          return copy_reply::of(
              sandbox->copy_url(j.step, j.url, j.checksum, j.copy.src, j.copy, j.layer_name));
        if (j.inline_file)
          return copy_reply::of(sandbox->copy_inline(j.step, j.inline_file->first,
                                                     j.inline_file->second, j.copy, j.layer_name));
        if (j.from_stage)
          return copy_reply::of(
              sandbox->copy_from_stage(j.step, j.stage_layers, j.copy, j.layer_name));
        return copy_reply::of(sandbox->copy(j.step, j.copy, j.layer_name));
      },
      [=](probe_atom, const probe_request& r) -> runtime::probe_result {
        auto pid = sandbox->container_pid(r.container_id);
        if (!pid) return {false, "the start command is not running"};
        if (r.check.type != runtime::ready_type::command)
          return runtime::probe_ready(r.check, *pid);
        // Ends when it exits, at its timeout (its process tree killed), or
        // when the container is killed (deadline, cancel).
        auto c = runtime::run_command_within(
            sandbox->exec_argv(r.container_id, r.as, {"/bin/sh", "-c", r.check.cmd}), r.timeout);
        if (!c) return {false, c.error().message};
        if (c->timed_out)
          return {false, "the command did not finish within " + std::to_string(r.timeout.count()) +
                             " ms (killed)"};
        auto last = runtime::last_lines(c->output, 1);
        return {c->exit_status == 0, "exit status " + std::to_string(c->exit_status) +
                                         (last.empty() ? "" : ": " + last.front())};
      },
      [=](artifact_atom, const runtime::artifact_spec& spec) {
        return artifact_reply::of(runtime::make_rootfs_artifact(spec));
      },
      [=](template_atom, const std::string& artifact_dir) {
        return template_reply::of(runtime::read_template_base(artifact_dir));
      },
      [=](cleanup_atom, const std::string& build_id) {
        sandbox->cleanup_build(build_id);
        return true;
      },
      [=](seal_atom, const std::string& build_id) {
        bool synced = sandbox->sync_layers().ok();
        sandbox->cleanup_build(build_id);
        return synced;
      },
  };
}

}  // namespace

sandbox_worker_actor spawn_sandbox_worker(caf::local_actor* parent, runtime::image_store* images,
                                          runtime::step_sandbox* sandbox) {
  return parent->spawn<caf::detached>(worker_behavior, images, sandbox);
}

}  // namespace nullspace::actors

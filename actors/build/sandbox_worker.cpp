#include "actors/build/sandbox_worker.hpp"

#include "runtime/process/command.hpp"

namespace nullspace::actors {
namespace {

// Dirs of finished steps not removed yet (step_sandbox::finish leaves them):
// removed after the next step's prepare has been answered, so while its
// container starts rather than before, or before anything else the worker does.
struct leftover_dirs {
  runtime::step_sandbox* sandbox;
  std::vector<std::pair<std::string, size_t>> steps;  // build id, step
  void remove() {
    for (auto& [build, step] : steps) sandbox->remove_step_dir(build, step);
    steps.clear();
  }
};

sandbox_worker_actor::behavior_type worker_behavior(sandbox_worker_actor::pointer self,
                                                    runtime::image_store* images,
                                                    runtime::step_sandbox* sandbox) {
  // The worker is detached: one thread runs every handler, so no lock.
  auto leftovers = std::make_shared<leftover_dirs>(leftover_dirs{sandbox, {}});
  return {
      [=](base_atom, const base_request& r) {
        leftovers->remove();
        return base_reply::of(images->resolve(r.source, r.job.get()));
      },
      [=](prepare_atom, const runtime::step_job& job) {
        auto answer = self->make_response_promise<prepare_reply>();
        answer.deliver(prepare_reply::of(sandbox->prepare(job)));
        leftovers->remove();
        return answer;
      },
      [=](commit_atom, const commit_request& r) {
        leftovers->remove();
        auto out = sandbox->finish(r.build_id, r.step, r.keep, r.layer_name, r.memory_limit);
        leftovers->steps.emplace_back(r.build_id, r.step);
        return commit_reply::of(std::move(out));
      },
      [=](copy_atom, const copy_job& j) {
        leftovers->remove();
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
        leftovers->remove();
        return artifact_reply::of(runtime::make_rootfs_artifact(spec));
      },
      [=](template_atom, const std::string& artifact_dir) {
        return template_reply::of(runtime::read_template_base(artifact_dir));
      },
      [=](cleanup_atom, const std::string& build_id) {
        sandbox->cleanup_build(build_id);  // the leftovers' dirs with the rest
        leftovers->steps.clear();
        return true;
      },
      [=](seal_atom, const std::string& build_id) {
        bool synced = sandbox->sync_layers().ok();
        sandbox->cleanup_build(build_id);
        leftovers->steps.clear();
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

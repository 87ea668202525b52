#include "actors/sandbox_worker.hpp"

namespace nullspace::actors {
namespace {

sandbox_worker_actor::behavior_type worker_behavior(sandbox_worker_actor::pointer,
                                                    runtime::image_store* images,
                                                    runtime::step_sandbox* sandbox) {
  return {
      [=](base_atom, const base_request& r) {
        auto img = images->resolve(r.source, r.job.get());
        return img ? base_reply{std::nullopt, std::move(img.value())} : base_reply{img.error(), {}};
      },
      [=](prepare_atom, const runtime::step_job& job) {
        auto p = sandbox->prepare(job);
        return p ? prepare_reply{std::nullopt, std::move(p.value())} : prepare_reply{p.error(), {}};
      },
      [=](commit_atom, const commit_request& r) {
        auto o = sandbox->finish(r.build_id, r.step, r.keep, r.layer_name, r.memory_limit);
        return o ? commit_reply{std::nullopt, std::move(o.value())} : commit_reply{o.error(), {}};
      },
      [=](copy_atom, const copy_job& j) {
        auto o = sandbox->copy(j.step, j.copy, j.layer_name);
        return o ? copy_reply{std::nullopt, std::move(o.value())} : copy_reply{o.error(), {}};
      },
      [=](cleanup_atom, const std::string& build_id) {
        sandbox->cleanup_build(build_id);
        return true;
      },
  };
}

}  // namespace

sandbox_worker_actor spawn_sandbox_worker(caf::local_actor* parent, runtime::image_store* images,
                                          runtime::step_sandbox* sandbox) {
  return parent->spawn<caf::detached>(worker_behavior, images, sandbox);
}

}  // namespace nullspace::actors

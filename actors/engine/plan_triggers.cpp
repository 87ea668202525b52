#include "actors/engine/plan_triggers.hpp"

#include "actors/machine/machine_resolve.hpp"
#include "runtime/artifact/template_base.hpp"
#include "runtime/plan/onbuild.hpp"

namespace nullspace::actors {

void add_template_triggers(const engine_context& ctx, const runtime::build_request& req,
                           const std::string& tenant, runtime::build_plan& plan) {
  if (req.source.type != runtime::source_type::template_ref) return;
  auto build = resolve_build(*ctx.db, req.source.ref, tenant);
  if (!build || !startable(*build)) return;
  auto base =
      runtime::read_template_base(ctx.config.data_dir + "/artifacts/" + build->artifact->id);
  if (!base || base->onbuild.empty()) return;
  runtime::template_triggers t;
  t.template_ref = req.source.ref;
  t.build_id = build->id;
  t.instructions = base->onbuild;
  auto steps = runtime::lower_onbuild(base->onbuild, runtime::onbuild_context(req), base->workdir);
  if (steps)
    t.steps = runtime::insert_onbuild(plan, std::move(*steps), 0);
  else
    t.problem = steps.error().message;
  plan.triggers = std::move(t);
}

}  // namespace nullspace::actors

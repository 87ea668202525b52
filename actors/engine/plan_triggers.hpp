// The :plan answer of a build that starts from a template: the template's
// ONBUILD triggers, lowered as the build will lower them, go first in the
// plan, so a user sees what will run (runtime/plan/onbuild.hpp).
#pragma once

#include <string>

#include "actors/engine_context.hpp"
#include "runtime/plan/plan.hpp"

namespace nullspace::actors {

// Adds the triggers of the template `req` names (as `tenant` sees it) to
// `plan`. Nothing when the ref resolves to no ready build or its template has
// no triggers: the build itself reports a template it cannot use. Blocking
// (reads the template's config).
void add_template_triggers(const engine_context& ctx, const runtime::build_request& req,
                           const std::string& tenant, runtime::build_plan& plan);

}  // namespace nullspace::actors

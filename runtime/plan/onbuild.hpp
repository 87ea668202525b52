// A template's ONBUILD triggers in a build that starts from it, as Docker runs
// a base image's: right after the child's FROM, before its own steps, in the
// parent's config context (a relative WORKDIR, COPY dest or bind target is
// relative to the parent's working dir). Their COPY/ADD read the build's own
// context: the one its first `copy` step names. The build actor inserts them
// when the template's config is read; the :plan answer shows the same steps.
#pragma once

#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "runtime/plan/plan.hpp"

namespace nullspace::runtime {

// The context the triggers' COPY/ADD read ("" = none): the request's first copy step's.
std::string onbuild_context(const build_request& req);

// The triggers (as written: "RUN make", "WORKDIR src") lowered to steps, with
// `workdir` the parent's working dir. invalid_argument naming the trigger
// ("ONBUILD COPY --from=x …: <why>") if one cannot be lowered.
result<std::vector<build_step>> lower_onbuild(const std::vector<std::string>& triggers,
                                              const std::string& context,
                                              const std::string& workdir);

// Inserts `steps` into `plan` before its step `at`, planned as if they
// followed the base, and renumbers the steps after them. Returns how many.
size_t insert_onbuild(build_plan& plan, std::vector<build_step> steps, size_t at);

}  // namespace nullspace::runtime

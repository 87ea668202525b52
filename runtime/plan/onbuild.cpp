#include "runtime/plan/onbuild.hpp"

#include "runtime/dockerfile/dockerfile.hpp"

namespace nullspace::runtime {

std::string onbuild_context(const build_request& req) {
  for (auto& step : req.steps)
    if (step.type == step_type::copy && !step.context.empty()) return step.context;
  return {};
}

result<std::vector<build_step>> lower_onbuild(const std::vector<std::string>& triggers,
                                              const std::string& context,
                                              const std::string& workdir) {
  // One stage standing for the parent: FROM scratch with the parent's working dir.
  std::string text = "FROM scratch\n";
  for (auto& t : triggers) text += t + "\n";
  auto prog = parse_dockerfile(text, context, {}, workdir);
  if (!prog.errors.empty()) {
    auto& e = prog.errors.front();
    auto which = e.line >= 2 && e.line - 2 < triggers.size() ? triggers[e.line - 2] : text;
    return make_error(errc::invalid_argument, "ONBUILD " + which + ": " + e.message);
  }
  std::vector<build_step> steps;
  for (auto& step : prog.steps)
    if (step.type != step_type::from) steps.push_back(std::move(step));
  return steps;
}

size_t insert_onbuild(build_plan& plan, std::vector<build_step> steps, size_t at) {
  auto added = plan_more_steps(std::move(steps), plan.base_key, at);
  auto n = added.size();
  for (size_t i = at; i < plan.steps.size(); ++i) plan.steps[i].index += n;
  plan.steps.insert(plan.steps.begin() + static_cast<long>(at),
                    std::make_move_iterator(added.begin()), std::make_move_iterator(added.end()));
  return n;
}

}  // namespace nullspace::runtime

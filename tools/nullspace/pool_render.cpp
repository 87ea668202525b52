#include "tools/nullspace/pool_render.hpp"

#include "tools/nullspace/template_render.hpp"

namespace nullspace::cli {
namespace {

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string number_or(js::element p, std::string_view key, const std::string& none) {
  return js::is_null_or_missing(p, key) ? none : std::to_string(js::num(p, key));
}

std::string count(js::element p, std::string_view key) {
  auto c = js::get(p, "counts");
  return c ? std::to_string(js::num(*c, key)) : "0";
}

}  // namespace

std::string pool_counts_text(js::element p) {
  return "ready " + count(p, "ready") + ", starting " + count(p, "starting") + ", in use " +
         count(p, "in_use") + ", failed " + count(p, "failed");
}

std::string pool_summary(js::element p) {
  auto s = "warm pool " + js::str(p, "name") + " (" + js::str(p, "id") + ") " +
           js::str(p, "state") + ": " + pool_counts_text(p);
  if (auto r = js::get(p, "reason"); r && !r->is_null())
    s += " — " + js::str(*r, "code") + ": " + js::str(*r, "message");
  return s;
}

std::string pool_details(js::element p) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"warm pool", js::str(p, "name") + " (" + js::str(p, "id") + ")"});
  rows.push_back({"state", js::str(p, "state")});
  if (auto r = js::get(p, "reason"); r && !r->is_null()) {
    rows.push_back({"reason", js::str(*r, "code") + ": " + js::str(*r, "message")});
    for (auto& l : js::strings(*r, "last_lines")) rows.push_back({"", "  " + l});
  }
  rows.push_back({"template", js::str(p, "template")});
  rows.push_back({"serving build", or_dash(js::str(p, "serving_build"))});
  rows.push_back({"version policy", js::str(p, "version_policy")});
  rows.push_back({"machines", pool_counts_text(p)});
  rows.push_back(
      {"min / max ready", number_or(p, "min_ready", "-") + " / " + number_or(p, "max_ready", "-")});
  rows.push_back({"cpus", number_or(p, "cpu_count", "the template's")});
  rows.push_back({"memory MB", number_or(p, "memory_mb", "the template's")});
  rows.push_back({"max idle ms", number_or(p, "max_idle_ms", "-")});
  rows.push_back({"created", or_dash(js::str(p, "created_at"))});
  rows.push_back({"updated", or_dash(js::str(p, "updated_at"))});
  return table(rows);
}

std::string pools_table(const std::vector<js::element>& pools) {
  std::vector<std::vector<std::string>> rows{
      {"NAME", "ID", "STATE", "READY", "STARTING", "IN USE", "FAILED", "MIN", "MAX", "TEMPLATE"}};
  for (auto p : pools)
    rows.push_back({js::str(p, "name"), js::str(p, "id"), js::str(p, "state"), count(p, "ready"),
                    count(p, "starting"), count(p, "in_use"), count(p, "failed"),
                    number_or(p, "min_ready", "-"), number_or(p, "max_ready", "-"),
                    js::str(p, "template")});
  return table(rows);
}

std::string checkout_line(js::element machine) {
  auto c = js::get(machine, "warm_pool_checkout");
  if (!c || c->is_null()) return {};
  auto result = js::str(*c, "result");
  auto s = "warm pool " + or_dash(js::str(*c, "pool_id")) + ": " + result;
  if (result == "hit")
    s += " (waited " + std::to_string(js::num(*c, "waited_ms")) + " ms)";
  else if (auto reason = js::str(*c, "reason"); !reason.empty())
    s += ": " + reason;
  return s;
}

}  // namespace nullspace::cli

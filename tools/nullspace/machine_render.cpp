#include "tools/nullspace/machine_render.hpp"

#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/template_render.hpp"

namespace nullspace::cli {
namespace {

// A resource field: in the Machine's "resources" object, or at its top level.
std::optional<js::element> resource(js::element m, std::string_view key) {
  if (auto r = js::get(m, "resources"); r && !r->is_null())
    if (auto v = js::get(*r, key)) return v;
  return js::get(m, key);
}

std::string resources_text(js::element m) {
  std::string s;
  auto add = [&s](const std::string& part) { s += (s.empty() ? "" : ", ") + part; };
  int64_t n;
  if (auto v = resource(m, "cpu_count"); v && v->get(n) == simdjson::SUCCESS && n > 0)
    add(std::to_string(n) + (n == 1 ? " cpu" : " cpus"));
  if (auto v = resource(m, "memory_mb"); v && v->get(n) == simdjson::SUCCESS && n > 0)
    add(std::to_string(n) + " MB memory");
  if (auto v = resource(m, "disk_mb"); v && v->get(n) == simdjson::SUCCESS && n > 0)
    add(std::to_string(n) + " MB disk");
  bool internet = true;
  if (auto v = resource(m, "internet_access"); v && v->get(internet) != simdjson::SUCCESS)
    internet = true;
  add(internet ? "internet" : "no internet");
  return s;
}

std::vector<std::string> pairs(js::element m, std::string_view key) {
  std::vector<std::string> out;
  simdjson::dom::object o;
  if (auto v = js::get(m, key); v && v->get(o) == simdjson::SUCCESS)
    for (auto [k, val] : o) {
      std::string_view s;
      out.push_back(std::string(k) + "=" +
                    (val.get(s) == simdjson::SUCCESS ? std::string(s) : simdjson::minify(val)));
    }
  return out;
}

std::string joined(const std::vector<std::string>& v, const char* sep) {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

std::string or_dash(const std::string& s) {
  return s.empty() ? "-" : s;
}

std::string template_of(js::element m) {
  auto ref = js::str(m, "canonical_ref");
  return ref.empty() ? js::str(m, "template") : ref;
}

}  // namespace

std::string machine_summary(js::element m) {
  auto id = js::str(m, "id");
  auto state = js::str(m, "state");
  std::string s = "machine " + id + " " + state;
  if (state == "failed") {
    if (auto f = js::get(m, "failure"); f && !f->is_null())
      s += ": " + js::str(*f, "code") + ": " + js::str(*f, "message");
  } else if (state == "stopped" || state == "stopping") {
    auto reason = js::str(m, "stop_reason");
    if (!reason.empty()) s += " (" + reason + ")";
  } else {
    auto ref = template_of(m);
    if (!ref.empty()) s += ": " + ref;
  }
  return s;
}

std::vector<std::string> port_lines(js::element m, const std::string& server) {
  std::vector<std::string> out;
  for (auto p : js::items(m, "ports")) {
    auto url = js::str(p, "url");
    out.push_back(std::to_string(js::num(p, "port")) + "  " +
                  (url.starts_with("/") ? server + url : url));
  }
  return out;
}

std::string machine_details(js::element m, const std::string& server) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"machine", js::str(m, "id")});
  rows.push_back({"state", js::str(m, "state")});
  auto requested = js::str(m, "template");
  auto canonical = js::str(m, "canonical_ref");
  rows.push_back({"template", canonical.empty() || canonical == requested
                                  ? or_dash(requested)
                                  : requested + " -> " + canonical});
  rows.push_back({"resources", resources_text(m)});
  rows.push_back({"envs", or_dash(joined(js::strings(m, "envs"), ", "))});
  rows.push_back({"labels", or_dash(joined(pairs(m, "labels"), ", "))});
  rows.push_back({"created", or_dash(js::str(m, "created_at"))});
  rows.push_back({"ready", or_dash(js::str(m, "ready_at"))});
  rows.push_back({"timeout at", or_dash(js::str(m, "timeout_at"))});
  rows.push_back({"finished", or_dash(js::str(m, "finished_at"))});
  if (auto reason = js::str(m, "stop_reason"); !reason.empty())
    rows.push_back({"stop reason", reason});
  if (auto f = js::get(m, "failure"); f && !f->is_null()) {
    rows.push_back({"failure", js::str(*f, "code") + ": " + js::str(*f, "message")});
    for (auto& l : js::strings(*f, "last_lines")) rows.push_back({"", "  " + l});
  }
  auto ports = port_lines(m, server);
  if (ports.empty()) rows.push_back({"ports", "-"});
  for (size_t i = 0; i < ports.size(); ++i) rows.push_back({i == 0 ? "ports" : "", ports[i]});
  return table(rows);
}

std::string machines_table(const std::vector<js::element>& machines) {
  std::vector<std::vector<std::string>> rows{
      {"ID", "STATE", "TEMPLATE", "CREATED", "TIMEOUT AT", "LABELS"}};
  for (auto m : machines)
    rows.push_back({js::str(m, "id"), js::str(m, "state"), or_dash(template_of(m)),
                    or_dash(js::str(m, "created_at")), or_dash(js::str(m, "timeout_at")),
                    or_dash(joined(pairs(m, "labels"), ","))});
  return table(rows);
}

int machine_exit_code(js::element m) {
  return js::str(m, "state") == "failed" ? exit_failed : exit_ok;
}

}  // namespace nullspace::cli

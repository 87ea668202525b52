#include "tools/nullspace/template_render.hpp"

#include <algorithm>

namespace nullspace::cli {
namespace {

// "tag -> tb_…", one per tag.
std::vector<std::string> tag_lines(js::element t) {
  std::vector<std::string> out;
  if (auto tags = js::get(t, "tags")) {
    simdjson::dom::object o;
    if (tags->get(o) == simdjson::SUCCESS)
      for (auto [tag, build] : o) {
        std::string_view id;
        out.push_back(std::string(tag));
        if (build.get(id) == simdjson::SUCCESS) out.back() += " -> " + std::string(id);
      }
  }
  return out;
}

std::string tag_names(js::element t) {
  std::string s;
  if (auto tags = js::get(t, "tags")) {
    simdjson::dom::object o;
    if (tags->get(o) == simdjson::SUCCESS)
      for (auto [tag, build] : o) s += (s.empty() ? "" : ",") + std::string(tag);
  }
  return s.empty() ? "-" : s;
}

std::string joined(const std::vector<std::string>& v, const char* sep = ", ") {
  std::string s;
  for (auto& x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

}  // namespace

std::string template_ref(js::element t) {
  auto ns = js::str(t, "namespace");
  return (ns.empty() ? "" : ns + "/") + js::str(t, "name");
}

std::string template_details(js::element t) {
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"template", template_ref(t)});
  rows.push_back({"visibility", js::str(t, "visibility")});
  rows.push_back({"created", js::str(t, "created_at")});
  auto tags = tag_lines(t);
  if (tags.empty()) rows.push_back({"tags", "-"});
  for (size_t i = 0; i < tags.size(); ++i) rows.push_back({i == 0 ? "tags" : "", tags[i]});
  auto aliases = js::strings(t, "aliases");
  rows.push_back({"aliases", aliases.empty() ? "-" : joined(aliases)});
  auto latest = js::get(t, "latest_ready_build");
  rows.push_back({"latest ready", latest && !latest->is_null()
                                      ? js::str(*latest, "canonical_ref") + " (" +
                                            js::str(*latest, "finished_at") + ")"
                                      : "-"});
  if (auto r = js::get(t, "resolved"); r && !r->is_null())
    rows.push_back({"resolved", js::str(*r, "canonical_ref")});
  return table(rows);
}

std::string templates_table(const std::vector<js::element>& templates) {
  std::vector<std::vector<std::string>> rows{{"NAME", "VISIBILITY", "TAGS", "LATEST READY BUILD"}};
  for (auto t : templates) {
    auto latest = js::get(t, "latest_ready_build");
    rows.push_back({template_ref(t), js::str(t, "visibility"), tag_names(t),
                    latest && !latest->is_null() ? js::str(*latest, "id") : "-"});
  }
  return table(rows);
}

std::string builds_table(const std::vector<js::element>& builds) {
  std::vector<std::vector<std::string>> rows{
      {"ID", "STATUS", "BACKEND", "TAGS", "CREATED", "DETAIL"}};
  for (auto b : builds) {
    auto tags = js::strings(b, "current_tags");
    std::string detail;
    auto status = js::str(b, "status");
    if (status == "error") {
      if (auto e = js::get(b, "error"); e && !e->is_null())
        detail = js::str(*e, "code") + ": " + js::str(*e, "message");
    } else if (status == "cancelled") {
      detail = js::str(b, "cancel_reason");
    } else if (status == "ready") {
      detail = js::str(b, "artifact_availability");
    }
    if (detail.size() > 80) detail = detail.substr(0, 77) + "...";
    rows.push_back({js::str(b, "id"), status, js::str(b, "build_backend"),
                    tags.empty() ? "-" : joined(tags, ","), js::str(b, "created_at"),
                    detail.empty() ? "-" : detail});
  }
  return table(rows);
}

std::string table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (auto& r : rows)
    for (size_t i = 0; i < r.size(); ++i) {
      if (width.size() <= i) width.push_back(0);
      width[i] = std::max(width[i], r[i].size());
    }
  std::string out;
  for (auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line.append(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace nullspace::cli

#include "tools/nullspace/paged_list.hpp"

#include <memory>

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {

std::string query(const query_params& params) {
  std::string q;
  for (auto& [k, v] : params) {
    if (v.empty()) continue;
    q += (q.empty() ? "?" : "&") + k + "=" + encode_component(v);
  }
  return q;
}

void add_page_flags(CLI::App* cmd, page_flags& p) {
  cmd->add_option("--limit", p.limit, "At most this many per page")->check(CLI::PositiveNumber);
  cmd->add_option("--cursor", p.cursor, "Continue from a previous page's next_cursor");
  cmd->add_flag("--all", p.all, "Fetch every page");
  add_json_flag(*cmd, p.json);
}

int list_pages(api_client& api, const std::string& path, query_params params, const page_flags& p,
               const std::string& key, std::string (*render)(const std::vector<js::element>&)) {
  if (p.limit > 0) params.emplace_back("limit", std::to_string(p.limit));
  std::string cursor = p.cursor;
  std::vector<std::unique_ptr<js::document>> pages;
  std::vector<js::element> items;
  std::string next;
  while (true) {
    auto q = params;
    q.emplace_back("cursor", cursor);
    pages.push_back(std::make_unique<js::document>(api.get(path + query(q))));
    auto& d = *pages.back();
    for (auto e : js::items(d.root(), key)) items.push_back(e);
    next = js::str(d.root(), "next_cursor");
    if (!p.all || next.empty()) break;
    cursor = next;
  }
  auto& term = terminal::get();
  if (p.json) {
    json::writer w;
    w.begin_object().key(key).begin_array();
    for (auto e : items) w.raw(js::compact(e));
    w.end_array();
    if (next.empty())
      w.field_null("next_cursor");
    else
      w.field("next_cursor", next);
    w.end_object();
    term.out_line(std::move(w).str());
    return exit_ok;
  }
  term.out(render(items));
  if (!next.empty()) term.err_line("more: --cursor " + next + " (or --all)");
  return exit_ok;
}

}  // namespace nullspace::cli

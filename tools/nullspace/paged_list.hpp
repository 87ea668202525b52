// Listing commands over the API's paged answers ({key: [...], "next_cursor"}):
// --limit/--cursor/--all flags, query strings, and printing every page's
// items as a table or as one JSON document.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "tools/nullspace/api_client.hpp"
#include "tools/nullspace/json_util.hpp"

namespace nullspace::cli {

using query_params = std::vector<std::pair<std::string, std::string>>;

// "?k=v&…" of the params with a value (values percent-encoded); "" if none.
std::string query(const query_params& params);

struct page_flags {
  int64_t limit = 0;
  std::string cursor;
  bool all = false;
  bool json = false;
};

// --limit, --cursor, --all and --json.
void add_page_flags(CLI::App* cmd, page_flags& p);

// GETs `path` + params, page after page with `all`; prints `key`'s items as
// a table or one JSON document {key: [...], "next_cursor": …}. Without `all`
// a further page is announced on stderr.
int list_pages(api_client& api, const std::string& path, query_params params, const page_flags& p,
               const std::string& key, std::string (*render)(const std::vector<js::element>&));

}  // namespace nullspace::cli

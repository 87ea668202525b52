// Printing the log of an object that has one — a machine, a warm pool — from
// its SSE route (GET …/logs): a replay from an offset, or with `follow` live
// entries until the object ends (its `end` event), reconnecting with
// Last-Event-ID when the connection drops.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "tools/nullspace/api_client.hpp"
#include "tools/nullspace/json_util.hpp"

namespace nullspace::cli {

struct followed_log {
  std::string what;  // "machine m_…": for messages
  std::string path;  // the route without a query: "/v1/machines/m_…/logs"
  std::string key;   // the end object's key in --json output: "machine", "warm_pool"
  // With --follow, once it ended: the line printed last and the exit code.
  std::function<std::string(js::element)> end_line;
  std::function<int(js::element)> end_code;
};

struct log_print_options {
  uint64_t offset = 0;
  bool follow = false;
  bool json = false;  // entries as JSON lines; the end object as {key: …}
};

// Prints entries as they come; returns the exit code (0 for a replay).
int print_log(api_client& api, const followed_log& log, const log_print_options& o);

}  // namespace nullspace::cli

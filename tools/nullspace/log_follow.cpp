#include "tools/nullspace/log_follow.hpp"

#include <chrono>
#include <exception>
#include <optional>
#include <thread>

#include "tools/nullspace/build_render.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

using namespace std::chrono_literals;

// Reconnects this many times in a row without receiving anything before
// giving up (about a minute with the backoff below).
constexpr int max_reconnects = 35;

struct log_state {
  std::optional<uint64_t> last;    // offset of the last entry printed
  std::optional<std::string> end;  // the object of the `end` event
  std::exception_ptr failure;      // not thrown through libcurl's frames
};

std::function<bool(const sse_event&)> handler(log_state& st, bool json) {
  return [&st, json](const sse_event& ev) {
    try {
      if (ev.event == "log") {
        if (!ev.id.empty()) st.last = std::stoull(ev.id);
        if (json) {
          terminal::get().out_line(ev.data);
        } else {
          js::document d(ev.data);
          terminal::get().out_line(format_entry(d.root()));
        }
      } else if (ev.event == "end") {
        st.end = ev.data;
        return false;
      }
      return true;
    } catch (...) {
      st.failure = std::current_exception();
      return false;
    }
  };
}

}  // namespace

int print_log(api_client& api, const followed_log& log, const log_print_options& o) {
  log_state st;
  auto on_event = handler(st, o.json);
  int failures = 0;
  bool connected = false;
  while (true) {
    std::string path = log.path + (o.follow ? "?follow=true" : "?");
    std::vector<std::string> headers;
    if (st.last)
      headers.push_back("Last-Event-ID: " + std::to_string(*st.last));
    else
      path += (o.follow ? "&offset=" : "offset=") + std::to_string(o.offset);
    auto seen_before = st.last;
    std::string reason;
    try {
      // A quiet log may send nothing for long: no stall limit.
      auto out = api.events("GET", path, "", headers, on_event, {}, 0);
      connected = true;
      reason = out.error.empty() ? "the server ended the log stream early" : out.error;
    } catch (const unreachable_error& e) {
      if (!connected) throw;  // never reached: nothing to resume
      reason = e.what();
    }
    if (st.failure) std::rethrow_exception(st.failure);
    if (st.end || !o.follow) break;
    if (st.last != seen_before) failures = 0;  // progress: the connection works
    if (++failures > max_reconnects)
      throw unreachable_error("lost the log stream of " + log.what + " (" + reason + ")");
    if (failures == 1) terminal::get().error(reason + "; reconnecting to " + log.what + "'s log");
    std::this_thread::sleep_for(std::min(250ms * (1 << std::min(failures - 1, 3)), 2000ms));
  }
  if (!st.end) return exit_ok;
  js::document d(*st.end);
  if (o.json)
    terminal::get().out_line("{\"" + log.key + "\":" + js::compact(d.root()) + "}");
  else if (o.follow)
    terminal::get().out_line(log.end_line(d.root()));
  return o.follow ? log.end_code(d.root()) : exit_ok;
}

}  // namespace nullspace::cli

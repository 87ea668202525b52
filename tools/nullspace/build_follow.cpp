#include "tools/nullspace/build_follow.hpp"

#include <chrono>
#include <optional>
#include <thread>

#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

using namespace std::chrono_literals;

struct follow_state {
  std::string id;
  std::optional<uint64_t> last;  // offset of the last entry seen
  std::optional<std::string> end;
};

// Reconnects this many times in a row without receiving anything before
// giving up (about a minute with the backoff below).
constexpr int max_reconnects = 35;

std::function<bool(const sse_event&)> handler(follow_state& st, log_view& view) {
  return [&st, &view](const sse_event& ev) {
    if (ev.event == "build") {
      js::document d(ev.data);
      st.id = js::str(d.root(), "id");
      view.started(d.root());
    } else if (ev.event == "log") {
      if (!ev.id.empty()) st.last = std::stoull(ev.id);
      view.entry(ev.data);
    } else if (ev.event == "end") {
      st.end = ev.data;
      return false;
    }
    return true;
  };
}

void sleep_ticking(log_view& view, std::chrono::milliseconds total) {
  auto until = std::chrono::steady_clock::now() + total;
  while (true) {
    auto now = std::chrono::steady_clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(until - now, 250ms));
    view.tick();
  }
}

// Reconnects to the build's log until its `end` event.
int resume(api_client& api, log_view& view, follow_state& st, uint64_t offset, std::string reason) {
  view.following(st.id);
  int failures = 0;
  bool announced = false;
  auto on_event = handler(st, view);
  while (!st.end) {
    if (!reason.empty()) {
      if (++failures > max_reconnects)
        throw unreachable_error("lost the log stream of build " + st.id + " (" + reason +
                                "); the build goes on: nullspace template logs " + st.id +
                                " --follow");
      if (!announced) {
        view.clear();
        terminal::get().error(reason + "; reconnecting to build " + st.id + "'s log");
        announced = true;
      }
      auto backoff =
          std::min(250ms * (1 << std::min(failures - 1, 3)), std::chrono::milliseconds(2000));
      sleep_ticking(view, backoff);
    }
    std::string path = "/v1/builds/" + encode_component(st.id) + "/logs?follow=true";
    std::vector<std::string> headers;
    if (st.last)
      headers.push_back("Last-Event-ID: " + std::to_string(*st.last));
    else
      path += "&offset=" + std::to_string(offset);
    auto seen_before = st.last;
    try {
      auto out = api.events("GET", path, "", headers, on_event, [&view] { view.tick(); });
      if (st.end) break;
      reason = out.error.empty() ? "the server ended the log stream early" : out.error;
    } catch (const unreachable_error& e) {
      reason = e.what();
    }
    if (st.last != seen_before) failures = 0;  // progress: the connection works
  }
  return view.finished(*st.end);
}

}  // namespace

int start_and_follow(api_client& api, log_view& view, const std::string& payload) {
  follow_state st;
  auto out =
      api.events("POST", "/v1/builds", payload, {}, handler(st, view), [&view] { view.tick(); });
  if (st.end) return view.finished(*st.end);
  if (st.id.empty())
    throw unreachable_error("the connection to " + api.server() +
                            " ended before the build was created (" +
                            (out.error.empty() ? std::string("closed") : out.error) + ")");
  return resume(api, view, st, 0,
                out.error.empty() ? "the server ended the log stream early" : out.error);
}

int follow_build(api_client& api, log_view& view, const std::string& id, uint64_t offset,
                 bool follow) {
  follow_state st;
  st.id = id;
  if (follow) return resume(api, view, st, offset, "");
  api.events("GET", "/v1/builds/" + encode_component(id) + "/logs?offset=" + std::to_string(offset),
             "", {}, handler(st, view));
  if (st.end) view.finished(*st.end, false);
  return exit_ok;
}

int wait_build(api_client& api, log_view& view, const std::string& id, int64_t poll_interval_ms) {
  auto base = "/v1/builds/" + encode_component(id);
  js::document first(api.get(base + "?limit=0"));
  auto build = first["build"];
  view.status(build);
  auto next = static_cast<uint64_t>(js::num(build, "log_next_offset"));
  std::string last_json = js::compact(build);
  while (!is_terminal_status(js::str(build, "status"))) {
    sleep_ticking(view, std::chrono::milliseconds(poll_interval_ms));
    js::document d(api.get(base + "?offset=" + std::to_string(next)));
    auto b = d["build"];
    view.status(b);
    next = static_cast<uint64_t>(js::num(d.root(), "next_offset", static_cast<int64_t>(next)));
    last_json = js::compact(b);
    if (is_terminal_status(js::str(b, "status"))) break;
  }
  return view.finished(last_json);
}

}  // namespace nullspace::cli

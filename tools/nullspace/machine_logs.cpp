// nullspace machine logs ID [--follow]: a machine's log (start output, ready
// checks, commands run, state changes) from GET /v1/machines/{id}/logs as an
// SSE stream; --follow keeps it open until the machine ends, reconnecting
// with Last-Event-ID when the connection drops.
#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <thread>

#include "tools/nullspace/build_render.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/machine_paths.hpp"
#include "tools/nullspace/machine_render.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

using namespace std::chrono_literals;

// Reconnects this many times in a row without receiving anything before
// giving up (about a minute with the backoff below).
constexpr int max_reconnects = 35;

struct logs_cmd {
  std::string id;
  int64_t offset = 0;
  bool follow = false, json = false;
};

struct log_state {
  std::optional<uint64_t> last;    // offset of the last entry printed
  std::optional<std::string> end;  // the Machine of the `end` event
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

int run_logs(const logs_cmd& c, const server_options& server) {
  api_client api(server);
  log_state st;
  auto on_event = handler(st, c.json);
  int failures = 0;
  bool connected = false;
  while (true) {
    std::string path = machine_path(c.id, c.follow ? "/logs?follow=true" : "/logs?");
    std::vector<std::string> headers;
    if (st.last)
      headers.push_back("Last-Event-ID: " + std::to_string(*st.last));
    else
      path += (c.follow ? "&offset=" : "offset=") + std::to_string(c.offset);
    auto seen_before = st.last;
    std::string reason;
    try {
      // A quiet machine's log may send nothing for long: no stall limit.
      auto out = api.events("GET", path, "", headers, on_event, {}, 0);
      connected = true;
      reason = out.error.empty() ? "the server ended the log stream early" : out.error;
    } catch (const unreachable_error& e) {
      if (!connected) throw;  // never reached: nothing to resume
      reason = e.what();
    }
    if (st.failure) std::rethrow_exception(st.failure);
    if (st.end || !c.follow) break;
    if (st.last != seen_before) failures = 0;  // progress: the connection works
    if (++failures > max_reconnects)
      throw unreachable_error("lost the log stream of machine " + c.id + " (" + reason + ")");
    if (failures == 1) terminal::get().error(reason + "; reconnecting to " + c.id + "'s log");
    std::this_thread::sleep_for(std::min(250ms * (1 << std::min(failures - 1, 3)), 2000ms));
  }
  if (!st.end) return exit_ok;
  js::document d(*st.end);
  if (c.json)
    terminal::get().out_line("{\"machine\":" + js::compact(d.root()) + "}");
  else if (c.follow)
    terminal::get().out_line(machine_summary(d.root()));
  return c.follow ? machine_exit_code(d.root()) : exit_ok;
}

}  // namespace

void add_machine_logs_command(CLI::App& machine, app_context& ctx) {
  auto c = std::make_shared<logs_cmd>();
  auto* l = machine.add_subcommand(
      "logs", "Print a machine's log; --follow keeps streaming until the machine ends");
  l->add_option("ID", c->id, "The machine (m_…)")->required();
  l->add_flag("-f,--follow", c->follow, "Stream new entries until the machine stops or fails");
  l->add_option("--offset", c->offset, "First log offset to print")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_json_flag(*l, c->json);
  l->footer(R"(With --json every entry is one JSON line (it carries its offset); with --follow
{"machine": …} comes last, once the machine has ended.
With --follow the exit code is 0 when the machine stopped, 1 when it failed.
Examples:
  nullspace machine logs m_...
  nullspace machine logs m_... --follow)");
  l->callback([&ctx, c] { ctx.action = [&ctx, c] { return run_logs(*c, ctx.server); }; });
}

}  // namespace nullspace::cli

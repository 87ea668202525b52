// nullspace machine exec ID [flags] -- CMD ARGS…: runs one command in a
// machine (POST /v1/machines/{id}/commands), writes its stdout and stderr to
// ours, and exits with its exit code. --stream prints output as it comes
// (the SSE form); stdin that is not a terminal becomes the command's stdin.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/cli_error.hpp"
#include "tools/nullspace/commands.hpp"
#include "tools/nullspace/flag_values.hpp"
#include "tools/nullspace/json_util.hpp"
#include "tools/nullspace/machine_paths.hpp"
#include "tools/nullspace/terminal.hpp"

namespace nullspace::cli {
namespace {

// The exit code when the command could not start at all (no such program, a
// bad cwd or user), as shells and env(1) answer for a command not found.
constexpr int exit_not_started = 127;

struct exec_cmd {
  std::string id, cwd, user, timeout;
  std::vector<std::string> envs, argv;
  bool stream = false, shell = false, no_stdin = false, json = false;
  bool dashdash = false;  // the command came after `--`
};

// All of stdin, unless it is a terminal (or --no-stdin): "" then.
std::string read_stdin(bool skip) {
  if (skip || ::isatty(0)) return {};
  std::string data;
  char buf[65536];
  while (true) {
    auto n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EBADF) return {};  // no stdin at all
    if (n < 0) throw usage_error("cannot read stdin: " + std::string(std::strerror(errno)));
    if (n == 0) return data;
    data.append(buf, static_cast<size_t>(n));
  }
}

std::string command_request(const exec_cmd& c, const std::string& stdin_data) {
  json::writer w;
  w.begin_object();
  if (c.shell) {
    std::string line;
    for (auto& word : c.argv) line += (line.empty() ? "" : " ") + word;
    w.field("cmd", line).field("shell", true);
  } else {
    w.key("cmd").begin_array();
    for (auto& word : c.argv) w.value(word);
    w.end_array();
  }
  if (!c.envs.empty()) {
    w.key("envs").begin_object();
    for (auto& kv : c.envs) {
      auto [k, v] = key_value(kv, "--env");
      w.field(k, v);
    }
    w.end_object();
  }
  if (!c.cwd.empty()) w.field("cwd", c.cwd);
  if (!c.user.empty()) w.field("user", c.user);
  if (!c.timeout.empty()) w.field("timeout_ms", duration_ms(c.timeout, "--timeout"));
  if (!stdin_data.empty()) w.field("stdin", stdin_data);
  w.end_object();
  return std::move(w).str();
}

// The CLI's exit code for a command result R; with `notes`, why the command
// ended other than by itself goes to stderr (`own_timeout`: --timeout was given).
int exit_status(js::element r, bool notes, bool own_timeout) {
  auto& term = terminal::get();
  auto error = js::str(r, "error");
  if (!error.empty()) {
    if (notes) term.error("the command could not start: " + error);
    return exit_not_started;
  }
  if (notes) {
    if (js::boolean(r, "timed_out"))
      term.error(own_timeout ? "the command timed out and was killed (--timeout)"
                             : "the command ran past the server's default timeout and was "
                               "killed (--timeout gives it longer)");
    else if (js::boolean(r, "killed"))
      term.error("the command was killed");
    if (js::boolean(r, "oom")) term.error("the machine ran out of memory while the command ran");
    if (js::boolean(r, "truncated"))
      term.error("the command's output was truncated (the server keeps a limited amount)");
  }
  auto code = js::num(r, "exit_code", -1);
  return code >= 0 && code <= 255 ? static_cast<int>(code) : exit_failed;
}

int run_whole(api_client& api, const exec_cmd& c, const std::string& request) {
  auto body = api.post_waiting(machine_path(c.id, "/commands"), request);
  js::document d(body);
  auto& term = terminal::get();
  if (c.json) {
    term.out_line(body);
    return exit_status(d.root(), false, false);
  }
  term.out(js::str(d.root(), "stdout"));
  term.err(js::str(d.root(), "stderr"));
  return exit_status(d.root(), true, !c.timeout.empty());
}

int run_streamed(api_client& api, const exec_cmd& c, const std::string& request) {
  auto& term = terminal::get();
  std::optional<int> code;
  std::exception_ptr failure;  // not thrown through libcurl's frames
  auto on_event = [&](const sse_event& ev) {
    try {
      if (ev.event == "stdout" || ev.event == "stderr") {
        js::document d(ev.data);
        auto text = js::str(d.root(), "data");
        ev.event == "stdout" ? term.out(text) : term.err(text);
      } else if (ev.event == "exit") {
        js::document d(ev.data);
        code = exit_status(d.root(), true, !c.timeout.empty());
        return false;
      } else if (ev.event == "error") {
        js::document d(ev.data);
        auto message = js::str(d["error"], "message");
        throw cli_error(exit_failed, message.empty() ? ev.data : message);
      }
      return true;
    } catch (...) {
      failure = std::current_exception();
      return false;
    }
  };
  auto out = api.events("POST", machine_path(c.id, "/commands"), request, {}, on_event, {}, 0);
  if (failure) std::rethrow_exception(failure);
  if (code) return *code;
  throw unreachable_error("the connection to " + api.server() + " ended before the command did (" +
                          (out.error.empty() ? std::string("closed") : out.error) +
                          "); it may still be running in " + c.id);
}

int run_exec(exec_cmd& c, const server_options& server) {
  if (c.argv.empty())
    throw usage_error("give the command after --: nullspace machine exec ID -- CMD ARGS...");
  if (!c.dashdash)
    throw usage_error("put the command after --: nullspace machine exec " + c.id + " -- " +
                      c.argv.front() + (c.argv.size() > 1 ? " ..." : ""));
  if (c.stream && c.json)
    throw usage_error("--stream prints output as it comes; --json at the end");
  if (!c.cwd.empty() && c.cwd.front() != '/')
    throw usage_error("--cwd takes an absolute path inside the machine, got '" + c.cwd + "'");
  auto stdin_data = read_stdin(c.no_stdin);
  if (!json::valid_utf8(stdin_data))
    throw usage_error(
        "stdin is not UTF-8 text, and the API takes stdin as a JSON string: copy binary data into "
        "the machine with `nullspace machine cp` (or pass --no-stdin)");
  auto request = command_request(c, stdin_data);
  api_client api(server);
  return c.stream ? run_streamed(api, c, request) : run_whole(api, c, request);
}

}  // namespace

void add_machine_exec_command(CLI::App& machine, app_context& ctx) {
  auto c = std::make_shared<exec_cmd>();
  auto* x = machine.add_subcommand("exec", "Run a command in a machine; exit with its exit code");
  x->add_option("ID", c->id, "The machine (m_…)")->required();
  // Parsed by CLI11 only to be accepted: the words themselves are taken from
  // the command line as given (CLI11 would read "[a,b]" as a list).
  x->add_option("CMD", c->argv, "The command and its arguments, after --");
  x->add_flag("--stream", c->stream, "Print output as it comes (else all of it at the end)");
  x->add_flag("--shell", c->shell, "Join the words into one line run by /bin/sh -c");
  x->add_option("--env", c->envs, "An environment variable of the command (repeatable)")
      ->type_name("KEY=VALUE");
  x->add_option("--cwd", c->cwd, "Its working directory (default: the template's)")
      ->type_name("DIR");
  x->add_option("--user", c->user, "The user it runs as (default: the template's)")
      ->type_name("USER");
  x->add_option("--timeout", c->timeout,
                "Kill it after this long (1500 = ms, 90s, 5m; the server's default: 60s)")
      ->type_name("DURATION");
  x->add_flag("--no-stdin", c->no_stdin, "Do not send stdin, even when it is not a terminal");
  add_json_flag(*x, c->json);
  x->footer(R"(Without --shell the words after -- are the program and its arguments (no shell);
with --shell they are joined with spaces into one line for /bin/sh -c.
When stdin is not a terminal it is read to its end and sent as the command's stdin.
Exit code: the command's (128+N when signal N ended it); 127 if it could not start;
1 if the server refused (unknown machine, not running), 2 usage, 3 server unreachable.
Examples:
  nullspace machine exec m_... -- python3 -c 'print(1 + 1)'
  nullspace machine exec m_... --shell -- 'cd /app && ls | wc -l'
  nullspace machine exec m_... --stream --timeout 10m -- make test
  echo hello | nullspace machine exec m_... -- cat)");
  x->callback([&ctx, c] {
    // The first "--" is where CLI11 stopped reading options, too.
    auto& words = ctx.args;
    auto dashdash = std::find(words.begin(), words.end(), "--");
    c->dashdash = dashdash != words.end();
    if (c->dashdash) {
      if (std::find(words.begin(), dashdash, c->id) == dashdash)
        throw CLI::ValidationError("ID", "give the machine's id before --");
      c->argv.assign(dashdash + 1, words.end());
    }
    ctx.action = [&ctx, c] { return run_exec(*c, ctx.server); };
  });
}

}  // namespace nullspace::cli

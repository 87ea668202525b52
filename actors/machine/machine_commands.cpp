// Commands run in a machine (POST /v1/machines/{id}/commands): started through
// the driver's exec, their output captured (capped per stream) and/or streamed
// to the caller, their end logged (the command and its exit code and duration,
// never its output). A timeout kills the command's whole process tree, not the
// machine.

#include <algorithm>
#include <chrono>

#include "actors/machine/machine_internal.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors::machine_detail {
namespace {

using std::chrono::milliseconds;

constexpr uint64_t default_timeout_ms = 60'000;  // foreground commands that name none

std::string shown_command(const command_request& r) {
  std::string out;
  if (!r.argv.empty()) {
    for (auto& a : r.argv) out += (out.empty() ? "" : " ") + a;
  } else {
    out = r.cmd;
  }
  if (out.size() > 200) out = out.substr(0, 200) + "…";
  return out;
}

// Appends `data` to `buf` up to `cap` bytes; true if something was cut off.
bool capped_append(std::string& buf, std::string_view data, size_t cap) {
  size_t room = buf.size() < cap ? cap - buf.size() : 0;
  buf.append(data.substr(0, room));
  return data.size() > room;
}

// Runs `fn` in the actor, from a driver thread.
void in_actor(const machine_actor& me, std::function<void()> fn) {
  caf::anon_send(me, call_atom::value, continuation{std::move(fn)});
}

void on_output(machine_ptr self, uint64_t seq, runtime::command_stream which, std::string data) {
  auto& st = self->state;
  auto it = st.commands.find(seq);
  if (it == st.commands.end()) return;
  auto& c = it->second;
  auto cap = st.ctx->config.machines.max_output_bytes;
  auto& buf = which == runtime::command_stream::out ? c.out : c.err;
  auto before = buf.size();
  if (capped_append(buf, data, cap)) c.result.truncated = true;
  if (c.stream) {
    // Streamed output obeys the same cap; the captured copy is not kept.
    std::string_view fresh(buf.data() + before, buf.size() - before);
    auto& cb = which == runtime::command_stream::out ? c.stream->on_stdout : c.stream->on_stderr;
    if (cb && !fresh.empty()) cb(fresh);
    buf.clear();
    if (which == runtime::command_stream::out)
      c.result.stdout_next += fresh.size();
    else
      c.result.stderr_next += fresh.size();
  }
}

void on_exit(machine_ptr self, uint64_t seq, runtime::command_exit ex) {
  auto& st = self->state;
  auto it = st.commands.find(seq);
  if (it == st.commands.end()) return;
  auto& c = it->second;
  c.ended = true;
  c.handle.reset();
  auto& r = c.result;
  r.running = false;
  r.exit_code = ex.exit_code;
  r.killed = c.killed || (ex.killed && !c.timed_out);
  r.timed_out = c.timed_out;
  r.oom = ex.oom;
  r.error = ex.start_error;
  r.duration_ms = static_cast<uint64_t>(std::max<int64_t>(0, storage::now_ms() - c.started_ms));
  st.ctx->machine_stats.command_run();

  std::string how = !ex.start_error.empty() ? "could not start: " + ex.start_error
                    : c.timed_out
                        ? "timed out after " + std::to_string(r.duration_ms) + " ms (killed)"
                    : c.killed ? "killed"
                               : "exit " + std::to_string(r.exit_code);
  auto e =
      make_entry("command", r.exit_code == 0 ? "info" : "warn",
                 "command `" + shown_command(c.request) + "`: " + how + " in " +
                     std::to_string(r.duration_ms) + " ms" + (r.oom ? " (out of memory)" : ""));
  st.log->add(std::move(e));

  if (!c.stream) {
    r.stdout_data = c.out;
    r.stderr_data = c.err;
    r.stdout_next = c.out.size();
    r.stderr_next = c.err.size();
  }
  if (c.done) c.done->deliver(command_reply{std::nullopt, r});
  if (c.stream && c.stream->on_exit) c.stream->on_exit(r);
  if (c.request.background) {
    st.finished.push_back(seq);
    while (st.finished.size() > finished_commands_kept) {
      st.commands.erase(st.finished.front());
      st.finished.pop_front();
    }
  } else {
    st.commands.erase(it);
  }
}

std::optional<error> check_request(const command_request& r) {
  if (r.argv.empty() && r.cmd.empty())
    return make_error(errc::invalid_argument, "a command needs `cmd` (or `argv`)", "cmd");
  if (!r.argv.empty() && !r.cmd.empty())
    return make_error(errc::invalid_argument, "give either `cmd` or `argv`, not both", "argv");
  if (!r.cwd.empty() && r.cwd[0] != '/')
    return make_error(errc::invalid_argument, "cwd must be an absolute path", "cwd");
  return std::nullopt;
}

}  // namespace

void run_command(machine_ptr self, command_job& job,
                 caf::typed_response_promise<command_reply> rp) {
  auto& st = self->state;
  if (auto e = usable(st)) {
    rp.deliver(command_reply{*e, {}});
    return;
  }
  auto& req = job.request;
  if (auto e = check_request(req)) {
    rp.deliver(command_reply{*e, {}});
    return;
  }

  runtime::command_spec spec;
  if (!req.argv.empty())
    spec.argv = req.argv;
  else if (req.shell)
    spec.argv = {"/bin/sh", "-c", req.cmd};
  else
    spec.argv = {req.cmd};
  spec.envs = req.envs;
  spec.cwd = req.cwd;
  spec.user = req.user;
  spec.stdin_data = req.stdin_data;

  uint64_t seq = ++st.next_command;
  auto me = caf::actor_cast<machine_actor>(self);
  runtime::command_callbacks cb;
  cb.on_output = [me, seq, self](runtime::command_stream which, std::string_view data) {
    in_actor(me, [self, seq, which, d = std::string(data)]() mutable {
      on_output(self, seq, which, std::move(d));
    });
  };
  cb.on_exit = [me, seq, self](runtime::command_exit ex) {
    in_actor(me, [self, seq, ex = std::move(ex)]() mutable { on_exit(self, seq, std::move(ex)); });
  };

  running_command c;
  c.id = "c" + std::to_string(seq);
  c.seq = seq;
  c.request = req;
  c.request.stdin_data.clear();  // not kept
  c.stream = job.stream;
  c.started_ms = storage::now_ms();
  c.result.command_id = c.id;
  c.result.running = true;
  auto& slot = st.commands[seq] = std::move(c);

  auto handle = st.ctx->machines->exec(st.rec.id, spec, std::move(cb));
  if (!handle) {
    st.commands.erase(seq);
    {
      rp.deliver(command_reply{handle.error(), {}});
      return;
    }
  }
  slot.handle = std::move(handle.value());

  uint64_t timeout = req.timeout_ms ? *req.timeout_ms : (req.background ? 0 : default_timeout_ms);
  if (timeout > 0) self->delayed_send(self, milliseconds(timeout), cmdtime_atom::value, seq);

  if (req.background || job.stream) {
    // Answered now: with its id (background) or once it started (streamed).
    command_result started;
    started.command_id = slot.id;
    started.running = true;
    {
      rp.deliver(command_reply{std::nullopt, started});
      return;
    }
  }
  slot.done = rp;
}

command_reply query_command(machine_ptr self, const command_query& q) {
  auto& st = self->state;
  auto it = std::find_if(st.commands.begin(), st.commands.end(),
                         [&](auto& kv) { return kv.second.id == q.command_id; });
  if (it == st.commands.end() || !it->second.request.background)
    return {make_error(errc::not_found,
                       "no background command " + q.command_id + " in machine " + st.rec.id),
            {}};
  auto& c = it->second;
  if (q.kill && !c.ended && c.handle) {
    c.killed = true;
    c.handle->kill();
  }
  auto r = c.result;
  r.running = !c.ended;
  auto from = [](const std::string& buf, uint64_t off) {
    return off >= buf.size() ? std::string() : buf.substr(off);
  };
  r.stdout_data = from(c.out, q.stdout_offset);
  r.stderr_data = from(c.err, q.stderr_offset);
  r.stdout_next = c.out.size();
  r.stderr_next = c.err.size();
  r.killed = c.killed;
  return {std::nullopt, r};
}

void command_timed_out(machine_ptr self, uint64_t seq) {
  auto& st = self->state;
  auto it = st.commands.find(seq);
  if (it == st.commands.end() || it->second.ended || !it->second.handle) return;
  it->second.timed_out = true;
  it->second.handle->kill();
}

void kill_all_commands(machine_ptr self) {
  for (auto& [seq, c] : self->state.commands)
    if (!c.ended && c.handle) {
      c.killed = true;
      c.handle->kill();
    }
}

}  // namespace nullspace::actors::machine_detail

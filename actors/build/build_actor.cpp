#include "actors/build/build_actor.hpp"

#include <charconv>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "actors/build/build_internal.hpp"
#include "actors/build/build_state.hpp"
#include "actors/build/sandbox_worker.hpp"
#include "actors/registry/template_reads.hpp"
#include "runtime/context/context_copy.hpp"
#include "runtime/dockerfile/dockerfile.hpp"
#include "runtime/plan/onbuild.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/request/file_mode.hpp"
#include "runtime/sandbox/runtime_refusal.hpp"
#include "runtime/sandbox/secret_files.hpp"
#include "runtime/sandbox/step_commands.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/sha256.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace build_detail {

log_entry make_entry(std::string kind, std::string level, std::string message, int32_t step,
                     std::string phase) {
  log_entry e;
  e.kind = std::move(kind);
  e.level = std::move(level);
  e.message = std::move(message);
  e.step = step;
  e.phase = std::move(phase);
  return e;
}

log_entry status_entry(build_status s, std::string message) {
  auto e = make_entry("status", "info", std::move(message));
  e.status = storage::to_string(s);
  return e;
}

// Appends without waiting for the acknowledgement, at most `max_in_flight` at a
// time: output that arrives meanwhile is held and goes out as ONE append when an
// acknowledgement returns. That bounds what a chatty build queues at the hub and
// turns a flood of small appends into a few large ones. The hub orders appends
// by arrival, and held entries always go out before anything newer.
constexpr size_t max_in_flight = 4;

// Output of a step not yet durable, at most: past it the runner stops reading
// the step's pipes until appends complete (process_runner.hpp), so a chatty
// step waits for the store instead of growing the engine's memory.
constexpr size_t output_window_bytes = 8 << 20;

// What the entries' output lines count for in the runner's window.
size_t output_bytes(const std::vector<log_entry>& entries) {
  size_t n = 0;
  for (auto& e : entries)
    if (!e.stream.empty()) n += e.message.size() + runtime::process_runner::line_overhead_bytes;
  return n;
}

// The held entries followed by `entries`: what the next append must carry so
// that nothing newer overtakes held output.
std::vector<log_entry> take_held_then(build_state& st, std::vector<log_entry> entries) {
  auto out = std::move(st.held);
  st.held.clear();
  out.insert(out.end(), std::make_move_iterator(entries.begin()),
             std::make_move_iterator(entries.end()));
  return out;
}

void send_append(build_ptr self, std::vector<log_entry> entries, bool with_record) {
  auto& st = self->state;
  append_request req;
  req.build_id = st.rec.id;
  auto all = take_held_then(st, std::move(entries));
  auto output = output_bytes(all);
  req.add(std::move(all));
  if (with_record) req.record = st.rec;
  ++st.in_flight;
  auto id = st.rec.id;
  auto tenant = st.rec.tenant;
  auto on_done = [=] {
    auto& s = self->state;
    --s.in_flight;
    // Lines of an earlier step count for the running one: at most one window
    // more, and only while steps change.
    if (output && s.proc) s.ctx->runner->acknowledge(s.runner_id, output);
    if (!s.held.empty() && !s.finishing && s.in_flight < max_in_flight)
      send_append(self, {}, false);
  };
  self->request(st.ctx->directory.hub(), caf::infinite, append_atom::value, std::move(req))
      .then([=](uint64_t) { on_done(); },
            [=](caf::error& err) {
              logging::build.error(
                  "log append failed",
                  {{"build", id}, {"tenant", tenant}, {"error", caf::to_string(err)}});
              on_done();
            });
}

void append(build_ptr self, std::vector<log_entry> entries, bool with_record) {
  auto& st = self->state;
  // A status change is never held back: it takes the held entries with it.
  if (with_record || st.in_flight < max_in_flight)
    return send_append(self, std::move(entries), with_record);
  st.held.insert(st.held.end(), std::make_move_iterator(entries.begin()),
                 std::make_move_iterator(entries.end()));
}

// Becomes terminal: one append carries the final entries and record; once it is
// durable the cancel promise (if any) is answered, the manager told, and we quit.
void finish(build_ptr self, build_status to, std::vector<log_entry> entries) {
  auto& st = self->state;
  if (st.finishing || !can_transition(st.rec.status, to)) return;
  if (st.worker && !st.cleaned) {
    // Unmount and remove what the sandbox left before the build is terminal;
    // with layers to record, sync them first and then write their cache
    // records (a failed sync only costs a later rebuild: nothing is recorded).
    st.cleaned = true;
    st.finishing = true;
    auto resume = [=]() mutable {
      self->state.finishing = false;
      finish(self, to, std::move(entries));
    };
    // Records of steps that left no files name no layer: nothing of theirs
    // must reach the disk first, so they need no sync of the file system.
    bool new_layers = std::any_of(st.unsynced_cache.begin(), st.unsynced_cache.end(),
                                  [](auto& c) { return !c.second.layer.empty(); });
    if (!new_layers && !st.unsynced_cache.empty()) {
      (void)st.ctx->db->put_cache_batch(st.unsynced_cache, st.rec.id);
      st.unsynced_cache.clear();
    }
    if (st.unsynced_cache.empty()) {
      self->request(st.worker, caf::infinite, cleanup_atom::value, st.rec.id)
          .then([=](bool) mutable { resume(); }, [=](caf::error&) mutable { resume(); });
      return;
    }
    self->request(st.worker, caf::infinite, seal_atom::value, st.rec.id)
        .then(
            [=](bool synced) mutable {
              auto& s = self->state;
              // Failed cache writes only cost a later rebuild.
              if (synced) (void)s.ctx->db->put_cache_batch(s.unsynced_cache, s.rec.id);
              s.unsynced_cache.clear();
              resume();
            },
            [=](caf::error&) mutable { resume(); });
    return;
  }
  st.finishing = true;
  st.rec.status = to;
  st.rec.finished_ms = storage::now_ms();
  st.rec.cache.steps = counted_steps(st.plan);
  if (!st.ctx->sandbox) st.rec.cache.misses = static_cast<uint32_t>(st.steps_run);
  append_request req;
  req.build_id = st.rec.id;
  req.add(take_held_then(st, std::move(entries)));  // held output goes before the end
  req.record = st.rec;
  // Through the template registry: tags attach and retention starts in the
  // same batch as the terminal entry.
  self->request(st.ctx->directory.registry(), caf::infinite, terminal_atom::value, std::move(req))
      .then(
          [=](uint64_t) {
            auto& s = self->state;
            // Tell the manager before answering a cancel: the answer goes through
            // the manager too, so it cannot overtake `finished` there, and a
            // second cancel already sees a terminal build.
            self->send(s.manager, finished_atom::value, s.rec.id);
            if (s.cancel_promise) s.cancel_promise->deliver(build_reply{std::nullopt, s.rec});
            self->quit();
          },
          [=](caf::error& err) {
            // Not durable: die abnormally so the manager recovers the build from the store.
            auto& rec = self->state.rec;
            logging::build.error(
                "terminal append failed",
                {{"build", rec.id}, {"tenant", rec.tenant}, {"error", caf::to_string(err)}});
            self->quit(err);
          });
}

bool server_fault(std::string_view code) {
  return code == "sandbox_failed" || code == "artifact_failed" || code == "internal";
}

void fail(build_ptr self, std::string code, std::string message, int32_t step) {
  auto& st = self->state;
  // Our own machinery failing is the operator's to look at (level=error); a
  // user's step failing is the user's (its error says it all).
  if (server_fault(code))
    logging::build.error(
        "build failed on the server's side",
        {{"build", st.rec.id}, {"tenant", st.rec.tenant}, {"code", code}, {"error", message}});
  else
    logging::build.info("build failed",
                        {{"build", st.rec.id}, {"tenant", st.rec.tenant}, {"code", code}});
  storage::build_failure f;
  f.code = std::move(code);
  f.message = message;
  f.step = step;
  f.last_lines.assign(st.tail.begin(), st.tail.end());
  st.rec.failure = std::move(f);
  std::vector<log_entry> entries;
  entries.push_back(make_entry("error", "error", message, step));
  entries.push_back(status_entry(build_status::error, "build failed"));
  finish(self, build_status::error, std::move(entries));
}

void finish_cancelled(build_ptr self) {
  auto& st = self->state;
  st.rec.cancel_reason = st.cancel_reason;
  auto msg = st.cancel_reason.empty() ? std::string("build cancelled")
                                      : "build cancelled: " + st.cancel_reason;
  auto e = make_entry("cancelled", "warn", msg, st.running_step);
  e.status = "cancelled";
  finish(self, build_status::cancelled, {std::move(e)});
}

bool moved_on(build_ptr self) {
  auto& st = self->state;
  if (st.finishing) return true;
  if (!st.cancel_promise) return false;
  finish_cancelled(self);
  return true;
}

// The values of the secrets a step names, or the sentence saying which id
// was not supplied (in `missing`).
runtime::secret_values_by_id step_secrets(const runtime::build_request& req,
                                          const runtime::build_step& step, std::string& missing) {
  runtime::secret_values_by_id out;
  for (auto& id : step.secrets) {
    auto it = std::find_if(req.secrets.begin(), req.secrets.end(),
                           [&](const runtime::build_secret& s) { return s.id == id; });
    if (it == req.secrets.end()) {
      missing = "secret '" + id + "' was not supplied";
      return {};
    }
    out.emplace_back(id, it->value);
  }
  return out;
}

std::vector<std::string> secret_values(const runtime::build_request& req) {
  std::vector<std::string> out;
  for (auto& s : req.secrets)
    if (!s.value.empty()) out.push_back(s.value);
  if (req.source.auth && !req.source.auth->password.empty())
    out.push_back(req.source.auth->password);
  return out;
}

void run_next_step(build_ptr self);
void launch(build_ptr self, runtime::process_spec spec);

void start_run_step(build_ptr self, const runtime::build_step& step) {
  auto& st = self->state;
  std::error_code ec;
  auto cwd = st.root_dir() + st.cwd;
  fs::create_directories(cwd, ec);
  runtime::process_spec spec;
  spec.argv = {"/bin/sh", "-c", step.cmd};
  spec.cwd = cwd;
  spec.env = {runtime::default_path_env, "HOME=" + st.root_dir(), "NULLSPACE_ROOT=" + st.root_dir(),
              "NULLSPACE_BUILD_ID=" + st.rec.id};
  for (auto& [k, v] : st.env) spec.env.push_back(k + "=" + v);
  if (!step.secrets.empty()) {
    std::string problem;
    auto secrets = step_secrets(st.req, step, problem);
    if (problem.empty()) {
      // Memory only, never inside the data dir.
      st.secrets_dir = "/dev/shm/nullspace-" + st.rec.id + "-" + std::to_string(st.running_step);
      problem = runtime::write_secret_files(st.secrets_dir, secrets);
    }
    if (!problem.empty()) {
      st.remove_secrets_dir();
      return fail(self, "secrets_unavailable",
                  "step " + std::to_string(st.running_step) + ": " + problem, st.running_step);
    }
    spec.env.push_back("NULLSPACE_SECRETS_DIR=" + st.secrets_dir);
  }
  spec.redact = secret_values(st.req);
  launch(self, std::move(spec));
}

// Starts the step's process. Runner callbacks run on the runner thread: turn
// them into messages tagged with this build's own sequence number, so late
// messages of an older process are recognisable without knowing the runner's id.
void launch(build_ptr self, runtime::process_spec spec) {
  auto& st = self->state;
  spec.output_window_bytes = output_window_bytes;
  auto me = caf::actor_cast<build_actor>(self);
  auto seq = ++st.proc_seq;
  st.proc = seq;
  st.kill_attempts = 0;
  st.runner_id = st.ctx->runner->spawn(
      std::move(spec),
      [me, seq](std::vector<runtime::output_line> lines) {
        caf::anon_send(me, lines_atom::value, seq, std::move(lines));
      },
      [me, seq](runtime::process_exit ex) {
        caf::anon_send(me, exited_atom::value, seq, std::move(ex));
      });
}

// "step 2 (run make)": how failures name a step.
std::string step_where(const build_state& st, int32_t step) {
  return "step " + std::to_string(step) + " (" + st.plan.steps[static_cast<size_t>(step)].summary +
         ")";
}

// How a step's process failed, as the end of a sentence (" exited with status
// 2"), or "" if it succeeded. An OCI runtime reports a container killed by a
// signal as exit status 128 + the signal number.
std::string exit_problem(const runtime::process_exit& ex, bool status_carries_signal) {
  if (!ex.spawn_error.empty()) return " could not start: " + ex.spawn_error;
  if (ex.term_signal != 0) return " was killed by signal " + std::to_string(ex.term_signal);
  if (status_carries_signal && ex.exit_status > 128)
    return " was killed by signal " + std::to_string(ex.exit_status - 128);
  if (ex.exit_status != 0) return " exited with status " + std::to_string(ex.exit_status);
  return {};
}

// ---- sandboxed steps (ctx->sandbox) ----------------------------------------

// A step's cache key chained onto everything below it, base image digest
// included: the plan's keys name what a step does, this names what it builds on.
std::string chained_key(const std::string& parent, const std::string& step_key) {
  sha256 h;
  h.update_field(parent).update_field(step_key);
  return "sha256:" + h.hex_digest();
}

log_entry cache_log(int32_t step, const std::string& status, const std::string& key,
                    const std::string& reason) {
  auto e = make_entry("cache", "info",
                      "cache " + status + " " + key + (reason.empty() ? "" : " (" + reason + ")"),
                      step, "step");
  e.cache_status = status;
  e.cache_key = key;
  e.cache_reason = reason;
  return e;
}

std::string layer_name(const std::string& key, const std::string& build_id, size_t step) {
  auto hex = key.substr(key.find(':') + 1, 24);
  return hex + "-" + build_id + "-s" + std::to_string(step);
}

// uid:gid of a USER step: numeric, or looked up in the topmost etc/passwd.
std::optional<std::pair<uint32_t, uint32_t>> resolve_user(const std::vector<std::string>& layers,
                                                          const std::string& user) {
  auto numeric = [](std::string_view t, uint32_t& out) {
    auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
    return ec == std::errc{} && p == t.data() + t.size();
  };
  auto colon = user.find(':');
  std::string name = user.substr(0, colon);
  uint32_t uid = 0, gid = 0;
  if (numeric(name, uid)) {
    gid = uid;
    if (colon != std::string::npos && !numeric(std::string_view(user).substr(colon + 1), gid))
      return std::nullopt;
    return std::pair{uid, gid};
  }
  for (auto& dir : layers) {
    std::ifstream in(dir + "/etc/passwd");
    if (!in) continue;
    std::string line;
    while (std::getline(in, line)) {
      // name:x:uid:gid:…
      std::vector<std::string_view> f;
      size_t start = 0;
      for (int i = 0; i < 4; ++i) {
        auto end = line.find(':', start);
        if (end == std::string::npos) break;
        f.push_back(std::string_view(line).substr(start, end - start));
        start = end + 1;
      }
      if (f.size() == 4 && f[0] == name && numeric(f[2], uid) && numeric(f[3], gid))
        return std::pair{uid, gid};
    }
    return std::nullopt;  // the topmost passwd decides
  }
  return std::nullopt;
}

void remember_layer(build_ptr self, const std::string& key, const runtime::step_outcome& o) {
  auto& st = self->state;
  if (!o.layer.empty()) st.layers.insert(st.layers.begin(), o.layer_dir);
  // Recorded when the build ends, once its layers are synced (finish()).
  std::erase_if(st.unsynced_cache, [&](auto& c) { return c.first == key; });
  st.unsynced_cache.emplace_back(key, storage::cache_entry{o.layer, o.bytes, storage::now_ms()});
}

std::vector<std::string> sandbox_env(const build_state& st) {
  std::vector<std::string> env;
  auto overridden = [&](const std::string& kv) {
    auto k = kv.substr(0, kv.find('='));
    return std::any_of(st.env.begin(), st.env.end(), [&](auto& e) { return e.first == k; });
  };
  for (auto& kv : st.base_env)
    if (!overridden(kv)) env.push_back(kv);
  bool has_home = false;
  for (auto& [k, v] : st.env) {
    env.push_back(k + "=" + v);
    has_home = has_home || k == "HOME";
  }
  if (!has_home) env.push_back(st.uid == 0 ? "HOME=/root" : "HOME=/tmp");
  return env;
}

void start_sandboxed_command(build_ptr self, size_t index, const std::string& key) {
  auto& st = self->state;
  const auto& step = st.step_at(index);
  runtime::step_job job;
  job.build_id = st.rec.id;
  job.step = index;
  job.lowers = st.layers;
  auto& sp = job.spec;
  sp.args = step.argv.empty()
                ? std::vector<std::string>{"/bin/sh", "-c", runtime::step_command(step)}
                : step.argv;
  sp.env = sandbox_env(st);
  // A Dockerfile's ARG values, for this command only (an ENV of the name wins).
  for (auto& [k, v] : step.args)
    if (std::none_of(sp.env.begin(), sp.env.end(),
                     [&](const std::string& e) { return e.starts_with(k + "="); }))
      sp.env.push_back(k + "=" + v);
  // The operator's package mirror, unless the build sets the variable itself.
  for (auto& kv : st.ctx->config.step_env)
    if (std::none_of(sp.env.begin(), sp.env.end(), [&](const std::string& e) {
          return e.starts_with(kv.substr(0, kv.find('=') + 1));
        }))
      sp.env.push_back(kv);
  sp.cwd = st.cwd;
  sp.uid = st.uid;
  sp.gid = st.gid;
  sp.hostname = "nullspace-build";
  sp.network = st.req.internet_access && !step.network_none;
  sp.cpu_count = st.req.cpu_count;
  sp.memory_bytes = uint64_t{st.req.memory_mb} << 20;
  sp.tmpfs = step.tmpfs;
  job.tenant = st.rec.tenant;
  for (auto& c : step.caches) {
    runtime::cache_mount_use use;
    use.key = c.id;
    use.target = c.target;
    use.sharing = c.sharing == "locked"    ? runtime::cache_sharing::locked
                  : c.sharing == "private" ? runtime::cache_sharing::private_dir
                                           : runtime::cache_sharing::shared;
    use.readonly = c.readonly;
    use.mode = c.mode;
    use.uid = c.uid;
    use.gid = c.gid;
    job.caches.push_back(std::move(use));
  }
  job.scripts = step.inline_files;
  for (auto& b : step.binds) {
    runtime::bind_source src;
    src.src = b.source;
    src.target = b.target;
    src.writable = b.writable;
    if (!b.image.empty()) {
      src.stage_layers = st.bind_images.at(b.image).layers;  // pulled before the cache lookup
    } else if (b.from_stage >= 0) {
      src.stage_layers = st.stages.at(b.from_stage).layers;
      if (src.stage_layers.empty())
        return fail(self, "step_failed",
                    "step " + std::to_string(index) +
                        ": RUN --mount=type=bind,from= a stage "
                        "that has no files",
                    st.running_step);
    } else {
      auto manifest = st.ctx->db->get_context(b.context);
      src.tar_path =
          manifest ? runtime::context_tar_path(st.ctx->config.contexts_dir, *manifest) : "";
      if (src.tar_path.empty() || !fs::exists(src.tar_path))
        return fail(self, "context_unavailable",
                    "step " + std::to_string(index) + ": build context " + b.context +
                        " is not stored on this server (upload it again)",
                    st.running_step);
    }
    job.binds.push_back(std::move(src));
  }
  std::string missing;
  job.secrets = step_secrets(st.req, step, missing);
  for (auto& m : step.secret_mounts) {
    auto it = std::find_if(st.req.secrets.begin(), st.req.secrets.end(),
                           [&](const runtime::build_secret& s) { return s.id == m.id; });
    if (it == st.req.secrets.end()) {
      if (m.required && missing.empty()) missing = "secret '" + m.id + "' was not supplied";
      continue;  // an optional secret that was not supplied is simply absent
    }
    if (std::none_of(job.secrets.begin(), job.secrets.end(),
                     [&](auto& s) { return s.first == m.id; }))
      job.secrets.emplace_back(m.id, it->value);
    if (m.target != "/run/secrets/" + m.id) sp.secret_files.emplace_back(m.id, m.target);
  }
  if (!missing.empty())
    return fail(self, "secrets_unavailable", "step " + std::to_string(index) + ": " + missing,
                st.running_step);
  auto step_i = st.running_step;
  self->request(st.worker, caf::infinite, prepare_atom::value, std::move(job))
      .then([=](prepare_reply& r) {
        auto& s = self->state;
        if (moved_on(self)) return;
        if (r.err)
          return fail(self,
                      r.err->code == errc::invalid_argument ? "step_failed" : "sandbox_failed",
                      "step " + std::to_string(step_i) + ": " + r.err->message, step_i);
        s.container = r.value.container_id;
        s.chain_key = key;
        runtime::process_spec spec;
        spec.argv = s.ctx->sandbox->run_argv(r.value);
        spec.env = {runtime::default_path_env};
        spec.redact = secret_values(s.req);
        launch(self, std::move(spec));
      });
}

// A relative copy destination is relative to the working dir, as in Docker.
std::string image_path(const std::string& cwd, const std::string& path) {
  if (path.starts_with('/')) return path;
  return (cwd.ends_with('/') ? cwd : cwd + "/") + path;
}

void start_copy(build_ptr self, size_t index, const std::string& key) {
  auto& st = self->state;
  const auto& step = st.step_at(index);
  auto step_i = st.running_step;
  auto where = "step " + std::to_string(index);
  copy_job job;
  std::string tar;
  if (!step.url.empty()) {
    job.url = step.url;
    job.checksum = step.checksum;
  } else if (!step.inline_files.empty()) {
    job.inline_file = step.inline_files.front();
  } else if (step.from_stage >= 0) {
    job.from_stage = true;
    job.stage_layers = st.stages.at(step.from_stage).layers;  // lowering orders stages
  } else if (!step.image.empty()) {
    job.from_stage = true;
    job.stage_layers = st.copy_images.at(index).layers;  // pulled before the cache lookup
  } else {
    auto manifest = st.ctx->db->get_context(step.context);
    tar = manifest ? runtime::context_tar_path(st.ctx->config.contexts_dir, *manifest) : "";
    if (tar.empty() || !fs::exists(tar))
      return fail(self, "context_unavailable",
                  where + ": build context " + step.context +
                      " is not stored on this server (upload it again)",
                  step_i);
  }
  // The owner: the current user, or a Dockerfile COPY's (root unless --chown).
  auto owner = std::pair{st.uid, st.gid};
  if (!step.chown.empty()) {
    auto ids = resolve_user(st.layers, step.chown);
    if (!ids)
      return fail(self, "step_failed",
                  where + ": --chown=" + step.chown + " names no user of the image", step_i);
    owner = *ids;
  }
  job.step.build_id = st.rec.id;
  job.step.step = index;
  job.step.lowers = st.layers;
  job.copy = {tar, step.src, image_path(st.cwd, step.dest), owner.first, owner.second};
  if (runtime::octal_chmod(step.chmod))
    job.copy.mode = static_cast<uint32_t>(std::stoul(step.chmod, nullptr, 8));
  else
    job.copy.symbolic_mode = step.chmod;  // u+x: applied to each file's own mode
  job.copy.extract = step.extract;
  job.layer_name = layer_name(key, st.rec.id, index);
  self->request(st.worker, caf::infinite, copy_atom::value, std::move(job))
      .then([=](copy_reply& r) {
        auto& s = self->state;
        if (moved_on(self)) return;
        auto where = "step " + std::to_string(index);
        if (r.err)
          return fail(self,
                      r.err->code == errc::invalid_argument ? "step_failed" : "sandbox_failed",
                      where + " (copy): " + r.err->message, step_i);
        const auto& c = r.value.copied;
        const auto& done_step = s.step_at(index);
        std::vector<log_entry> entries;
        auto from = !done_step.url.empty()            ? runtime::url_for_messages(done_step.url)
                    : !done_step.inline_files.empty() ? std::string("heredoc")
                    : done_step.from_stage >= 0 ? "stage " + std::to_string(done_step.from_stage)
                    : !done_step.image.empty()  ? "image " + done_step.image
                                                : done_step.context;
        auto done = make_entry(
            "log", "info",
            std::string(c.archives ? "unpacked " + std::to_string(c.archives) + " archive(s): "
                                   : "") +
                "copied " + c.text() + " from " + from + ":" +
                (done_step.src.empty() ? "." : done_step.src) + " to " +
                image_path(s.cwd, done_step.dest),
            step_i, "step");
        entries.push_back(std::move(done));
        constexpr size_t max_listed = 20;  // a context full of fifos is not a log flood
        for (size_t i = 0; i < c.skipped.size(); ++i) {
          auto w =
              make_entry("log", "warn",
                         i < max_listed ? "not copied: " + c.skipped[i]
                                        : "not copied: " + std::to_string(c.skipped.size() - i) +
                                              " more entries (devices, fifos)",
                         step_i, "step");
          entries.push_back(std::move(w));
          if (i >= max_listed) break;
        }
        append(self, std::move(entries));
        s.chain_key = key;
        remember_layer(self, key, r.value.layer);
        // A download without --checksum: what came is what later steps build on.
        if (!done_step.url.empty() && done_step.checksum.empty())
          s.chain_key = chained_key(key, r.value.content_digest);
        run_next_step(self);
      });
}

// Resolves (maybe makes) a base image in the worker, with progress lines in
// the log and cancel through base_job, then calls `then(base)`.
template <class F>
void resolve_base(build_ptr self, runtime::build_source source, int32_t step, F then) {
  auto& st = self->state;
  // Image making reports progress from the worker's (or runner's) thread.
  // A weak handle: the job lives in our state and must not keep us alive.
  caf::weak_actor_ptr me = self->ctrl();
  st.base_job = std::make_shared<runtime::image_job>([me](std::vector<std::string> lines) {
    if (auto strong = me.lock())
      caf::anon_send(caf::actor_cast<build_actor>(strong), progress_atom::value, std::move(lines));
  });
  base_request br{std::move(source), st.base_job};
  self->request(st.worker, caf::infinite, base_atom::value, std::move(br))
      .then([=](base_reply& r) mutable {
        auto& s = self->state;
        s.base_job.reset();
        if (moved_on(self)) return;
        // The image store failing on this host (files, locks, layers) is ours;
        // an image that cannot be made or pulled is the source's.
        if (r.err)
          return fail(self, r.err->code == errc::internal ? "sandbox_failed" : "base_unavailable",
                      r.err->message, step);
        append(self, {make_entry("log", "info", "base " + r.value.name + " " + r.value.digest, step,
                                 "base")});
        then(r.value);
      });
}

// A Dockerfile FROM: the stage built so far is kept, and the next one starts
// from an image, from scratch, or from an earlier stage.
void start_stage(build_ptr self, size_t index) {
  auto& st = self->state;
  const auto& step = st.step_at(index);
  if (st.stage >= 0) st.stages[st.stage] = st.snapshot();
  st.stage = step.stage;
  if (step.from_stage >= 0) {
    st.restore(st.stages.at(step.from_stage));  // lowering orders stages
    return run_next_step(self);
  }
  st.restore({});
  const auto& key = st.plan.steps[index].cache_key;
  if (step.image.empty()) {  // scratch
    st.chain_key = key;
    return run_next_step(self);
  }
  runtime::build_source source;
  source.type = runtime::source_type::image;
  source.image = step.image;
  resolve_base(self, std::move(source), st.running_step, [=](runtime::base_image& base) {
    auto& s = self->state;
    s.layers = base.layers;
    s.base_env = base.env;
    s.chain_key = chained_key(key, base.digest);
    run_next_step(self);
  });
}

void sandbox_step(build_ptr self, size_t index) {
  auto& st = self->state;
  const auto& step = st.step_at(index);
  if (step.type == runtime::step_type::from) return start_stage(self, index);
  auto step_i = st.running_step;
  bool copies_image = step.type == runtime::step_type::copy && !step.image.empty();
  if (copies_image && !st.copy_images.count(index)) {
    // COPY --from=<image>: the image first (pulled like a FROM), then this again.
    runtime::build_source source;
    source.type = runtime::source_type::image;
    source.image = step.image;
    return resolve_base(self, std::move(source), step_i, [=](runtime::base_image& base) {
      self->state.copy_images[index] = base;
      sandbox_step(self, index);
    });
  }
  for (auto& b : step.binds)
    if (!b.image.empty() && !st.bind_images.count(b.image)) {
      // RUN --mount=type=bind,from=<image>: the image first, as BuildKit pulls it.
      runtime::build_source source;
      source.type = runtime::source_type::image;
      source.image = b.image;
      return resolve_base(self, std::move(source), step_i,
                          [=, image = b.image](runtime::base_image& base) {
                            self->state.bind_images[image] = base;
                            sandbox_step(self, index);
                          });
    }
  auto key = chained_key(st.chain_key, st.plan.steps[index].cache_key);
  // COPY --from: what the stage or image holds is part of what the copy makes.
  if (step.type == runtime::step_type::copy && step.from_stage >= 0)
    key = chained_key(key, st.stages.at(step.from_stage).chain_key);
  if (copies_image) key = chained_key(key, st.copy_images.at(index).digest);
  for (auto& b : step.binds) {  // a bound stage's or image's files are an input of the step
    if (b.from_stage >= 0) key = chained_key(key, st.stages.at(b.from_stage).chain_key);
    if (!b.image.empty()) key = chained_key(key, st.bind_images.at(b.image).digest);
  }
  auto where = "step " + std::to_string(index);
  auto apply_metadata = [&]() -> bool {
    switch (step.type) {
      case runtime::step_type::env: {
        // A Dockerfile ENV completes its values with the env so far ($PATH).
        runtime::env_list so_far;
        if (step.image_env) {
          for (auto& kv : sandbox_env(st)) {
            auto eq = kv.find('=');
            so_far.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
          }
        }
        for (auto kv : step.envs) {
          if (step.image_env) kv.second = runtime::complete_image_env(kv.second, so_far);
          std::erase_if(st.env, [&](auto& e) { return e.first == kv.first; });
          st.env.push_back(std::move(kv));
        }
        return true;
      }
      case runtime::step_type::workdir:
        st.cwd = image_path(st.cwd, step.path);
        return true;
      case runtime::step_type::user: {
        auto ids = resolve_user(st.layers, step.user);
        if (!ids) {
          fail(self, "step_failed",
               where + ": user '" + step.user + "' does not exist in the image", step_i);
          return false;
        }
        std::tie(st.uid, st.gid) = *ids;
        st.user = step.user;
        return true;
      }
      default:
        return true;
    }
  };
  // ADD <url> without --checksum: nothing says what the URL serves until it is
  // downloaded, so it is every time (Docker fetches it to compare too).
  bool unpinned_download =
      step.type == runtime::step_type::copy && !step.url.empty() && step.checksum.empty();
  if (unpinned_download) {
    append(self, {cache_log(step_i, "bypass", key,
                            "ADD of a URL without --checksum is downloaded every build")});
  } else if (!st.req.skip_cache) {
    // This build's own records first (not yet written: see unsynced_cache).
    auto own = std::find_if(st.unsynced_cache.begin(), st.unsynced_cache.end(),
                            [&](auto& c) { return c.first == key; });
    auto hit =
        own != st.unsynced_cache.end() ? std::optional(own->second) : st.ctx->db->get_cache(key);
    auto layer_dir = hit && !hit->layer.empty() ? st.ctx->sandbox->layers_dir() + "/" + hit->layer
                                                : std::string();
    if (hit && (layer_dir.empty() || fs::is_directory(layer_dir))) {
      if (!apply_metadata()) return;
      if (!layer_dir.empty()) st.layers.insert(st.layers.begin(), layer_dir);
      st.chain_key = key;
      ++st.rec.cache.hits;
      st.rec.cache.bytes_reused += hit->bytes;
      append(self, {cache_log(step_i, "hit", key, "")});
      return run_next_step(self);
    }
    append(self, {cache_log(step_i, "miss", key,
                            hit ? "the cached layer is gone" : "no layer for this key yet")});
  } else {
    append(self, {cache_log(step_i, "bypass", key, "skip_cache")});
  }
  ++st.rec.cache.misses;
  switch (step.type) {
    case runtime::step_type::env:
    case runtime::step_type::workdir:
    case runtime::step_type::user:
      if (!apply_metadata()) return;
      st.chain_key = key;
      remember_layer(self, key, {});
      return run_next_step(self);
    case runtime::step_type::copy:
      return start_copy(self, index, key);
    default:
      return start_sandboxed_command(self, index, key);
  }
}

// The build whose artifact a template ref names (as this build's tenant may
// see it: its own templates and public ones), or the sentence saying why there
// is none.
std::optional<storage::build_record> template_build(const build_state& st, std::string& problem) {
  const auto& ref = st.req.source.ref;
  auto parsed = parse_ref(ref);  // checked at submit: cannot fail here
  auto& db = *st.ctx->db;
  auto found = parsed ? find_template(db, st.rec.tenant, *parsed) : parsed.error();
  if (!found) {
    problem = "template " + ref + ": " + found.error().message;
    return std::nullopt;
  }
  auto rec = find_build(db, *found, *parsed);
  if (!rec) {
    problem = "template " + ref + ": " + rec.error().message;
    return std::nullopt;
  }
  if (rec->status != build_status::ready || !rec->artifact) {
    problem = "template " + ref + ": build " + rec->id + " is " + storage::to_string(rec->status) +
              (rec->status == build_status::ready ? " without an artifact" : ", not ready");
    return std::nullopt;
  }
  if (rec->artifact_availability != "available") {
    problem = "template " + ref + ": the artifact of build " + rec->id + " is " +
              rec->artifact_availability + " (retention ended); build the template again";
    return std::nullopt;
  }
  return std::move(*rec);
}

// The template's ONBUILD instructions, as Docker runs a base image's triggers
// (runtime/plan/onbuild.hpp): lowered in the template's working dir and run
// before the request's steps. False if the build failed.
bool run_onbuild(build_ptr self, const runtime::template_base& base) {
  auto& st = self->state;
  auto steps = runtime::lower_onbuild(base.onbuild, runtime::onbuild_context(st.req), base.workdir);
  if (!steps) {
    fail(self, "step_failed",
         steps.error().message + " (an ONBUILD of template " + st.req.source.ref + ")", -1);
    return false;
  }
  auto added = runtime::insert_onbuild(st.plan, std::move(*steps), st.next_step);
  append(self,
         {make_entry("log", "info",
                     "running " + std::to_string(added) + " ONBUILD instruction(s) of template " +
                         st.req.source.ref + " first",
                     -1, "base")});
  return true;
}

// A `template` source: the build goes on from the template's final layers,
// env, user and working dir.
void start_on_template(build_ptr self) {
  auto& st = self->state;
  std::string problem;
  auto rec = template_build(st, problem);
  if (!rec) return fail(self, "base_unavailable", problem, -1);
  auto dir = st.ctx->config.data_dir + "/artifacts/" + rec->artifact->id;
  self->request(st.worker, caf::infinite, template_atom::value, dir).then([=](template_reply& r) {
    auto& s = self->state;
    if (moved_on(self)) return;
    if (r.err)
      return fail(self, r.err->code == errc::internal ? "sandbox_failed" : "base_unavailable",
                  "template " + s.req.source.ref + ": " + r.err->message, -1);
    auto& base = r.value;
    s.restore({base.layers,
               chained_key(s.plan.base_key, base.digest),
               {},
               base.env,
               base.workdir,
               base.uid,
               base.gid,
               base.user});
    append(self, {make_entry("log", "info", "base template " + s.req.source.ref + " " + base.digest,
                             -1, "base")});
    if (!base.onbuild.empty() && !run_onbuild(self, base)) return;
    run_next_step(self);
  });
}

void start_sandboxed_build(build_ptr self) {
  auto& st = self->state;
  st.worker = spawn_sandbox_worker(self, st.ctx->images, st.ctx->sandbox);
  // First remove what an earlier attempt at this build may have left (restart).
  self->request(st.worker, caf::infinite, cleanup_atom::value, st.rec.id).then([=](bool) {
    auto& s = self->state;
    if (s.req.source.type == runtime::source_type::dockerfile) {
      // Each stage's FROM step brings its own base.
      s.chain_key = s.plan.base_key;
      return run_next_step(self);
    }
    if (s.req.source.type == runtime::source_type::template_ref) return start_on_template(self);
    resolve_base(self, s.req.source, -1, [=](runtime::base_image& base) {
      auto& s2 = self->state;
      s2.layers = base.layers;
      s2.base_env = base.env;
      s2.chain_key = chained_key(s2.plan.base_key, base.digest);
      run_next_step(self);
    });
  });
}

void fail_unstarted(build_ptr self, const runtime::process_exit& ex, const std::string& where,
                    int32_t step, const std::string& own_code) {
  auto& st = self->state;
  if (!ex.spawn_error.empty())
    return fail(self, "sandbox_failed",
                where + ": the OCI runtime could not be started: " + ex.spawn_error, step);
  // Everything it printed was the runtime's: the container never ran.
  auto refusal = runtime::read_runtime_refusal({st.tail.begin(), st.tail.end()});
  if (refusal.step_at_fault)
    return fail(self, own_code, where + " could not start: " + refusal.message, step);
  fail(self, "sandbox_failed",
       where + ": the OCI runtime did not start the container: " + refusal.message, step);
}

void on_sandboxed_exit(build_ptr self, const runtime::process_exit& ex) {
  auto& st = self->state;
  auto step = st.running_step;
  auto index = static_cast<size_t>(step);
  auto problem = exit_problem(ex, true);
  bool ok = problem.empty() && !st.cancel_promise;
  auto key = st.chain_key;
  commit_request req{st.rec.id, index, ok, layer_name(key, st.rec.id, index),
                     uint64_t{st.req.memory_mb} << 20};
  self->request(st.worker, caf::infinite, commit_atom::value, std::move(req))
      .then([=](commit_reply& r) {
        auto& s = self->state;
        s.container.clear();
        if (moved_on(self)) return;
        auto where = step_where(s, step);
        if (r.err) return fail(self, "sandbox_failed", where + ": " + r.err->message, step);
        if (!problem.empty() && ex.spawn_error.empty() && r.value.oom)
          return fail(self, "out_of_memory",
                      where + " ran out of memory: it reached the build's limit of " +
                          std::to_string(s.req.memory_mb) + " MB (memory_mb) and was killed",
                      step);
        if (!problem.empty() && !r.value.started)
          return fail_unstarted(self, ex, where, step, "step_failed");
        if (!problem.empty()) return fail(self, "step_failed", where + problem, step);
        remember_layer(self, key, r.value);
        run_next_step(self);
      });
}

void run_next_step(build_ptr self) {
  auto& st = self->state;
  while (!st.finishing) {
    if (st.cancel_promise) return finish_cancelled(self);
    if (st.next_step >= st.plan.steps.size()) {
      if (st.ctx->sandbox) return finalize_sandboxed(self);
      if (!st.plan.start_cmd.empty() || st.req.ready.type != runtime::ready_type::none)
        return fail(self, "unsupported",
                    "start_cmd and ready checks are not supported by this executor yet", -1);
      st.rec.artifact_availability = "pending";
      return finish(self, build_status::ready, {status_entry(build_status::ready, "build ready")});
    }
    auto index = st.next_step++;
    st.running_step = static_cast<int32_t>(index);
    st.tail.clear();
    const auto& step = st.step_at(index);
    const auto& ps = st.plan.steps[index];
    auto header = make_entry("step", "info",
                             "step " + std::to_string(index + 1) + "/" +
                                 std::to_string(st.plan.steps.size()) + ": " + ps.summary,
                             st.running_step, "step");
    append(self, {std::move(header)});
    ++st.steps_run;
    if (st.ctx->sandbox) return sandbox_step(self, index);
    switch (step.type) {
      case runtime::step_type::run:
        return start_run_step(self, step);
      case runtime::step_type::env:
        for (auto& kv : step.envs) st.env.push_back(kv);
        continue;
      case runtime::step_type::workdir:
        st.cwd = step.path;
        continue;
      default:
        return fail(self, "unsupported_step",
                    "step " + std::to_string(index) + " (" + runtime::to_string(step.type) +
                        ") is not supported by this executor yet; the host executor runs "
                        "run, env and workdir steps only (nullspaced --isolation sandbox runs "
                        "every step kind)",
                    st.running_step);
    }
  }
}

void on_lines(build_ptr self, std::vector<runtime::output_line>& lines) {
  auto& st = self->state;
  std::vector<log_entry> entries;
  entries.reserve(lines.size());
  for (auto& l : lines) {
    auto e = make_entry("log", "info", std::move(l.text), st.running_step, st.phase);
    e.stream = l.stream == runtime::output_stream::out ? "stdout" : "stderr";
    st.tail.push_back(e.message);
    if (st.tail.size() > failure_tail_lines) st.tail.pop_front();
    entries.push_back(std::move(e));
  }
  append(self, std::move(entries));
}

void on_exit(build_ptr self, const runtime::process_exit& ex) {
  auto& st = self->state;
  st.proc.reset();
  if (st.starting) return on_start_exit(self, ex);
  if (st.ctx->sandbox) return on_sandboxed_exit(self, ex);
  st.remove_secrets_dir();
  if (st.cancel_promise) return finish_cancelled(self);
  auto step = st.running_step;
  if (auto problem = exit_problem(ex, false); !problem.empty())
    return fail(self, "step_failed", step_where(st, step) + problem, step);
  run_next_step(self);
}

}  // namespace build_detail

namespace {

using namespace build_detail;

build_actor::behavior_type build_behavior(build_ptr self, std::shared_ptr<engine_context> ctx,
                                          storage::build_record rec, runtime::build_request req,
                                          build_manager_actor manager) {
  auto& st = self->state;
  st.ctx = std::move(ctx);
  st.manager = std::move(manager);
  st.plan = runtime::make_plan(req);
  st.rec = std::move(rec);
  st.req = std::move(req);
  return {
      [=](start_atom) {
        auto& s = self->state;
        if (s.finishing || !can_transition(s.rec.status, build_status::building)) return;
        s.rec.status = build_status::building;
        s.rec.started_ms = storage::now_ms();
        std::vector<log_entry> entries{status_entry(build_status::building, "build started")};
        if (s.ctx->sandbox) {
          append(self, std::move(entries), true);
          return start_sandboxed_build(self);
        }
        if (s.req.source.type == runtime::source_type::dockerfile) {
          append(self, std::move(entries), true);
          return fail(self, "unsupported",
                      "Dockerfile builds need the sandboxed executor (nullspaced --isolation "
                      "sandbox); this server runs steps on the host",
                      -1);
        }
        auto base = make_entry("log", "warn",
                               "base " + s.plan.base_summary +
                                   " is not materialized: the host executor runs steps as "
                                   "plain processes in a work dir on the host",
                               -1, "base");
        entries.push_back(std::move(base));
        append(self, std::move(entries), true);
        run_next_step(self);
      },
      [=](cancel_atom, std::string& reason) -> caf::result<build_reply> {
        auto& s = self->state;
        if (s.finishing || s.cancel_promise)
          return build_reply{
              make_error(errc::conflict, "build " + s.rec.id + " is already finishing"), s.rec};
        s.cancel_reason = std::move(reason);
        s.cancel_promise = self->make_response_promise<build_reply>();
        auto rp = *s.cancel_promise;
        if (s.proc)
          stop_step(self);  // finish_cancelled runs once it exited
        else if (s.base_job)
          s.base_job->cancel();  // the base reply comes back early and sees the cancel
        else if (!s.worker || s.finishing)
          finish_cancelled(self);
        else if (s.ctx->cache_mounts)  // a step waiting for a locked cache stops waiting
          s.ctx->cache_mounts->abandon(s.rec.id);
        // else: sandbox work is in flight; its answer sees the cancel.
        return rp;
      },
      [=](ctx_ready_atom, const std::string& ctx_id) {
        auto& s = self->state;
        if (s.rec.status != build_status::waiting || s.rec.waiting_for != ctx_id) return;
        s.rec.status = build_status::queued;
        s.rec.waiting_for.clear();
        append(
            self,
            {status_entry(build_status::queued, "build context " + ctx_id + " uploaded; queued")},
            true);
      },
      [=](lines_atom, uint64_t id, std::vector<runtime::output_line>& lines) {
        if (self->state.proc == id) on_lines(self, lines);
      },
      [=](exited_atom, uint64_t id, const runtime::process_exit& ex) {
        if (self->state.proc == id) on_exit(self, ex);
      },
      [=](tick_atom, uint64_t seq) { on_ready_tick(self, seq); },
      [=](stop_atom, uint64_t id) {
        if (self->state.proc == id) stop_step(self);
      },
      [=](progress_atom, std::vector<std::string>& lines) {
        if (!self->state.base_job) return;  // a late line after the base reply
        std::vector<log_entry> entries;
        for (auto& l : lines)
          entries.push_back(make_entry("log", "info", std::move(l), -1, "base"));
        append(self, std::move(entries));
      },
  };
}

}  // namespace

uint32_t counted_steps(const runtime::build_plan& plan) {
  // FROM steps are neither hits nor misses: they are not counted as steps.
  return static_cast<uint32_t>(std::count_if(plan.steps.begin(), plan.steps.end(), [](auto& ps) {
    return ps.step.type != runtime::step_type::from;
  }));
}

build_actor spawn_build(caf::local_actor* manager_self, std::shared_ptr<engine_context> ctx,
                        storage::build_record rec, runtime::build_request req,
                        build_manager_actor manager) {
  return manager_self->spawn<caf::linked>(build_behavior, std::move(ctx), std::move(rec),
                                          std::move(req), std::move(manager));
}

}  // namespace nullspace::actors

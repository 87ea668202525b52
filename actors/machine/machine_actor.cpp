// The machine actor's behavior and lifecycle (actors/machine/machine_actor.hpp).
#include "actors/machine/machine_actor.hpp"

#include <algorithm>
#include <chrono>

#include "actors/machine/machine_internal.hpp"
#include "actors/machine/machine_stats.hpp"
#include "actors/pool/pool_messages.hpp"
#include "runtime/artifact/template_config.hpp"
#include "runtime/sandbox/ready_probe.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace machine_detail {

namespace {

using std::chrono::milliseconds;

constexpr size_t output_chunk_bytes = 64 << 10;
constexpr size_t max_line_bytes = 16 << 10;  // longer output lines are split
constexpr int64_t fast_poll_ms = 200;        // while starting, or right after output
constexpr int64_t slow_poll_ms = 2000;       // a quiet ready machine

log_entry status_entry(machine_state s, std::string level, std::string message) {
  auto e = make_entry("status", std::move(level), std::move(message));
  e.status = to_string(s);
  return e;
}

machine_reply reply_of(const machine_actor_state& st) {
  return machine_reply{std::nullopt, st.rec, st.log_next_offset};
}

void answer_all(std::vector<caf::typed_response_promise<machine_reply>>& ps,
                const machine_reply& r) {
  for (auto& p : ps) p.deliver(r);
  ps.clear();
}

void schedule_poll(machine_ptr self, int64_t in_ms) {
  auto& st = self->state;
  if (st.poll_due || is_terminal(st.rec.state) || st.rec.state == machine_state::stopping) return;
  st.poll_due = true;
  self->delayed_send(self, milliseconds(in_ms), tick_atom::value, ++st.poll_round);
}

// A deadline's timer is armed only once the deadline is this near. Every
// delayed message wakes CAF 0.17's clock thread (a cross-CPU wake-up, a VM exit
// on a nested-virtualised host), and a checkout sets a deadline: armed at once,
// that wake-up sat in every checkout's path (bench-pool: p50 0.30 → 0.28 ms,
// p99 0.54–0.64 → 0.44–0.46 ms without it). A live machine polls its container
// at least every slow_poll_ms, and each poll's tick arms a deadline come near.
constexpr int64_t deadline_arm_ahead_ms = 3 * slow_poll_ms;

// Arms the deadline's timer if it is near, or if no poll is coming to do it later.
void arm_deadline(machine_ptr self) {
  auto& st = self->state;
  if (st.deadline_armed || st.rec.deadline_ms <= 0 || is_terminal(st.rec.state)) return;
  auto in = std::max<int64_t>(0, st.rec.deadline_ms - storage::now_ms());
  if (in > deadline_arm_ahead_ms && st.poll_due) return;
  st.deadline_armed = true;
  self->delayed_send(self, milliseconds(in), deadline_atom::value, st.deadline_seq);
}

void schedule_deadline(machine_ptr self) {
  auto& st = self->state;
  ++st.deadline_seq;  // a timer armed for an earlier deadline is ignored
  st.deadline_armed = false;
  arm_deadline(self);
}

// Machine actors end here (their manager forgets them when they exit).
void ended(machine_ptr self) {
  self->quit();
}

// ---- output and polling ------------------------------------------------------

// Start-command output: complete lines become log entries (and the tail kept
// for failure messages); the record's output_offset moves with them, in the
// same batch, so an adopted machine goes on where its log stopped.
void take_output(machine_ptr self, const runtime::output_chunk& chunk) {
  auto& st = self->state;
  if (chunk.data.empty()) return;
  st.output_offset = chunk.offset + chunk.data.size();
  st.partial_line += chunk.data;
  std::vector<log_entry> es;
  size_t pos = 0;
  for (;;) {
    auto nl = st.partial_line.find('\n', pos);
    bool split = nl == std::string::npos && st.partial_line.size() - pos >= max_line_bytes;
    if (nl == std::string::npos && !split) break;
    auto end = split ? pos + max_line_bytes : nl;
    auto line = st.partial_line.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    pos = split ? end : nl + 1;
    st.tail.push_back(line);
    if (st.tail.size() > failure_tail_lines) st.tail.pop_front();
    auto e = make_entry("log", "info", std::move(line), "start");
    e.stream = "output";
    es.push_back(std::move(e));
  }
  st.partial_line.erase(0, pos);
  st.rec.output_offset = st.output_offset - st.partial_line.size();
  if (es.empty()) return;
  auto rec = st.rec;
  st.log->change(
      std::move(es),
      [rec](storage::store& db, storage::write_batch& wb) { db.put_machine(wb, rec); }, nullptr);
}

std::vector<std::string> tail_lines(const machine_actor_state& st) {
  std::vector<std::string> out(st.tail.begin(), st.tail.end());
  if (!st.partial_line.empty()) out.push_back(st.partial_line);
  return out;
}

void become_ready(machine_ptr self) {
  auto& st = self->state;
  st.rec.state = machine_state::ready;
  st.rec.ready_ms = storage::now_ms();
  auto took = st.rec.ready_ms - st.rec.created_ms;
  if (!st.counted_ready) {
    st.counted_ready = true;
    st.ctx->machine_stats.observe_ready(took);
  }
  std::string how = st.ready.type == runtime::ready_type::none
                        ? "no ready check"
                        : "ready check " + runtime::describe(st.ready) + " passed";
  record_change(self,
                {status_entry(machine_state::ready, "info",
                              "ready in " + std::to_string(took) + " ms (" + how + ")")},
                [self](bool) { answer_all(self->state.ready_waiters, reply_of(self->state)); });
  schedule_poll(self, fast_poll_ms);
}

struct poll_result {
  runtime::machine_status status;
  result<runtime::output_chunk> output = runtime::output_chunk{};
  std::optional<runtime::probe_result> probe;
  int64_t probe_started_ms = 0;  // since the machine started
};

void on_poll(machine_ptr self, poll_result& r) {
  auto& st = self->state;
  if (is_terminal(st.rec.state) || st.rec.state == machine_state::stopping) return;
  bool had_output = r.output && !r.output->data.empty();
  if (r.output) take_output(self, *r.output);
  st.quiet_polls = had_output ? 0 : st.quiet_polls + 1;
  using ms = runtime::machine_status::state;
  if (r.status.machine == ms::gone)
    return fail(self, st.rec.state == machine_state::starting ? "start_failed" : "exited",
                "the machine's container is gone (its init process ended)");
  if (r.status.oom && !st.oom_seen) {
    st.oom_seen = true;
    st.log->add(make_entry("event", "warn",
                           "out of memory: the kernel killed a process in the machine (memory_mb " +
                               std::to_string(st.rec.resources.memory_mb) + ")"));
  }
  bool start_ended = !st.spec.config.start_cmd.empty() && !r.status.start_running &&
                     (r.status.start_exit_status || r.status.start_signal);
  std::string how_ended = r.status.start_signal
                              ? "was killed by signal " + std::to_string(r.status.start_signal)
                          : r.status.start_exit_status
                              ? "exited with status " + std::to_string(*r.status.start_exit_status)
                              : "ended";
  if (st.rec.state == machine_state::starting) {
    if (r.probe && r.probe->ready) return become_ready(self);
    if (r.probe && st.tally) {
      st.tally->record(false, r.probe_started_ms);
      if (st.tally->failed())
        return fail(self, "ready_check_failed",
                    "the ready check " + runtime::describe(st.ready) + " failed: " +
                        st.tally->failure_summary() + " (last seen: " + r.probe->detail + ")");
    }
    if (st.ready.type == runtime::ready_type::none &&
        (!start_ended || (r.status.start_exit_status && *r.status.start_exit_status == 0)))
      return become_ready(self);
    if (start_ended)
      return fail(self, r.status.oom ? "out_of_memory" : "start_failed",
                  "the start command " + how_ended + " before the machine was ready");
    if (r.probe && r.probe->detail != st.last_probe) {
      st.last_probe = r.probe->detail;
      st.log->add(make_entry("log", "info",
                             "ready check " + runtime::describe(st.ready) + ": " + st.last_probe,
                             "ready"));
    }
    if (storage::now_ms() - st.started_ms > st.ready_timeout_ms)
      return fail(self, "ready_timeout",
                  "the ready check " + runtime::describe(st.ready) + " did not pass within " +
                      std::to_string(st.ready_timeout_ms) + " ms" +
                      (st.last_probe.empty() ? "" : " (last seen: " + st.last_probe + ")"));
    return schedule_poll(self, fast_poll_ms);
  }
  if (start_ended && !st.start_end_logged) {
    st.start_end_logged = true;
    st.log->add(make_entry("event", "warn", "the start command " + how_ended));
  }
  // Quiet machines are looked at less often; output brings the pace back up.
  schedule_poll(
      self, std::min<int64_t>(slow_poll_ms, fast_poll_ms << std::min<uint64_t>(st.quiet_polls, 4)));
}

void poll(machine_ptr self) {
  auto& st = self->state;
  auto* driver = st.ctx->machines;
  bool probe =
      st.rec.state == machine_state::starting && st.ready.type != runtime::ready_type::none;
  blocking(
      self,
      [driver, id = st.rec.id, from = st.output_offset, probe, check = st.ready,
       since_start = storage::now_ms() - st.started_ms] {
        poll_result r;
        r.probe_started_ms = since_start;
        r.status = driver->status(id);
        r.output = driver->read_start_output(id, from, output_chunk_bytes);
        if (probe && r.status.machine != runtime::machine_status::state::gone)
          r.probe = driver->probe_ready(id, check);
        return r;
      },
      [self](poll_result r) { on_poll(self, r); });
}

// ---- starting ------------------------------------------------------------------

void launch(machine_ptr self) {
  auto& st = self->state;
  auto* driver = st.ctx->machines;
  blocking(
      self, [driver, spec = st.spec] { return driver->start(spec); },
      [self](result<runtime::machine_placement> p) {
        auto& st = self->state;
        if (!p) return fail(self, "sandbox_failed", p.error().message);
        st.rec.driver = p->driver;
        st.rec.placement = p->json;
        st.started_ms = storage::now_ms();
        st.tally.emplace(st.ready);
        auto what = st.spec.config.start_cmd.empty() ? std::string("started (no start command)")
                                                     : "started `" + st.spec.config.start_cmd + "`";
        if (st.ready.type != runtime::ready_type::none)
          what += "; waiting for the ready check " + runtime::describe(st.ready);
        record_change(self, {status_entry(machine_state::starting, "info", what)});
        if (st.stop_requested) return;  // a stop came meanwhile: it runs next
        poll(self);
      });
}

// ---- stopping ----------------------------------------------------------------

void finish_stop(machine_ptr self) {
  auto& st = self->state;
  st.rec.state = machine_state::stopped;
  st.rec.finished_ms = storage::now_ms();
  record_change(
      self, {status_entry(machine_state::stopped, "info", "stopped: " + st.rec.stop_reason)},
      [self](bool) {
        auto& s = self->state;
        answer_all(s.stop_waiters, reply_of(s));
        answer_all(s.ready_waiters,
                   machine_reply{
                       make_error(errc::conflict, "machine " + s.rec.id + " was stopped (" +
                                                      s.rec.stop_reason + ") before it was ready"),
                       s.rec});
        ended(self);
      });
}

void stop(machine_ptr self, std::string reason,
          std::optional<caf::typed_response_promise<machine_reply>> rp) {
  auto& st = self->state;
  if (rp) {
    if (is_terminal(st.rec.state)) {
      rp->deliver(reply_of(st));
      return;
    }
    st.stop_waiters.push_back(*rp);
  }
  if (st.stop_requested || is_terminal(st.rec.state)) return;
  st.stop_requested = true;
  st.rec.stop_reason = std::move(reason);
  st.rec.state = machine_state::stopping;
  ++st.deadline_seq;  // no timeout after this
  kill_all_commands(self);
  record_change(self,
                {status_entry(machine_state::stopping, "info", "stopping: " + st.rec.stop_reason)});
  auto* driver = st.ctx->machines;
  auto grace = milliseconds(st.ctx->config.machines.stop_grace);
  blocking(
      self, [driver, id = st.rec.id, grace] { return driver->stop(id, grace); },
      [self](result<bool> r) {
        if (!r)
          self->state.log->add(
              make_entry("event", "warn", "stopping: " + r.error().message + " (removed anyway)"));
        finish_stop(self);
      });
}

// ---- adopting ------------------------------------------------------------------

struct adoption {
  result<runtime::machine_status> status = make_error(errc::not_found, "");
  std::optional<runtime::template_config> config;
};

void adopted(machine_ptr self, adoption& a) {
  auto& st = self->state;
  if (!a.status) {
    auto why = a.status.error().code == errc::not_found
                   ? std::string("its container was gone when the engine restarted")
                   : "the engine restarted and could not take it back: " + a.status.error().message;
    return fail(self, "lost", why);
  }
  if (a.config) {
    st.spec.config = *a.config;
    st.ready = a.config->ready;
    if (a.config->ready_timeout_ms) st.ready_timeout_ms = a.config->ready_timeout_ms;
  }
  st.started_ms = st.rec.created_ms;
  st.tally.emplace(st.ready);  // the probes before the restart are not known: counted anew
  st.output_offset = st.rec.output_offset;
  st.log->add(make_entry("event", "info", "adopted after the engine restarted"));
  if (st.rec.state == machine_state::stopping) {
    st.rec.state = machine_state::ready;  // stop() moves it to stopping again
    return stop(self, st.rec.stop_reason.empty() ? "engine restart" : st.rec.stop_reason,
                std::nullopt);
  }
  if (st.rec.deadline_ms > 0 && st.rec.deadline_ms <= storage::now_ms())
    return stop(self, "timeout", std::nullopt);
  schedule_deadline(self);
  poll(self);
}

// ---- checkout ------------------------------------------------------------------

// A warm pool hands this machine to a create: the checkout (how it was
// served, the request's labels, deadline and Idempotency-Key) is durable
// before `answer` runs. Only a ready machine still held by its pool can be
// handed over.
void check_out(machine_ptr self, machine_op& op, std::function<void(machine_reply)> answer) {
  auto& st = self->state;
  if (st.rec.state != machine_state::ready || st.stop_requested || st.rec.pool_id.empty())
    return answer(machine_reply{
        make_error(errc::conflict, "machine " + st.rec.id + " is not a ready pool machine"),
        st.rec});
  st.rec.checkout = op.served;
  st.rec.pool_id.clear();
  st.idempotency = std::move(op.idempotency);
  st.rec.labels = op.labels;
  st.rec.deadline_ms = storage::now_ms() + op.timeout_ms;
  schedule_deadline(self);
  record_change(self,
                {make_entry("event", "info",
                            "checked out of warm pool " + op.served.pool_id + ": stops at " +
                                storage::rfc3339_ms(st.rec.deadline_ms))},
                [self, answer = std::move(answer)](bool) { answer(reply_of(self->state)); });
}

// ---- the behavior --------------------------------------------------------------

std::unique_ptr<log_appender> appender_for(machine_ptr self) {
  return std::make_unique<log_appender>(
      self->state.rec.id, [self](append_request req, std::function<void(bool)> done) {
        // No timeout: the hub is supervised, and a request to a hub that ends
        // is answered with an error; a timeout would cost the clock thread a
        // wake-up for every append.
        self->request(self->state.ctx->directory.hub(), caf::infinite, append_atom::value,
                      std::move(req))
            .then(
                [self, done](uint64_t next) {
                  auto& known = self->state.log_next_offset;
                  known = std::max(known, next);
                  done(true);
                },
                [self, done](caf::error& e) {
                  logging::machine.error("log append failed", {{"machine", self->state.rec.id},
                                                               {"tenant", self->state.rec.tenant},
                                                               {"error", caf::to_string(e)}});
                  done(false);
                });
      });
}

machine_actor::behavior_type behavior(machine_ptr self) {
  return {
      [=](machine_op& op) -> caf::result<machine_reply> {
        auto& st = self->state;
        switch (op.what) {
          case machine_op::get:
            return reply_of(st);
          case machine_op::stop: {
            auto rp = self->make_response_promise<machine_reply>();
            stop(self, op.reason.empty() ? "deleted" : op.reason, rp);
            return rp;
          }
          case machine_op::pause:
          case machine_op::resume: {
            bool pausing = op.what == machine_op::pause;
            auto want = pausing ? machine_state::ready : machine_state::paused;
            if (st.rec.state == (pausing ? machine_state::paused : machine_state::ready))
              return reply_of(st);  // already so
            if (st.rec.state != want || st.stop_requested)
              return machine_reply{
                  make_error(errc::conflict, "machine " + st.rec.id + " is " +
                                                 to_string(st.rec.state) + ": it cannot be " +
                                                 (pausing ? "paused" : "resumed") + " now"),
                  st.rec};
            auto rp = self->make_response_promise<machine_reply>();
            auto* driver = st.ctx->machines;
            blocking(
                self,
                [driver, id = st.rec.id, pausing] {
                  return pausing ? driver->pause(id) : driver->resume(id);
                },
                [self, rp, pausing](result<bool> r) mutable {
                  auto& s = self->state;
                  if (!r || is_terminal(s.rec.state) || s.stop_requested) {
                    rp.deliver(r ? reply_of(s) : machine_reply{r.error(), s.rec});
                    return;
                  }
                  s.rec.state = pausing ? machine_state::paused : machine_state::ready;
                  record_change(self,
                                {status_entry(s.rec.state, "info", pausing ? "paused" : "resumed")},
                                [self, rp](bool) mutable { rp.deliver(reply_of(self->state)); });
                });
            return rp;
          }
          case machine_op::set_timeout: {
            if (is_terminal(st.rec.state) || st.stop_requested)
              return machine_reply{make_error(errc::conflict, "machine " + st.rec.id + " is " +
                                                                  to_string(st.rec.state)),
                                   st.rec};
            st.rec.deadline_ms = storage::now_ms() + op.timeout_ms;
            schedule_deadline(self);
            auto rp = self->make_response_promise<machine_reply>();
            record_change(
                self,
                {make_entry("event", "info",
                            "timeout set: stops at " + storage::rfc3339_ms(st.rec.deadline_ms))},
                [self, rp](bool) mutable { rp.deliver(reply_of(self->state)); });
            return rp;
          }
          case machine_op::checkout: {
            auto rp = self->make_response_promise<machine_reply>();
            check_out(self, op, [rp](machine_reply r) mutable { rp.deliver(std::move(r)); });
            return rp;
          }
          case machine_op::wait_ready: {
            if (st.rec.state != machine_state::starting) return reply_of(st);
            auto rp = self->make_response_promise<machine_reply>();
            st.ready_waiters.push_back(rp);
            return rp;
          }
        }
        return reply_of(st);
      },
      [=](machine_handover& h) -> caf::result<checkout_reply> {
        auto rp = self->make_response_promise<checkout_reply>();
        check_out(self, h.op, [rp, reply = std::move(h.reply)](machine_reply r) mutable {
          reply.handed = std::move(r);
          rp.deliver(std::move(reply));
        });
        return rp;
      },
      [=](command_job& job) -> caf::result<command_reply> {
        auto rp = self->make_response_promise<command_reply>();
        run_command(self, job, rp);
        return rp;
      },
      [=](const command_query& q) -> command_reply { return query_command(self, q); },
      [=](file_job& job) -> caf::result<file_reply> {
        auto rp = self->make_response_promise<file_reply>();
        file_operation(self, job, rp);
        return rp;
      },
      [=](run_atom, continuation& c) {
        c.fn();
        self->state.busy = false;
        next_job(self);
      },
      [=](call_atom, continuation& c) { c.fn(); },
      [=](tick_atom, uint64_t round) {
        auto& st = self->state;
        if (round != st.poll_round) return;
        st.poll_due = false;
        if (is_terminal(st.rec.state) || st.rec.state == machine_state::stopping) return;
        arm_deadline(self);  // if near (or no later poll would come to arm it)
        poll(self);
      },
      [=](deadline_atom, uint64_t seq) {
        auto& st = self->state;
        if (seq != st.deadline_seq || is_terminal(st.rec.state)) return;
        st.log->add(make_entry("event", "info", "timeout reached"));
        stop(self, "timeout", std::nullopt);
      },
      [=](cmdtime_atom, uint64_t seq) { command_timed_out(self, seq); },
  };
}

}  // namespace

log_entry make_entry(std::string kind, std::string level, std::string message, std::string phase) {
  log_entry e;
  e.ts_ms = storage::now_ms();
  e.kind = std::move(kind);
  e.level = std::move(level);
  e.message = std::move(message);
  e.phase = std::move(phase);
  return e;
}

void next_job(machine_ptr self) {
  auto& st = self->state;
  if (st.busy || st.jobs.empty()) return;
  st.busy = true;
  auto job = std::move(st.jobs.front());
  st.jobs.pop_front();
  job();
}

// A machine that a warm pool holds (ready) or handed out (a hit) and that is
// stopping or ended: its pool hears it now (mended), instead of polling.
namespace {
void notify_pool(machine_ptr self) {
  auto& rec = self->state.rec;
  if (rec.state != machine_state::stopping && !is_terminal(rec.state)) return;
  auto& pool = !rec.pool_id.empty()           ? rec.pool_id
               : rec.checkout.result == "hit" ? rec.checkout.pool_id
                                              : rec.pool_id;
  if (pool.empty()) return;
  if (auto mgr = caf::actor_cast<pool_manager_actor>(self->state.ctx->directory.pools()))
    self->send(mgr, mended_atom::value, pool, rec.id);
}
}  // namespace

void record_change(machine_ptr self, std::vector<log_entry> entries,
                   std::function<void(bool)> committed) {
  auto& st = self->state;
  auto rec = st.rec;
  self->send(st.manager, mstate_atom::value, rec.id, rec.state);
  notify_pool(self);
  int64_t expires =
      is_terminal(rec.state) ? rec.finished_ms + st.ctx->config.machines.retention.count() : 0;
  std::optional<machine_record> end;
  if (is_terminal(rec.state)) end = rec;
  // A create's or checkout's Idempotency-Key goes with the record it made.
  auto key = std::exchange(st.idempotency, std::nullopt);
  if (key) key->object_id = rec.id;
  st.log->change(
      std::move(entries),
      [rec, expires, key](storage::store& db, storage::write_batch& wb) {
        db.put_machine(wb, rec, expires);
        if (key) db.put_idempotency(wb, *key);
      },
      std::move(committed), std::move(end));
}

void fail(machine_ptr self, std::string code, std::string message) {
  auto& st = self->state;
  if (is_terminal(st.rec.state) || st.failing) return;
  st.failing = true;
  ++st.deadline_seq;
  kill_all_commands(self);
  auto lines = tail_lines(st);
  auto* driver = st.ctx->machines;
  // Nothing of a failed machine stays on the host; its record says failed only
  // once that is true.
  blocking(
      self,
      [driver, id = st.rec.id] {
        driver->destroy(id);
        return true;
      },
      [self, code = std::move(code), message = std::move(message), lines](bool) {
        auto& s = self->state;
        s.rec.state = machine_state::failed;
        s.rec.finished_ms = storage::now_ms();
        s.rec.failure = machine_failure{code, message, lines};
        auto e = make_entry("error", "error", code + ": " + message);
        record_change(
            self, {e, status_entry(machine_state::failed, "error", "failed")}, [self](bool) {
              auto& s2 = self->state;
              std::string why = "machine " + s2.rec.id + " failed: " + s2.rec.failure->code + ": " +
                                s2.rec.failure->message;
              if (!s2.rec.failure->last_lines.empty())
                why += " (last output: " + s2.rec.failure->last_lines.back() + ")";
              answer_all(s2.ready_waiters,
                         machine_reply{make_error(errc::failed_precondition, why), s2.rec});
              answer_all(s2.stop_waiters, reply_of(s2));
              ended(self);
            });
      });
}

std::optional<error> usable(const machine_actor_state& st, bool paused_ok) {
  auto s = st.rec.state;
  if (s == machine_state::ready && !st.stop_requested) return std::nullopt;
  if (s == machine_state::paused && paused_ok && !st.stop_requested) return std::nullopt;
  return make_error(errc::conflict, "machine " + st.rec.id + " is " + to_string(s) +
                                        (s == machine_state::starting ? " (not ready yet)" : ""));
}

}  // namespace machine_detail

using namespace machine_detail;

machine_actor spawn_machine(caf::local_actor* manager, std::shared_ptr<engine_context> ctx,
                            machine_create create,
                            caf::typed_response_promise<machine_reply> created) {
  auto mgr = caf::actor_cast<machine_manager_actor>(manager);
  return manager->spawn<caf::linked>(
      [ctx, mgr, create = std::move(create), created](machine_ptr self) mutable {
        auto& st = self->state;
        st.ctx = ctx;
        st.manager = mgr;
        st.rec = std::move(create.record);
        st.log = appender_for(self);
        st.spec.id = st.rec.id;
        st.spec.artifact_id = st.rec.artifact_id;
        st.spec.artifact_dir = create.artifact_dir;
        st.spec.config = create.config;
        st.spec.envs = std::move(create.envs);
        st.spec.resources = {st.rec.resources.cpu_count, st.rec.resources.memory_mb,
                             st.rec.resources.disk_mb, st.rec.resources.internet_access};
        st.ready = create.config.ready;
        st.idempotency = std::move(create.idempotency);
        if (create.config.ready_timeout_ms) st.ready_timeout_ms = create.config.ready_timeout_ms;
        if (create.wait) st.ready_waiters.push_back(created);
        bool wait = create.wait;
        auto first = "starting machine from " + st.rec.namespace_name + "/" + st.rec.template_name +
                     "@" + st.rec.build_id;
        record_change(self, {status_entry(machine_state::starting, "info", first)},
                      [self, created, wait](bool ok) mutable {
                        auto& s = self->state;
                        if (!ok) {
                          auto e = make_error(errc::unavailable,
                                              "the machine's record could not be stored; retry");
                          answer_all(s.ready_waiters, machine_reply{e, s.rec});
                          if (!wait) created.deliver(machine_reply{e, s.rec});
                          return ended(self);
                        }
                        if (!wait) created.deliver(reply_of(s));
                        schedule_deadline(self);
                        launch(self);
                      });
        return behavior(self);
      });
}

machine_actor adopt_machine(caf::local_actor* manager, std::shared_ptr<engine_context> ctx,
                            machine_record record) {
  auto mgr = caf::actor_cast<machine_manager_actor>(manager);
  return manager->spawn<caf::linked>([ctx, mgr,
                                      record = std::move(record)](machine_ptr self) mutable {
    auto& st = self->state;
    st.ctx = ctx;
    st.manager = mgr;
    st.rec = std::move(record);
    st.log = appender_for(self);
    st.spec.id = st.rec.id;
    st.counted_ready = true;  // its create was counted by the engine that made it
    auto* driver = ctx->machines;
    auto artifact_dir = ctx->config.data_dir + "/artifacts/" + st.rec.artifact_id;
    blocking(
        self,
        [driver, id = st.rec.id,
         placement = runtime::machine_placement{st.rec.driver, st.rec.placement}, artifact_dir] {
          adoption a;
          a.status = driver->adopt(id, placement);
          if (a.status)
            if (auto c =
                    runtime::parse_template_config(read_text_file(artifact_dir + "/config.json")))
              a.config = std::move(*c);
          return a;
        },
        [self](adoption a) { adopted(self, a); });
    return behavior(self);
  });
}

}  // namespace nullspace::actors

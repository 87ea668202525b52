#include "actors/build/build_manager.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>

#include "actors/build/build_actor.hpp"
#include "actors/build/build_state.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/request_parser.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/new_id.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace {

using storage::build_record;
using storage::build_status;

constexpr int max_crash_recoveries = 3;

// A build the manager knows of. A queued build without secret values is held
// without an actor (`handle` empty): its record is durable and current in the
// store, so its actor is made from that record when it gets a slot. A queued
// build then costs a map entry and a queue entry (PERFORMANCE.md, "Live
// builds"), not an actor with its record, parsed request and plan.
struct live_build {
  build_actor handle;
  std::string tenant;
  bool queued = false;      // waiting in a tenant queue for a slot
  bool running = false;     // holds a slot
  bool waiting = false;     // needs a build context first
  bool cancelling = false;  // held without an actor: its cancel is being written
  std::string waiting_for;
};

struct manager_state {
  std::shared_ptr<engine_context> ctx;
  std::unordered_map<std::string, live_build> live;
  std::map<std::string, std::deque<std::string>> queues;  // tenant → build ids, FIFO
  std::deque<std::string> tenant_turns;                   // tenants with queued builds
  std::unordered_map<caf::actor_addr, std::string> by_addr;
  std::unordered_map<std::string, int> crashes;
  size_t queued = 0, running = 0, admitting = 0;
  static inline const char* name = "build_manager";
};

using manager_ptr = build_manager_actor::stateful_pointer<manager_state>;

void enqueue(manager_state& st, const std::string& id, bool front = false) {
  auto& lb = st.live.at(id);
  lb.queued = true;
  auto& q = st.queues[lb.tenant];
  if (q.empty()) st.tenant_turns.push_back(lb.tenant);
  if (front)
    q.push_front(id);
  else
    q.push_back(id);
  ++st.queued;
}

// Out of its tenant's queue (the id stays in the deque until a turn skips it).
void unqueue(manager_state& st, live_build& lb) {
  if (!lb.queued) return;
  lb.queued = false;
  --st.queued;
}

storage::log_entry status_entry(build_status s, std::string level, std::string message) {
  storage::log_entry e;
  e.kind = "status";
  e.level = std::move(level);
  e.message = std::move(message);
  e.status = storage::to_string(s);
  return e;
}

void append_record(manager_ptr self, build_record rec, std::vector<storage::log_entry> entries) {
  append_request req;
  req.build_id = rec.id;
  req.add(std::move(entries));
  req.record = std::move(rec);
  auto failed = [id = req.record->id, tenant = req.record->tenant](caf::error& err) {
    logging::build.error("recovery append failed",
                         {{"build", id}, {"tenant", tenant}, {"error", caf::to_string(err)}});
  };
  auto& dir = self->state.ctx->directory;
  // Terminal records go through the template registry (retention starts there).
  if (storage::is_terminal(req.record->status))
    self->request(dir.registry(), caf::infinite, terminal_atom::value, std::move(req))
        .then([](uint64_t) {}, failed);
  else
    self->request(dir.hub(), caf::infinite, append_atom::value, std::move(req))
        .then([](uint64_t) {}, failed);
}

// Gives a build held without an actor its actor, from its stored record (it
// just got a slot). False if that cannot be: the build fails, as recovery
// fails a record it can no longer read.
bool wake(manager_ptr self, const std::string& id, live_build& lb) {
  auto& st = self->state;
  auto rec = st.ctx->db->get_build(id);
  if (!rec || rec->status != build_status::queued) {
    logging::build.error("a queued build's stored record is gone or not queued", {{"build", id}});
    return false;
  }
  auto parsed = runtime::parse_build_request(rec->definition_json, st.ctx->config.limits,
                                             {.allow_redacted_secrets = true});
  if (!parsed.request) {
    rec->status = build_status::error;
    rec->finished_ms = storage::now_ms();
    rec->failure = storage::build_failure{
        "internal", "the build's stored definition can no longer be read", -1, {}};
    append_record(self, std::move(*rec),
                  {status_entry(build_status::error, "error", "build failed: internal error")});
    return false;
  }
  lb.handle = spawn_build(self, st.ctx, std::move(*rec), std::move(*parsed.request),
                          caf::actor_cast<build_manager_actor>(self));
  st.by_addr[lb.handle.address()] = id;
  return true;
}

// Grants free slots: one build per tenant per turn, FIFO within a tenant.
void schedule(manager_ptr self) {
  auto& st = self->state;
  while (st.running < st.ctx->config.executor_slots && !st.tenant_turns.empty()) {
    auto tenant = st.tenant_turns.front();
    st.tenant_turns.pop_front();
    auto& q = st.queues[tenant];
    while (!q.empty()) {
      auto id = q.front();
      q.pop_front();
      auto it = st.live.find(id);
      if (it == st.live.end() || !it->second.queued) continue;  // cancelled meanwhile
      auto& lb = it->second;
      unqueue(st, lb);
      if (!lb.handle && !wake(self, id, lb)) {
        st.live.erase(it);
        continue;
      }
      lb.running = true;
      ++st.running;
      self->send(lb.handle, start_atom::value);
      break;
    }
    if (!q.empty())
      st.tenant_turns.push_back(tenant);
    else
      st.queues.erase(tenant);
  }
}

// Takes over a durable build. A queued one without secret values (build
// secrets, a registry password: neither is stored, so an actor made later from
// the stored record would lack them) whose stored record is current
// (`stored_is_current`) is held without an actor until it gets a slot; any
// other gets its actor now.
void adopt(manager_ptr self, build_record rec, runtime::build_request req, bool stored_is_current) {
  auto& st = self->state;
  auto id = rec.id;
  live_build lb;
  lb.tenant = rec.tenant;
  lb.waiting = rec.status == build_status::waiting;
  lb.waiting_for = rec.waiting_for;
  bool queue_it = rec.status == build_status::queued;
  bool holds_secret_values = !req.secrets.empty() || req.source.auth.has_value();
  if (!queue_it || !stored_is_current || holds_secret_values) {
    lb.handle = spawn_build(self, st.ctx, std::move(rec), std::move(req),
                            caf::actor_cast<build_manager_actor>(self));
    st.by_addr[lb.handle.address()] = id;
  }
  st.live[id] = std::move(lb);
  if (queue_it) enqueue(st, id);
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Brings one non-terminal stored build back to life (start-up or after a crash).
void recover(manager_ptr self, build_record rec, const std::string& why) {
  // A build that was running when the engine died may have left a step running
  // in its container, its mounts and its secret files: whatever becomes of it
  // now (its steps start again, or it fails), none of that is still needed.
  if (rec.status == build_status::building && self->state.ctx->sandbox)
    self->state.ctx->sandbox->cleanup_build(rec.id);
  auto fail_now = [&](std::string code, std::string message) {
    rec.status = build_status::error;
    rec.finished_ms = storage::now_ms();
    rec.failure = storage::build_failure{std::move(code), message, -1, {}};
    std::vector<storage::log_entry> es;
    storage::log_entry e;
    e.kind = "error";
    e.level = "error";
    e.message = message;
    es.push_back(std::move(e));
    es.push_back(status_entry(build_status::error, "error", "build failed"));
    append_record(self, std::move(rec), std::move(es));
  };
  if (!rec.secret_ids.empty())
    return fail_now("secrets_lost", why +
                                        "; secret values are never persisted, so this build "
                                        "cannot continue: retry it with fresh values for " +
                                        join(rec.secret_ids));
  auto parsed = runtime::parse_build_request(rec.definition_json, self->state.ctx->config.limits,
                                             {.allow_redacted_secrets = true});
  if (!parsed.request)
    return fail_now("internal", why + "; its stored definition can no longer be read");
  if (runtime::lost_registry_password(*parsed.request))
    return fail_now("secrets_lost",
                    why + "; registry passwords are never persisted, so this build cannot pull " +
                        parsed.request->source.image +
                        " again: submit it again with the registry credentials");
  bool stored_is_current = true;
  if (rec.status == build_status::building) {
    rec.status = build_status::queued;
    rec.started_ms = 0;
    append_record(
        self, rec,
        {status_entry(build_status::queued, "warn",
                      why + " while building; queued again, starting from the first step")});
    stored_is_current = false;  // until that append is durable: it keeps its actor
  }
  adopt(self, std::move(rec), std::move(*parsed.request), stored_is_current);
}

void recover_all(manager_ptr self, const std::string& why) {
  std::vector<build_record> open;
  self->state.ctx->db->for_each_unfinished_build(
      [&](build_record&& r) { open.push_back(std::move(r)); });
  std::sort(open.begin(), open.end(), [](auto& a, auto& b) { return a.created_ms < b.created_ms; });
  for (auto& r : open) recover(self, std::move(r), why);
  if (!open.empty()) logging::build.info("recovered unfinished builds", {{"count", open.size()}});
}

void release(manager_state& st, const std::string& id) {
  auto it = st.live.find(id);
  if (it == st.live.end()) return;
  if (it->second.running) --st.running;
  unqueue(st, it->second);
  if (it->second.handle) st.by_addr.erase(it->second.handle.address());
  st.live.erase(it);
}

void on_build_exit(manager_ptr self, caf::exit_msg& em) {
  auto& st = self->state;
  auto it = st.by_addr.find(em.source);
  if (it == st.by_addr.end()) {
    // A build that already reported `finished` exits normally: nothing to do.
    // Anything else that is not one of our builds is our parent shutting us down.
    if (em.reason) self->quit(em.reason);
    return;
  }
  auto id = it->second;
  auto live = st.live.find(id);
  auto tenant = live != st.live.end() ? live->second.tenant : std::string();
  release(st, id);
  if (!em.reason) {
    schedule(self);
    return;
  }
  logging::build.error("build actor crashed",
                       {{"build", id}, {"tenant", tenant}, {"reason", caf::to_string(em.reason)}});
  auto rec = st.ctx->db->get_build(id);
  if (rec && !storage::is_terminal(rec->status)) {
    if (++st.crashes[id] > max_crash_recoveries) {
      logging::build.error("giving up after repeated crashes",
                           {{"build", id}, {"tenant", tenant}, {"crashes", max_crash_recoveries}});
      rec->secret_ids.clear();
      auto r = std::move(*rec);
      r.status = build_status::error;
      r.finished_ms = storage::now_ms();
      r.failure =
          storage::build_failure{"internal", "the build's actor crashed repeatedly", -1, {}};
      append_record(self, r,
                    {status_entry(build_status::error, "error", "build failed: internal error")});
    } else {
      recover(self, std::move(*rec), "the build's actor crashed");
    }
  }
  schedule(self);
}

// The first build context the request refers to that is not uploaded yet.
std::string missing_context(const storage::store& db, const runtime::build_request& req) {
  if (!req.source.context.empty() && !db.has_context(req.source.context)) return req.source.context;
  for (auto& step : req.steps)
    if (!step.context.empty() && !db.has_context(step.context)) return step.context;
  return {};
}

caf::result<build_reply> submit(manager_ptr self, submit_request& sr) {
  auto& st = self->state;
  if (st.queued + st.admitting >= st.ctx->config.max_queued)
    return build_reply{make_error(errc::resource_exhausted, "the build queue is full (" +
                                                                std::to_string(st.queued) +
                                                                " builds queued); retry later"),
                       {}};
  auto& req = sr.request;
  build_record rec;
  rec.id = new_build_id();
  rec.tenant = sr.tenant;
  rec.namespace_name = req.namespace_name.empty() ? sr.tenant : req.namespace_name;
  rec.name = req.name;
  rec.tags = req.tags;
  rec.status = build_status::queued;
  rec.created_ms = storage::now_ms();
  rec.retry_of = sr.retry_of;
  rec.backend = runtime::to_string(req.backend);
  rec.options = {req.cpu_count, req.memory_mb, req.disk_mb, req.internet_access, req.skip_cache};
  rec.definition_json = runtime::sanitized_definition_json(req);
  for (auto& s : req.secrets) rec.secret_ids.push_back(s.id);
  rec.waiting_for = missing_context(*st.ctx->db, req);
  if (!rec.waiting_for.empty()) rec.status = build_status::waiting;

  std::vector<storage::log_entry> entries;
  auto what = rec.waiting_for.empty() ? std::string("build queued")
                                      : "build waiting for build context " + rec.waiting_for;
  if (!sr.retry_of.empty()) what += " (retry of " + sr.retry_of + ")";
  entries.push_back(status_entry(rec.status, "info", what));
  append_request areq;
  areq.build_id = rec.id;
  areq.add(std::move(entries));
  areq.record = rec;
  areq.create = true;
  if (sr.idempotency) {
    // With the build's first record, in one batch: never one without the other.
    auto row = std::move(*sr.idempotency);
    row.object_id = rec.id;
    areq.also = [row](storage::store& db, storage::write_batch& wb) {
      db.put_idempotency(wb, row);
    };
  }
  ++st.admitting;
  auto rp = self->make_response_promise<build_reply>();
  auto unavailable = [=](const char* what, const caf::error& err) mutable {
    --self->state.admitting;
    rp.deliver(build_reply{from_store_failure(err, what), {}});
  };
  auto store_it = [=, req = std::move(req), areq = std::move(areq)]() mutable {
    self->request(self->state.ctx->directory.hub(), caf::infinite, append_atom::value,
                  std::move(areq))
        .then(
            [=, req = std::move(req)](uint64_t) mutable {
              --self->state.admitting;
              auto r = rec;
              adopt(self, std::move(r), std::move(req), true);
              schedule(self);
              rp.deliver(build_reply{std::nullopt, rec});
            },
            [=](caf::error& err) mutable { unavailable("the build could not be stored: ", err); });
  };
  // The registry first: may this tenant build under that name (creating the
  // template on first use)?
  self->request(st.ctx->directory.registry(), caf::infinite, claim_atom::value, sr.tenant,
                rec.namespace_name, rec.name)
      .then(
          [=, store_it = std::move(store_it)](registry_reply& r) mutable {
            if (r.err) {
              --self->state.admitting;
              rp.deliver(build_reply{std::move(r.err), {}});
              return;
            }
            store_it();
          },
          [=](caf::error& err) mutable {
            unavailable("the template registry did not answer: ", err);
          });
  return rp;
}

// A cancel of a build that already ended: 409 with the terminal record.
build_reply already_terminal(const build_record& rec) {
  return build_reply{make_error(errc::conflict, "build " + rec.id + " is already " +
                                                    storage::to_string(rec.status)),
                     rec};
}

// Cancels a queued build held without an actor: its cancelled record and entry
// go through the registry (retention starts there), as a build actor's would.
caf::result<build_reply> cancel_held(manager_ptr self, const std::string& id, live_build& lb,
                                     std::string reason) {
  auto& st = self->state;
  auto rec = st.ctx->db->get_build(id);
  if (!rec || storage::is_terminal(rec->status)) {
    if (rec) return already_terminal(*rec);
    return build_reply{make_error(errc::unavailable, "build " + id + " is not readable; retry"),
                       {}};
  }
  if (lb.cancelling)
    return build_reply{make_error(errc::conflict, "build " + id + " is already finishing"),
                       std::move(*rec)};
  unqueue(st, lb);
  lb.cancelling = true;
  rec->status = build_status::cancelled;
  rec->finished_ms = storage::now_ms();
  rec->cancel_reason = reason;
  auto parsed = runtime::parse_build_request(rec->definition_json, st.ctx->config.limits,
                                             {.allow_redacted_secrets = true});
  if (parsed.request) rec->cache.steps = counted_steps(runtime::make_plan(*parsed.request));
  storage::log_entry e;
  e.kind = "cancelled";
  e.level = "warn";
  e.message = reason.empty() ? std::string("build cancelled") : "build cancelled: " + reason;
  e.status = "cancelled";
  append_request req;
  req.build_id = id;
  req.add(std::move(e));
  req.record = *rec;
  auto rp = self->make_response_promise<build_reply>();
  self->request(st.ctx->directory.registry(), caf::infinite, terminal_atom::value, std::move(req))
      .then(
          [=, rec = std::move(*rec)](uint64_t) mutable {
            auto& s = self->state;
            release(s, id);
            s.crashes.erase(id);
            if (s.ctx->heap) s.ctx->heap->request();
            rp.deliver(build_reply{std::nullopt, std::move(rec)});
          },
          [=](caf::error& err) mutable {
            // Not durable: the build stays queued, first in its tenant's line.
            auto& s = self->state;
            auto again = s.live.find(id);
            if (again != s.live.end()) {
              again->second.cancelling = false;
              enqueue(s, id, true);
              schedule(self);
            }
            rp.deliver(
                build_reply{from_store_failure(err, "the cancel could not be stored: "), {}});
          });
  return rp;
}

caf::result<build_reply> cancel(manager_ptr self, const std::string& tenant, const std::string& id,
                                std::string& reason) {
  auto& st = self->state;
  auto it = st.live.find(id);
  if (it != st.live.end() && it->second.tenant == tenant && !it->second.handle)
    return cancel_held(self, id, it->second, std::move(reason));
  if (it != st.live.end() && it->second.tenant == tenant) {
    auto rp = self->make_response_promise<build_reply>();
    self->request(it->second.handle, caf::infinite, cancel_atom::value, std::move(reason))
        .then([=](build_reply& r) mutable { rp.deliver(std::move(r)); },
              [=](caf::error& err) mutable {
                // The build actor ended meanwhile: answer from its stored record.
                auto rec = self->state.ctx->db->get_build(id);
                if (rec && storage::is_terminal(rec->status)) {
                  rp.deliver(already_terminal(*rec));
                } else {
                  rp.deliver(build_reply{make_error(errc::unavailable, "cancel did not complete: " +
                                                                           caf::to_string(err)),
                                         {}});
                }
              });
    return rp;
  }
  auto rec = st.ctx->db->get_build(id);
  if (!rec || rec->tenant != tenant)
    return build_reply{make_error(errc::not_found, "no build " + id), {}};
  if (storage::is_terminal(rec->status)) return already_terminal(*rec);
  return build_reply{make_error(errc::unavailable, "build " + id + " is being recovered; retry"),
                     *rec};
}

build_manager_actor::behavior_type manager(manager_ptr self, std::shared_ptr<engine_context> ctx,
                                           bool restarted) {
  self->state.ctx = std::move(ctx);
  self->set_exit_handler([=](caf::exit_msg& em) { on_build_exit(self, em); });
  recover_all(self, restarted ? "the build manager restarted" : "the engine restarted");
  schedule(self);
  return {
      [=](submit_atom, submit_request& sr) { return submit(self, sr); },
      [=](cancel_atom, const std::string& tenant, const std::string& id, std::string& reason) {
        return cancel(self, tenant, id, reason);
      },
      [=](finished_atom, const std::string& id) {
        release(self->state, id);
        self->state.crashes.erase(id);
        if (self->state.ctx->heap) self->state.ctx->heap->request();
        schedule(self);
      },
      [=](ctx_ready_atom, const std::string& ctx_id) {
        auto& st = self->state;
        std::vector<std::string> ready;
        for (auto& [id, lb] : st.live)
          if (lb.waiting && lb.waiting_for == ctx_id) ready.push_back(id);
        std::sort(ready.begin(), ready.end());  // ids are time-ordered
        for (auto& id : ready) {
          auto& lb = st.live.at(id);
          lb.waiting = false;
          self->send(lb.handle, ctx_ready_atom::value, ctx_id);
          enqueue(st, id);
        }
        schedule(self);
      },
      [=](stats_atom) {
        auto& st = self->state;
        return manager_stats{st.queued, st.running, st.live.size(), st.ctx->config.executor_slots};
      },
  };
}

}  // namespace

std::string new_build_id() {
  return new_id("tb_");
}

build_manager_actor spawn_build_manager(caf::local_actor* parent,
                                        std::shared_ptr<engine_context> ctx, bool restarted) {
  return parent->spawn<caf::linked>(manager, std::move(ctx), restarted);
}

}  // namespace nullspace::actors

#include "actors/build/build_manager.hpp"

#include <algorithm>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <unordered_map>

#include "actors/build/build_actor.hpp"
#include "actors/build/build_state.hpp"
#include "runtime/plan/request_parser.hpp"
#include "storage/common/logging.hpp"
#include "storage/common/new_id.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {
namespace {

using storage::build_record;
using storage::build_status;

constexpr int max_crash_recoveries = 3;

struct live_build {
  build_actor handle;
  std::string tenant;
  bool queued = false;   // waiting in a tenant queue for a slot
  bool running = false;  // holds a slot
  bool waiting = false;  // needs a build context first
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

void enqueue(manager_state& st, const std::string& id) {
  auto& lb = st.live.at(id);
  lb.queued = true;
  auto& q = st.queues[lb.tenant];
  if (q.empty()) st.tenant_turns.push_back(lb.tenant);
  q.push_back(id);
  ++st.queued;
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
      it->second.queued = false;
      it->second.running = true;
      --st.queued;
      ++st.running;
      self->send(it->second.handle, start_atom::value);
      break;
    }
    if (!q.empty())
      st.tenant_turns.push_back(tenant);
    else
      st.queues.erase(tenant);
  }
}

void adopt(manager_ptr self, build_record rec, runtime::build_request req) {
  auto& st = self->state;
  auto id = rec.id;
  live_build lb;
  lb.tenant = rec.tenant;
  lb.waiting = rec.status == build_status::waiting;
  lb.waiting_for = rec.waiting_for;
  bool queue_it = rec.status == build_status::queued;
  lb.handle = spawn_build(self, st.ctx, std::move(rec), std::move(req),
                          caf::actor_cast<build_manager_actor>(self));
  st.by_addr[lb.handle.address()] = id;
  st.live[id] = std::move(lb);
  if (queue_it) enqueue(st, id);
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

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// Brings one non-terminal stored build back to life (start-up or after a crash).
void recover(manager_ptr self, build_record rec, const std::string& why) {
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
  if (rec.status == build_status::building) {
    rec.status = build_status::queued;
    rec.started_ms = 0;
    append_record(
        self, rec,
        {status_entry(build_status::queued, "warn",
                      why + " while building; queued again, starting from the first step")});
  }
  adopt(self, std::move(rec), std::move(*parsed.request));
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
  if (it->second.queued) --st.queued;
  st.by_addr.erase(it->second.handle.address());
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
              auto& s = self->state;
              --s.admitting;
              auto r = rec;
              adopt(self, std::move(r), std::move(req));
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

caf::result<build_reply> cancel(manager_ptr self, const std::string& tenant, const std::string& id,
                                std::string& reason) {
  auto& st = self->state;
  auto it = st.live.find(id);
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

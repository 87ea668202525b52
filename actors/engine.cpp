// The embedded API (include/nullspace/engine.hpp) over the actor tree.
#include "nullspace/engine.hpp"

#include <spdlog/spdlog.h>
#include <caf/all.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>
#include <set>

#include "actors/engine_impl.hpp"
#include "actors/orchestrator.hpp"
#include "actors/status_cache.hpp"
#include "runtime/common/absolute_path.hpp"

namespace nullspace {
namespace {

using namespace actors;

struct follower_state {
  follow_callbacks cb;
  std::shared_ptr<engine_context> ctx;
  std::string id;
  uint64_t cursor = 0;  // next offset to deliver
  caf::actor_addr hub;  // the hub we are subscribed to
  static inline const char* name = "follower";
};

using follower_ptr = log_follower::stateful_pointer<follower_state>;

void subscribe(follower_ptr self, log_hub_actor hub) {
  auto& st = self->state;
  st.hub = hub.address();
  self->monitor(hub);
  self->send(hub, follow_atom::value, st.id, st.cursor, caf::actor_cast<log_follower>(self));
}

// Subscribes to the hub that replaces `dead`, once the orchestrator runs one.
void subscribe_after(follower_ptr self, const caf::actor_addr& dead) {
  auto orch = caf::actor_cast<orchestrator_actor>(self->state.ctx->directory.orchestrator());
  if (!orch) return self->quit();  // the engine is shutting down
  self->request(orch, caf::infinite, hub_after_atom::value, dead)
      .then([=](log_hub_actor hub) { subscribe(self, std::move(hub)); },
            [=](caf::error&) { self->quit(); });
}

// A subscription of the embedded API. It survives a log_hub crash: when its hub
// dies it asks the orchestrator for the replacement and re-subscribes from its
// cursor, so the caller still sees every entry once, in order, then the end.
log_follower::behavior_type follower(follower_ptr self, follow_callbacks cb,
                                     std::shared_ptr<engine_context> ctx, std::string id,
                                     uint64_t from) {
  auto& st = self->state;
  st.cb = std::move(cb);
  st.ctx = std::move(ctx);
  st.id = std::move(id);
  st.cursor = from;
  self->set_down_handler([=](caf::down_msg& dm) {
    if (dm.source == self->state.hub) subscribe_after(self, dm.source);
  });
  if (auto hub = st.ctx->directory.hub())
    subscribe(self, std::move(hub));
  else
    subscribe_after(self, caf::actor_addr{});
  return {
      [=](batch_atom, const follow_batch_ptr& b) {
        auto& s = self->state;
        // Entries arrive in offset order. Only around a re-subscription can some
        // be below the cursor (the dead hub's last batches may be handled after
        // its down message): skip those, and copy nothing in the usual case.
        auto& es = b->entries;
        auto first_new = std::find_if(es.begin(), es.end(),
                                      [&](const raw_entry& e) { return e.offset >= s.cursor; });
        if (first_new != es.end()) {
          s.cursor = es.back().offset + 1;
          if (s.cb.on_entries) {
            if (first_new == es.begin())
              s.cb.on_entries(es);
            else
              s.cb.on_entries(std::vector<raw_entry>(first_new, es.end()));
          }
        }
        if (b->end) {
          if (s.cb.on_end) s.cb.on_end(build_view{*b->end, s.ctx->db->next_offset(b->build_id)});
          self->quit();
        }
      },
  };
}

// Holds only a weak reference to the engine: stop() after the engine is gone
// is a no-op (the engine ended every follower when it shut down).
class follow_handle_impl final : public follow_handle {
 public:
  follow_handle_impl(std::string id, log_follower f, std::weak_ptr<engine_context> ctx)
      : id_(std::move(id)), follower_(std::move(f)), ctx_(std::move(ctx)) {}
  ~follow_handle_impl() override { stop(); }
  void stop() override {
    auto ctx = ctx_.lock();
    if (!follower_ || !ctx || !ctx->accepting_calls()) {
      follower_ = nullptr;
      return;
    }
    if (auto hub = ctx->directory.hub()) caf::anon_send(hub, unfollow_atom::value, id_, follower_);
    caf::anon_send_exit(follower_, caf::exit_reason::user_shutdown);
    follower_ = nullptr;
  }

 private:
  std::string id_;
  log_follower follower_;
  std::weak_ptr<engine_context> ctx_;
};

}  // namespace

std::string build_view::json() const {
  return storage::build_api_json(record, log_next_offset);
}

namespace {
// A store read as the API's get_status answer (entries from `offset`).
status_view to_status_view(storage::store::status_read&& read, uint64_t offset) {
  status_view out;
  out.next_offset = read.entries.empty() ? offset : read.entries.back().offset + 1;
  out.build = build_view{std::move(read.record), read.log_next_offset};
  out.logs = std::move(read.entries);
  return out;
}
}  // namespace

std::string status_view::json() const {
  std::string out = "{\"build\":" + build.json() + ",\"logs\":[";
  for (size_t i = 0; i < logs.size(); ++i) {
    if (i) out.push_back(',');
    out += logs[i].json;
  }
  out += "],\"next_offset\":" + std::to_string(next_offset) + "}";
  return out;
}

engine::engine(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

engine::~engine() {
  impl_->shutdown();
  impl_->runner.reset();  // kills any process still running
  impl_->db.reset();
}

result<std::unique_ptr<engine>> engine::open(engine_options options) {
  if (options.data_dir.empty())
    return make_error(errc::invalid_argument, "the data dir is empty: name a directory");
  // Once, before anything uses them: every component (and the OCI runtime,
  // which reads a bundle's paths against the bundle) sees the same paths.
  options.data_dir = runtime::absolute_path(options.data_dir);
  options.images_dir = runtime::absolute_path(options.images_dir);
  options.contexts_dir = runtime::absolute_path(options.contexts_dir);
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec)
    return make_error(errc::unavailable,
                      "cannot create data dir " + options.data_dir + ": " + ec.message());
  if (options.contexts_dir.empty()) options.contexts_dir = options.data_dir + "/contexts";
  auto p = std::make_unique<impl>();
  p->opts = options;
  auto db = storage::store::open(options.data_dir + "/db", {.sync = options.sync});
  if (!db) return db.error();
  p->db = std::move(db.value());
  if (options.status_cache_bytes > 0)
    p->statuses = std::make_unique<status_cache>(options.status_cache_bytes);
  if (options.isolation_mode == isolation::sandbox) {
    if (::geteuid() != 0)
      return make_error(errc::failed_precondition,
                        "sandboxed builds need root (mounts, namespaces, cgroups); "
                        "run as root or choose the host executor (--isolation host)");
    auto rt = runtime::find_oci_runtime(options.oci_runtime, options.data_dir + "/run/oci");
    if (!rt) return rt.error();
    p->runner = std::make_unique<runtime::process_runner>();
    p->images = std::make_unique<runtime::image_store>(
        options.images_dir.empty() ? options.data_dir + "/images" : options.images_dir, *p->runner,
        options.debian_mirror);
    p->sandbox = std::make_unique<runtime::step_sandbox>(options.data_dir, std::move(rt.value()));
  }
  if (!p->runner) p->runner = std::make_unique<runtime::process_runner>();
  p->cfg = std::make_unique<caf::actor_system_config>();
  p->cfg->set("scheduler.max-threads", std::max<size_t>(1, options.scheduler_threads));
  // Workers block on a condition variable instead of polling with back-off
  // sleeps: lower latency for request/response chains (docs/PERFORMANCE.md).
  p->cfg->set("scheduler.policy", caf::atom("sharing"));
  p->cfg->set("logger.verbosity", caf::atom("quiet"));
  p->sys = std::make_unique<caf::actor_system>(*p->cfg);

  p->ctx = std::make_shared<engine_context>();
  p->ctx->config = {options.data_dir,
                    options.contexts_dir,
                    std::max<uint32_t>(1, options.executor_slots),
                    options.max_queued,
                    options.limits,
                    {options.retention.untagged_ready.count(), options.retention.failed.count(),
                     options.retention.sweep_interval.count()},
                    options.tenants,
                    options.clock};
  p->ctx->db = p->db.get();
  p->ctx->runner = p->runner.get();
  p->ctx->images = p->images.get();
  p->ctx->sandbox = p->sandbox.get();
  p->orch = spawn_orchestrator(*p->sys, p->ctx);
  p->ctx->directory.set_orchestrator(caf::actor_cast<caf::actor>(p->orch));

  // Round trips: the orchestrator has published its children, and the manager
  // (recovery) and the registry (adopting old history) have finished start-up
  // before open() returns.
  caf::scoped_actor self{*p->sys};
  bool ready = false;
  self->request(p->orch, caf::infinite, stats_atom::value)
      .receive([&](uint64_t) { ready = true; }, [&](caf::error&) {});
  if (ready)
    self->request(p->ctx->directory.manager(), caf::infinite, stats_atom::value)
        .receive([&](const manager_stats&) {}, [&](caf::error&) { ready = false; });
  if (ready)
    self->request(p->ctx->directory.registry(), caf::infinite, stats_atom::value)
        .receive([&](bool) {}, [&](caf::error&) { ready = false; });
  if (!ready) {
    p->shutdown();
    return make_error(errc::internal, "the engine's actors did not start");
  }
  return std::unique_ptr<engine>(new engine(std::move(p)));
}

result<build_view> engine::submit(std::string_view request_json, const std::string& tenant) {
  auto parsed = runtime::parse_build_request(request_json, impl_->opts.limits);
  if (!parsed.request) return parsed.errors.front();
  return submit(std::move(*parsed.request), tenant);
}

result<build_view> engine::submit(runtime::build_request request, const std::string& tenant) {
  return impl_->ask_manager_submit(submit_request{tenant, std::move(request), {}});
}

runtime::parse_outcome engine::validate(std::string_view request_json) const {
  return runtime::parse_build_request(request_json, impl_->opts.limits);
}

result<runtime::build_plan> engine::plan(std::string_view request_json) const {
  auto parsed = runtime::parse_build_request(request_json, impl_->opts.limits);
  if (!parsed.request) return parsed.errors.front();
  return runtime::make_plan(*parsed.request);
}

result<status_view> engine::get_status(const std::string& id, uint64_t offset, size_t limit,
                                       const std::string& tenant) const {
  auto read = impl_->db->read_status(id, offset, limit);
  if (!read || read->record.tenant != tenant) return make_error(errc::not_found, "no build " + id);
  return to_status_view(std::move(*read), offset);
}

result<status_json> engine::get_status_json(const std::string& id, uint64_t offset, size_t limit,
                                            const std::string& tenant) const {
  auto not_found = [&] { return make_error(errc::not_found, "no build " + id); };
  // The generation is read before the data: see storage::store::generation.
  uint64_t generation = impl_->db->generation(id);
  std::string key;
  if (impl_->statuses) {
    key = status_cache::key(id, offset, limit);
    if (auto hit = impl_->statuses->find(key, generation)) {
      impl_->status_hits.fetch_add(1, std::memory_order_relaxed);
      if (hit->tenant != tenant) return not_found();
      return status_json{std::move(hit->body), hit->status, hit->entries};
    }
    impl_->status_misses.fetch_add(1, std::memory_order_relaxed);
  }
  auto read = impl_->db->read_status(id, offset, limit);
  if (!read) return not_found();
  auto view = to_status_view(std::move(*read), offset);
  status_json out{std::make_shared<const std::string>(view.json()), view.build.record.status,
                  view.logs.size()};
  bool mine = view.build.record.tenant == tenant;
  if (impl_->statuses)
    impl_->statuses->put(std::move(key),
                         cached_status{generation, std::move(view.build.record.tenant), out.body,
                                       out.status, out.entries});
  if (!mine) return not_found();
  return out;
}

result<build_view> engine::cancel(const std::string& id, const std::string& reason,
                                  const std::string& tenant) {
  caf::scoped_actor self{*impl_->sys};
  std::optional<result<build_view>> out;
  self->request(impl_->ctx->directory.manager(), caf::infinite, cancel_atom::value, tenant, id,
                reason)
      .receive(
          [&](build_reply& r) {
            if (r.err)
              out.emplace(std::move(*r.err));
            else
              out.emplace(impl_->view(std::move(r.record)));
          },
          [&](caf::error& e) { out.emplace(from_caf(e, "the build manager did not answer")); });
  return std::move(*out);
}

result<submit_request> engine::impl::prepare_retry(const std::string& id, retry_options options,
                                                   const std::string& tenant) {
  auto rec = db->get_build(id);
  if (!rec || rec->tenant != tenant) return make_error(errc::not_found, "no build " + id);
  auto parsed = runtime::parse_build_request(rec->definition_json, opts.limits,
                                             {.allow_redacted_secrets = true});
  if (!parsed.request)
    return make_error(errc::internal, "the stored definition of " + id + " cannot be read");
  auto req = std::move(*parsed.request);

  // Secrets: exactly the original ids, each with a fresh value.
  std::set<std::string> supplied;
  for (size_t i = 0; i < options.secrets.size(); ++i) {
    auto& s = options.secrets[i];
    auto field = "build_secrets[" + std::to_string(i) + "]";
    if (std::find(rec->secret_ids.begin(), rec->secret_ids.end(), s.id) == rec->secret_ids.end())
      return make_error(errc::invalid_argument,
                        "secret id '" + s.id + "' was not used by build " + id, field + ".id");
    if (s.value.empty() || s.value.size() > opts.limits.max_secret_bytes)
      return make_error(errc::invalid_argument,
                        "secret '" + s.id + "' needs a non-empty value of at most " +
                            std::to_string(opts.limits.max_secret_bytes) + " bytes",
                        field + ".value");
    if (!supplied.insert(s.id).second)
      return make_error(errc::invalid_argument, "secret id '" + s.id + "' is given twice",
                        field + ".id");
  }
  std::vector<std::string> missing;
  for (auto& sid : rec->secret_ids)
    if (!supplied.count(sid)) missing.push_back(sid);
  if (!missing.empty()) {
    std::string names;
    for (auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    return make_error(errc::failed_precondition,
                      "build " + id +
                          " used build secrets whose values are never stored; retry "
                          "needs fresh values for: " +
                          names,
                      "build_secrets");
  }
  for (auto& s : req.secrets) {
    auto it = std::find_if(options.secrets.begin(), options.secrets.end(),
                           [&](auto& x) { return x.id == s.id; });
    s.value = it->value;
    if (!it->source.empty()) s.source = it->source;
  }
  if (req.source.auth && req.source.auth->password == "***")
    return make_error(errc::failed_precondition,
                      "build " + id +
                          " pulled from a private registry; retrying it needs the "
                          "registry credentials again, which retry does not accept yet",
                      "builder.source.auth");
  if (options.tags) {
    for (size_t i = 0; i < options.tags->size(); ++i)
      if (!runtime::valid_name((*options.tags)[i]))
        return make_error(errc::invalid_argument, "tags must match [a-z0-9][a-z0-9._-]{0,62}",
                          "tags[" + std::to_string(i) + "]");
    req.tags = *options.tags;
  }
  return submit_request{tenant, std::move(req), id};
}

result<build_view> engine::retry(const std::string& id, retry_options options,
                                 const std::string& tenant) {
  auto sr = impl_->prepare_retry(id, std::move(options), tenant);
  if (!sr) return sr.error();
  return impl_->ask_manager_submit(std::move(sr.value()));
}

void engine::submit_async(runtime::build_request request, const std::string& tenant,
                          callback<build_view> done) {
  impl_->ask_manager_async(std::move(done), submit_atom::value,
                           submit_request{tenant, std::move(request), {}});
}

void engine::cancel_async(const std::string& id, const std::string& reason,
                          const std::string& tenant, callback<build_view> done) {
  impl_->ask_manager_async(std::move(done), cancel_atom::value, tenant, id, reason);
}

void engine::retry_async(const std::string& id, retry_options options, const std::string& tenant,
                         callback<build_view> done) {
  auto sr = impl_->prepare_retry(id, std::move(options), tenant);
  if (!sr) return done(sr.error());
  impl_->ask_manager_async(std::move(done), submit_atom::value, std::move(sr.value()));
}

result<std::unique_ptr<follow_handle>> engine::follow(const std::string& id, uint64_t offset,
                                                      follow_callbacks callbacks,
                                                      const std::string& tenant) {
  auto rec = impl_->db->get_build(id);
  if (!rec || rec->tenant != tenant) return make_error(errc::not_found, "no build " + id);
  auto hub = impl_->ctx->directory.hub();
  if (!hub) return make_error(errc::unavailable, "the log hub is restarting; retry");
  auto f = impl_->sys->spawn(follower, std::move(callbacks), impl_->ctx, id, offset);
  impl_->track_follower(f);
  return std::unique_ptr<follow_handle>(new follow_handle_impl(id, std::move(f), impl_->ctx));
}

result<build_view> engine::wait_until_terminal(const std::string& id,
                                               std::chrono::milliseconds timeout,
                                               const std::string& tenant) {
  auto rec = impl_->db->get_build(id);
  if (!rec || rec->tenant != tenant) return make_error(errc::not_found, "no build " + id);
  if (storage::is_terminal(rec->status)) return impl_->view(std::move(*rec));
  auto done = std::make_shared<std::promise<build_view>>();
  auto fut = done->get_future();
  follow_callbacks cb;
  cb.on_end = [done](const build_view& v) { done->set_value(v); };
  // Entries are not needed: follow from the end of the log.
  auto h = follow(id, impl_->db->next_offset(id), std::move(cb), tenant);
  if (!h) return h.error();
  if (fut.wait_for(timeout) != std::future_status::ready)
    return make_error(errc::unavailable, "build " + id + " is not terminal after " +
                                             std::to_string(timeout.count()) + " ms");
  return fut.get();
}

result<bool> engine::context_uploaded(const std::string& context_id,
                                      std::string_view manifest_json) {
  auto put = impl_->db->put_context(context_id, manifest_json);
  if (!put) return put.error();
  caf::anon_send(impl_->ctx->directory.manager(), ctx_ready_atom::value, context_id);
  return true;
}

engine::stats engine::current_stats() const {
  stats out;
  caf::scoped_actor self{*impl_->sys};
  self->request(impl_->ctx->directory.manager(), caf::infinite, stats_atom::value)
      .receive(
          [&](const manager_stats& m) {
            out.queued = m.queued;
            out.running = m.running;
            out.live = m.live;
          },
          [](caf::error&) {});
  self->request(impl_->ctx->directory.hub(), caf::infinite, stats_atom::value)
      .receive(
          [&](const hub_stats& h) {
            out.entries_appended = h.entries_appended;
            out.batches_written = h.batches_written;
            out.followers = h.followers;
            out.builds_by_status = h.builds_by_status;
          },
          [](caf::error&) {});
  out.status_cache_hits = impl_->status_hits.load(std::memory_order_relaxed);
  out.status_cache_misses = impl_->status_misses.load(std::memory_order_relaxed);
  return out;
}

caf::actor_system& engine::actor_system() {
  return *impl_->sys;
}
storage::store& engine::store() {
  return *impl_->db;
}
const engine_options& engine::options() const {
  return impl_->opts;
}

}  // namespace nullspace

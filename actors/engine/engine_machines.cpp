// Machines in the engine facade: requests are checked and templates resolved
// here, then the machine manager (and the machine's actor) does the rest.
#include <caf/all.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>

#include "actors/engine/engine_impl.hpp"
#include "actors/machine/machine_messages.hpp"
#include "actors/machine/machine_resolve.hpp"
#include "actors/registry/template_reads.hpp"
#include "runtime/artifact/template_config.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/id_access.hpp"
#include "storage/common/new_id.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace {

machine_id machine_view::id() const {
  return detail::id_access::make<machine_id>(record.id);
}

std::string machine_view::json() const {
  return storage::machine_api_json(record, log_next_offset, ports);
}

namespace {

using namespace actors;

error no_machine(const machine_id& id) {
  return make_error(errc::not_found, "no machine " + id.str());
}

// [A-Za-z_][A-Za-z0-9_]*
bool valid_env_name(std::string_view s) {
  if (s.empty() || s.size() > 256 || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

// [A-Za-z0-9._/-]{1,63}
bool valid_label_key(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-' ||
           c == '/';
  });
}

std::optional<error> check_pairs(const env_pairs& pairs, const platform_limits& limits,
                                 const char* field, bool (*valid_key)(std::string_view),
                                 const char* key_rule) {
  if (pairs.size() > limits.max_list_items)
    return make_error(
        errc::invalid_argument,
        std::string(field) + " has more than " + std::to_string(limits.max_list_items) + " entries",
        field);
  for (auto& [k, v] : pairs) {
    if (!valid_key(k))
      return make_error(
          errc::invalid_argument,
          std::string(field) + " key '" + k.substr(0, 64) + "' must match " + key_rule,
          std::string(field) + "." + k.substr(0, 64));
    if (v.size() > limits.max_string_bytes || v.find('\0') != std::string::npos)
      return make_error(errc::invalid_argument,
                        std::string(field) + "." + k + " must be at most " +
                            std::to_string(limits.max_string_bytes) + " bytes without NUL",
                        std::string(field) + "." + k);
  }
  return std::nullopt;
}

std::optional<error> check_request(const machine_request& r, const engine_options& o) {
  if (!r.warm_pool_mode.empty() && r.warm_pool_mode != "prefer" && r.warm_pool_mode != "require" &&
      r.warm_pool_mode != "bypass")
    return make_error(errc::invalid_argument, "warm_pool_mode must be prefer, require or bypass",
                      "warm_pool_mode");
  if (r.template_ref.empty() && r.warm_pool.empty())
    return make_error(errc::invalid_argument, "template (or warm_pool) is required", "template");
  if (auto e = check_pairs(r.envs, o.limits, "envs", valid_env_name, "[A-Za-z_][A-Za-z0-9_]*"))
    return e;
  if (auto e = check_pairs(r.labels, o.limits, "labels", valid_label_key, "[A-Za-z0-9._/-]{1,63}"))
    return e;
  auto& l = o.limits;
  if (r.cpu_count && (*r.cpu_count < l.min_cpu_count || *r.cpu_count > l.max_cpu_count))
    return make_error(errc::invalid_argument,
                      "cpu_count must be from " + std::to_string(l.min_cpu_count) + " to " +
                          std::to_string(l.max_cpu_count),
                      "cpu_count");
  if (r.memory_mb && (*r.memory_mb < l.min_memory_mb || *r.memory_mb > l.max_memory_mb))
    return make_error(errc::invalid_argument,
                      "memory_mb must be from " + std::to_string(l.min_memory_mb) + " to " +
                          std::to_string(l.max_memory_mb),
                      "memory_mb");
  auto max_timeout = static_cast<uint64_t>(o.machines.max_timeout.count());
  if (r.timeout_ms && (*r.timeout_ms == 0 || *r.timeout_ms > max_timeout))
    return make_error(errc::invalid_argument,
                      "timeout_ms must be from 1 to " + std::to_string(max_timeout), "timeout_ms");
  return std::nullopt;
}

// One request to the machine manager from a short-lived actor; `done` runs on
// the CAF thread that handles the reply (or here, when there is no manager).
template <class Reply, class... Ts>
void ask_machines(engine::impl& p, std::function<void(result<Reply>)> done, Ts... msg) {
  auto mgr = caf::actor_cast<machine_manager_actor>(p.ctx->directory.machines());
  if (!mgr || !p.ctx->accepting_calls())
    return done(make_error(errc::unavailable, "the engine is restarting or stopping; retry"));
  caller_thread_guard caller;
  p.sys->spawn([mgr, done = std::move(done),
                ... msg = std::move(msg)](caf::event_based_actor* self) mutable {
    self->request(mgr, caf::infinite, std::move(msg)...)
        .then([done](Reply& r) { done(std::move(r)); },
              [done](caf::error& e) { done(from_caf(e, "the machine manager did not answer")); });
  });
}

std::optional<error> machines_available(const engine::impl& p) {
  if (!p.ctx->machines) return make_error(errc::failed_precondition, p.ctx->machines_unavailable);
  return std::nullopt;
}

}  // namespace

// A machine's view: its record, log position and (while it runs) open ports.
machine_view machine_view_of(engine::impl& p, machine_record rec, uint64_t known_next_offset) {
  machine_view v;
  v.log_next_offset = known_next_offset ? known_next_offset : p.db->next_offset(rec.id);
  if (p.machines && (rec.state == machine_state::ready || rec.state == machine_state::paused))
    v.ports = p.machines->listening_ports(rec.id);
  v.record = std::move(rec);
  return v;
}

namespace {
engine::callback<machine_reply> to_view(engine::impl& p, engine::callback<machine_view> done) {
  return [&p, done = std::move(done)](result<machine_reply> r) {
    if (!r) return done(r.error());
    if (r->err) return done(*r->err);
    done(machine_view_of(p, std::move(r->record), r->log_next_offset));
  };
}
}  // namespace

// A create from the template (no pool, or none of its machines): `served`
// says how the pool was involved, if at all.
void cold_create(engine::impl& p, const machine_request& request, const tenant_id& tenant,
                 pool_checkout served, engine::callback<machine_view> done,
                 idempotency_row_opt key) {
  auto c = resolve_machine(*p.ctx, request, tenant.str());
  if (!c) return done(c.error());
  c->record.checkout = std::move(served);
  c->idempotency = std::move(key);
  ask_machines<machine_reply>(p, to_view(p, std::move(done)), create_atom::value,
                              std::move(c.value()));
}

idempotency_row_opt machine_idempotency_row(engine::impl& p, const machine_request& request,
                                            const tenant_id& tenant) {
  auto& cfg = p.ctx->config;
  return idempotency_row("machine", tenant.str(), request.idempotency_key,
                         machine_request_digest(request), cfg.now_ms(),
                         cfg.retention.idempotency_ms);
}

void engine::create_machine_async(machine_request request, const tenant_id& tenant,
                                  callback<machine_view> done) {
  if (auto e = machines_available(*impl_)) return done(*e);
  if (auto e = check_request(request, impl_->opts)) return done(*e);
  idempotency_row_opt key;
  if (!request.idempotency_key.empty()) {
    if (auto e = check_idempotency_key(request.idempotency_key)) return done(*e);
    key = machine_idempotency_row(*impl_, request, tenant);
    auto& row = key;
    auto d = impl_->idempotency.begin(*impl_->db, *row, impl_->ctx->config.now_ms());
    if (d.refused) return done(*d.refused);
    if (!d.replay_id.empty()) {
      // The machine the first request made, as it is now.
      auto rec = impl_->db->get_machine(d.replay_id);
      if (!rec)
        return done(make_error(errc::not_found,
                               "no machine " + d.replay_id + " (its Idempotency-Key outlived it)"));
      return done(machine_view_of(*impl_, std::move(*rec)));
    }
    auto* gate = &impl_->idempotency;
    done = [gate, row = *row, done = std::move(done)](result<machine_view> r) {
      gate->end(row);
      done(std::move(r));
    };
  }
  // A tenant without pools (and a request naming none) costs one lookup here.
  if (request.warm_pool.empty() && !impl_->ctx->pools.tenant_has_pools(tenant.str()))
    return cold_create(*impl_, request, tenant, {}, std::move(done), std::move(key));
  create_through_pool(*impl_, std::move(request), tenant, std::move(done), std::move(key));
}

result<machine_view> engine::create_machine(const machine_request& request,
                                            const tenant_id& tenant) {
  return wait_for<machine_view>([&](auto cb) { create_machine_async(request, tenant, cb); });
}

result<machine_view> engine::get_machine(const machine_id& id, const tenant_id& tenant) const {
  auto rec = impl_->db->get_machine(id.str());
  if (!rec || rec->tenant != tenant.str()) return no_machine(id);
  return machine_view_of(*impl_, std::move(*rec));
}

result<machine_page> engine::list_machines(const machine_list_options& o,
                                           const tenant_id& tenant) const {
  std::optional<std::pair<int64_t, std::string>> before;
  if (!o.cursor.empty()) {
    // <created_ms>:<id> of the last machine of the previous page.
    auto colon = o.cursor.find(':');
    int64_t ms = 0;
    if (colon == std::string::npos || !parse_machine_id(o.cursor.substr(colon + 1)))
      return make_error(errc::invalid_argument, "cursor is not one this server gave", "cursor");
    try {
      ms = std::stoll(o.cursor.substr(0, colon));
    } catch (...) {
      return make_error(errc::invalid_argument, "cursor is not one this server gave", "cursor");
    }
    before.emplace(ms, o.cursor.substr(colon + 1));
  }
  auto limit = std::clamp<size_t>(o.limit, 1, 500);
  std::string label_key = o.label, label_value;
  bool label_has_value = false;
  if (auto eq = o.label.find('='); eq != std::string::npos) {
    label_key = o.label.substr(0, eq);
    label_value = o.label.substr(eq + 1);
    label_has_value = true;
  }
  machine_page page;
  machine_record last;
  bool more = false;
  impl_->db->for_each_machine_of(tenant.str(), before, [&](machine_record&& r) {
    if (page.machines.size() == limit) {
      more = true;
      return false;
    }
    last = r;
    if (o.state && r.state != *o.state) return true;
    if (!o.template_ref.empty() && r.template_ref != o.template_ref) return true;
    if (!o.label.empty()) {
      auto it = std::find_if(r.labels.begin(), r.labels.end(),
                             [&](auto& kv) { return kv.first == label_key; });
      if (it == r.labels.end() || (label_has_value && it->second != label_value)) return true;
    }
    page.machines.push_back(machine_view_of(*impl_, std::move(r)));
    return true;
  });
  if (more) page.next_cursor = std::to_string(last.created_ms) + ":" + last.id;
  return page;
}

void engine::change_machine_async(const machine_id& id, machine_change change,
                                  std::chrono::milliseconds timeout, const tenant_id& tenant,
                                  callback<machine_view> done) {
  machine_op op;
  op.tenant = tenant.str();
  op.id = id.str();
  switch (change) {
    case machine_change::stop:
      op.what = machine_op::stop;
      op.reason = "deleted";
      break;
    case machine_change::pause:
      op.what = machine_op::pause;
      break;
    case machine_change::resume:
      op.what = machine_op::resume;
      break;
    case machine_change::timeout: {
      auto max = impl_->opts.machines.max_timeout;
      if (timeout.count() <= 0 || timeout > max)
        return done(make_error(errc::invalid_argument,
                               "timeout_ms must be from 1 to " + std::to_string(max.count()),
                               "timeout_ms"));
      op.what = machine_op::set_timeout;
      op.timeout_ms = timeout.count();
      break;
    }
  }
  ask_machines<machine_reply>(*impl_, to_view(*impl_, std::move(done)), std::move(op));
}

void engine::stop_machine_async(const machine_id& id, const tenant_id& tenant,
                                callback<machine_view> done) {
  change_machine_async(id, machine_change::stop, {}, tenant, std::move(done));
}

result<machine_view> engine::stop_machine(const machine_id& id, const tenant_id& tenant) {
  return wait_for<machine_view>([&](auto cb) { stop_machine_async(id, tenant, cb); });
}

result<machine_view> engine::pause_machine(const machine_id& id, const tenant_id& tenant) {
  return wait_for<machine_view>(
      [&](auto cb) { change_machine_async(id, machine_change::pause, {}, tenant, cb); });
}

result<machine_view> engine::resume_machine(const machine_id& id, const tenant_id& tenant) {
  return wait_for<machine_view>(
      [&](auto cb) { change_machine_async(id, machine_change::resume, {}, tenant, cb); });
}

result<machine_view> engine::set_machine_timeout(const machine_id& id,
                                                 std::chrono::milliseconds timeout,
                                                 const tenant_id& tenant) {
  return wait_for<machine_view>(
      [&](auto cb) { change_machine_async(id, machine_change::timeout, timeout, tenant, cb); });
}

// ---- commands ------------------------------------------------------------------

namespace {
engine::callback<command_reply> to_result(engine::callback<command_result> done) {
  return [done = std::move(done)](result<command_reply> r) {
    if (!r) return done(r.error());
    if (r->err) return done(*r->err);
    done(std::move(r->result));
  };
}
}  // namespace

result<command_result> engine::run_command(const machine_id& id, const command_request& request,
                                           const tenant_id& tenant) {
  return wait_for<command_result>([&](auto cb) {
    ask_machines<command_reply>(*impl_, to_result(cb),
                                command_job{tenant.str(), id.str(), request, nullptr});
  });
}

void engine::run_command_async(const machine_id& id, command_request request,
                               const tenant_id& tenant, callback<command_result> done) {
  ask_machines<command_reply>(*impl_, to_result(std::move(done)),
                              command_job{tenant.str(), id.str(), std::move(request), nullptr});
}

void engine::run_command_async(const machine_id& id, command_request request,
                               const tenant_id& tenant, command_stream_callbacks callbacks,
                               callback<std::string> done) {
  auto stream = std::make_shared<command_stream_callbacks>(std::move(callbacks));
  ask_machines<command_reply>(
      *impl_,
      [done = std::move(done)](result<command_reply> r) {
        if (!r) return done(r.error());
        if (r->err) return done(*r->err);
        done(r->result.command_id);
      },
      command_job{tenant.str(), id.str(), std::move(request), std::move(stream)});
}

result<command_result> engine::get_command(const machine_id& id, const std::string& command_id,
                                           uint64_t stdout_offset, uint64_t stderr_offset,
                                           const tenant_id& tenant) const {
  return wait_for<command_result>([&](auto cb) {
    ask_machines<command_reply>(
        *impl_, to_result(cb),
        command_query{tenant.str(), id.str(), command_id, stdout_offset, stderr_offset, false});
  });
}

result<command_result> engine::kill_command(const machine_id& id, const std::string& command_id,
                                            const tenant_id& tenant) {
  return wait_for<command_result>([&](auto cb) {
    ask_machines<command_reply>(*impl_, to_result(cb),
                                command_query{tenant.str(), id.str(), command_id, 0, 0, true});
  });
}

// ---- files and ports -------------------------------------------------------------

namespace {
// A file job of `what` for machine `id` of `tenant`; the call fills in the rest.
file_job file_job_for(file_job::kind what, const machine_id& id, const tenant_id& tenant,
                      const std::string& path = {}) {
  file_job j;
  j.what = what;
  j.tenant = tenant.str();
  j.id = id.str();
  j.path = path;
  return j;
}

result<file_reply> ask_file(engine::impl& p, file_job job) {
  auto r = wait_for<file_reply>([&](auto cb) { ask_machines<file_reply>(p, cb, std::move(job)); });
  if (!r) return r.error();
  if (r->err) return *r->err;
  return r;
}
}  // namespace

result<std::string> engine::read_file(const machine_id& id, const std::string& path,
                                      const tenant_id& tenant) {
  auto j = file_job_for(file_job::read, id, tenant, path);
  auto r = ask_file(*impl_, std::move(j));
  if (!r) return r.error();
  return std::move(r->data);
}

result<file_info> engine::write_file(const machine_id& id, const std::string& path,
                                     std::string data, const file_write_options& options,
                                     const tenant_id& tenant) {
  if (data.size() > impl_->opts.machines.max_file_bytes)
    return make_error(errc::payload_too_large,
                      "a file written through the API is at most " +
                          std::to_string(impl_->opts.machines.max_file_bytes) + " bytes");
  auto j = file_job_for(file_job::write, id, tenant, path);
  j.data = std::move(data);
  j.options = options;
  auto r = ask_file(*impl_, std::move(j));
  if (!r) return r.error();
  return std::move(r->info);
}

result<std::vector<file_info>> engine::list_files(const machine_id& id, const std::string& path,
                                                  const tenant_id& tenant) {
  auto j = file_job_for(file_job::list, id, tenant, path);
  auto r = ask_file(*impl_, std::move(j));
  if (!r) return r.error();
  return std::move(r->entries);
}

result<void> engine::remove_file(const machine_id& id, const std::string& path, bool recursive,
                                 const tenant_id& tenant) {
  auto j = file_job_for(file_job::remove, id, tenant, path);
  j.recursive = recursive;
  auto r = ask_file(*impl_, std::move(j));
  if (!r) return r.error();
  return {};
}

result<int> engine::connect_port(const machine_id& id, uint16_t port, const tenant_id& tenant) {
  if (port == 0) return make_error(errc::invalid_argument, "port must be from 1 to 65535", "port");
  auto j = file_job_for(file_job::connect, id, tenant);
  j.port = port;
  auto r = ask_file(*impl_, std::move(j));
  if (!r) return r.error();
  return r->fd;
}

result<std::vector<raw_entry>> engine::read_machine_log(const machine_id& id, log_offset offset,
                                                        size_t limit,
                                                        const tenant_id& tenant) const {
  auto rec = impl_->db->get_machine(id.str());
  if (!rec || rec->tenant != tenant.str()) return no_machine(id);
  return impl_->db->read_log(id.str(), offset.value(), limit);
}

}  // namespace nullspace

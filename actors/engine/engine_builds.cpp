// The build calls of the engine facade: submit, validate, plan, status,
// cancel, retry and waiting for the end.
#include <caf/all.hpp>

#include <future>
#include <set>

#include "actors/engine/engine_impl.hpp"
#include "actors/engine/plan_triggers.hpp"
#include "actors/engine/status_cache.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/request_parser.hpp"
#include "storage/common/sha256.hpp"

namespace nullspace {
namespace {

using namespace actors;

// A store read as the API's get_status answer (entries from `offset`).
status_view to_status_view(storage::store::status_read&& read, uint64_t offset) {
  status_view out;
  out.next_offset = read.entries.empty() ? offset : read.entries.back().offset + 1;
  out.build = build_view{std::move(read.record), read.log_next_offset};
  out.logs = std::move(read.entries);
  return out;
}

error no_build(const build_id& id) {
  return make_error(errc::not_found, "no build " + id.str());
}

}  // namespace

result<build_view> engine::submit(std::string_view request_json, const tenant_id& tenant) {
  auto parsed = runtime::parse_build_request(request_json, impl_->opts.limits);
  if (!parsed.request) return runtime::request_error(std::move(parsed));
  return impl_->ask_manager_submit(
      submit_request{tenant.str(), std::move(*parsed.request), {}, {}});
}

void engine::submit_async(std::string_view request_json, const tenant_id& tenant,
                          callback<build_view> done) {
  submit_async(request_json, tenant, {}, std::move(done));
}

void engine::submit_async(std::string_view request_json, const tenant_id& tenant,
                          std::string_view idempotency_key, callback<build_view> done) {
  if (!idempotency_key.empty())
    if (auto e = check_idempotency_key(idempotency_key)) return done(*e);
  auto parsed = runtime::parse_build_request(request_json, impl_->opts.limits);
  if (!parsed.request) return done(runtime::request_error(std::move(parsed)));
  submit_request sr{tenant.str(), std::move(*parsed.request), {}, {}};
  auto& cfg = impl_->ctx->config;
  if (idempotency_key.empty())
    return impl_->ask_manager_async(std::move(done), submit_atom::value, std::move(sr));
  sr.idempotency = idempotency_row("build", tenant.str(), idempotency_key,
                                   sha256_hex(runtime::sanitized_definition_json(sr.request)),
                                   cfg.now_ms(), cfg.retention.idempotency_ms);
  auto d = impl_->idempotency.begin(*impl_->db, *sr.idempotency, cfg.now_ms());
  if (d.refused) return done(*d.refused);
  if (!d.replay_id.empty()) {
    // The build the first request made, as it is now.
    auto rec = impl_->db->get_build(d.replay_id);
    if (!rec)
      return done(make_error(errc::not_found,
                             "no build " + d.replay_id + " (its Idempotency-Key outlived it)"));
    return done(impl_->view(std::move(*rec)));
  }
  auto* gate = &impl_->idempotency;
  auto row = *sr.idempotency;
  impl_->ask_manager_async(
      [gate, row, done = std::move(done)](result<build_view> r) {
        gate->end(row);
        done(std::move(r));
      },
      submit_atom::value, std::move(sr));
}

validation engine::validate(std::string_view request_json) const {
  auto parsed = runtime::parse_build_request(request_json, impl_->opts.limits);
  validation out;
  out.valid = parsed.errors.empty();
  out.malformed_json = runtime::is_malformed_json(parsed);
  out.errors = std::move(parsed.errors);
  out.warnings = std::move(parsed.warnings);
  return out;
}

result<std::string> engine::plan_json(std::string_view request_json,
                                      const tenant_id& tenant) const {
  auto parsed = runtime::parse_build_request(request_json, impl_->opts.limits);
  if (!parsed.request) return runtime::request_error(std::move(parsed));
  auto plan = runtime::make_plan(*parsed.request);
  add_template_triggers(*impl_->ctx, *parsed.request, tenant.str(), plan);
  return runtime::plan_json(plan);
}

result<status_view> engine::get_status(const build_id& id, log_offset offset, size_t limit,
                                       const tenant_id& tenant) const {
  auto read = impl_->db->read_status(id.str(), offset.value(), limit);
  if (!read || read->record.tenant != tenant.str()) return no_build(id);
  return to_status_view(std::move(*read), offset.value());
}

result<status_json> engine::get_status_json(const build_id& id, log_offset offset, size_t limit,
                                            const tenant_id& tenant) const {
  // The generation is read before the data: see storage::store::generation.
  uint64_t generation = impl_->db->generation(id.str());
  std::string key;
  if (impl_->statuses) {
    key = status_cache::key(id.str(), offset.value(), limit);
    if (auto hit = impl_->statuses->find(key, generation)) {
      impl_->status_hits.fetch_add(1, std::memory_order_relaxed);
      if (hit->tenant != tenant.str()) return no_build(id);
      return status_json{std::move(hit->body), hit->status, hit->entries};
    }
    impl_->status_misses.fetch_add(1, std::memory_order_relaxed);
  }
  auto read = impl_->db->read_status(id.str(), offset.value(), limit);
  if (!read) return no_build(id);
  auto view = to_status_view(std::move(*read), offset.value());
  status_json out{std::make_shared<const std::string>(view.json()), view.build.record.status,
                  view.logs.size()};
  bool mine = view.build.record.tenant == tenant.str();
  if (impl_->statuses)
    impl_->statuses->put(std::move(key),
                         cached_status{generation, std::move(view.build.record.tenant), out.body,
                                       out.status, out.entries});
  if (!mine) return no_build(id);
  return out;
}

result<std::vector<raw_entry>> engine::read_log(const build_id& id, log_offset offset, size_t limit,
                                                const tenant_id& tenant) const {
  auto rec = impl_->db->get_build(id.str());
  if (!rec || rec->tenant != tenant.str()) return no_build(id);
  return impl_->db->read_log(id.str(), offset.value(), limit);
}

result<uint64_t> engine::scan_log(const build_id& id, log_offset offset, uint64_t upto,
                                  const std::function<bool(uint64_t, std::string_view)>& take,
                                  const tenant_id& tenant) const {
  auto rec = impl_->db->get_build(id.str());
  if (!rec || rec->tenant != tenant.str()) return no_build(id);
  return impl_->db->scan_log(id.str(), offset.value(), upto, take);
}

result<build_view> engine::cancel(const build_id& id, const std::string& reason,
                                  const tenant_id& tenant) {
  caller_thread_guard caller;
  caf::scoped_actor self{*impl_->sys};
  std::optional<result<build_view>> out;
  self->request(impl_->ctx->directory.manager(), caf::infinite, cancel_atom::value, tenant.str(),
                id.str(), reason)
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

void engine::cancel_async(const build_id& id, const std::string& reason, const tenant_id& tenant,
                          callback<build_view> done) {
  impl_->ask_manager_async(std::move(done), cancel_atom::value, tenant.str(), id.str(), reason);
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
  if (runtime::lost_registry_password(req))
    return make_error(errc::failed_precondition,
                      "build " + id +
                          " pulled from a private registry; retrying it needs the "
                          "registry credentials again, which retry does not accept yet",
                      "builder.source.auth");
  if (options.tags) {
    for (size_t i = 0; i < options.tags->size(); ++i)
      if (!valid_name((*options.tags)[i]))
        return make_error(errc::invalid_argument, "tags must match [a-z0-9][a-z0-9._-]{0,62}",
                          "tags[" + std::to_string(i) + "]");
    req.tags = *options.tags;
  }
  return submit_request{tenant, std::move(req), id, {}};
}

result<build_view> engine::retry(const build_id& id, retry_options options,
                                 const tenant_id& tenant) {
  auto sr = impl_->prepare_retry(id.str(), std::move(options), tenant.str());
  if (!sr) return sr.error();
  return impl_->ask_manager_submit(std::move(sr.value()));
}

void engine::retry_async(const build_id& id, retry_options options, const tenant_id& tenant,
                         callback<build_view> done) {
  auto sr = impl_->prepare_retry(id.str(), std::move(options), tenant.str());
  if (!sr) return done(sr.error());
  impl_->ask_manager_async(std::move(done), submit_atom::value, std::move(sr.value()));
}

result<build_view> engine::wait_until_terminal(const build_id& id,
                                               std::chrono::milliseconds timeout,
                                               const tenant_id& tenant) {
  auto rec = impl_->db->get_build(id.str());
  if (!rec || rec->tenant != tenant.str()) return no_build(id);
  if (is_terminal(rec->status)) return impl_->view(std::move(*rec));
  auto done = std::make_shared<std::promise<build_view>>();
  auto fut = done->get_future();
  follow_callbacks cb;
  cb.on_end = [done](const build_view& v) { done->set_value(v); };
  // Entries are not needed: follow from the end of the log.
  auto h = follow(id, log_offset(impl_->db->next_offset(id.str())), std::move(cb), tenant);
  if (!h) return h.error();
  if (fut.wait_for(timeout) != std::future_status::ready)
    return make_error(errc::request_timeout, "build " + id.str() + " is not terminal after " +
                                                 std::to_string(timeout.count()) + " ms");
  return fut.get();
}

}  // namespace nullspace

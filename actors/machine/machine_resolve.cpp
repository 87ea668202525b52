// resolve_machine (machine_resolve.hpp).
#include "actors/machine/machine_resolve.hpp"

#include "actors/registry/template_reads.hpp"
#include "runtime/artifact/template_config.hpp"
#include "storage/common/file_text.hpp"
#include "storage/common/new_id.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::actors {

result<storage::build_record> resolve_build(const storage::store& db, const std::string& ref,
                                            const std::string& tenant) {
  auto parts = parse_ref(ref);
  if (!parts) return parts.error();
  auto t = find_template(db, tenant, *parts);
  if (!t) return t.error();
  return find_build(db, *t, *parts);
}

bool startable(const storage::build_record& b) {
  return b.status == build_status::ready && b.artifact && b.artifact_availability == "available";
}

// The ready build a machine request's template ref names, its artifact and
// config, as the machine's create message.
result<machine_create> resolve_machine(const engine_context& ctx, const machine_request& r,
                                       const std::string& tenant) {
  auto ref = parse_template_ref(r.template_ref);
  if (!ref) {
    auto e = ref.error();
    e.field = "template";
    return e;
  }
  auto parts = parse_ref(r.template_ref);
  if (!parts) return parts.error();
  auto& db = *ctx.db;
  auto t = find_template(db, tenant, *parts);
  if (!t) return t.error();
  auto b = find_build(db, *t, *parts);
  if (!b) return b.error();
  auto& build = b.value();
  auto named = "template " + r.template_ref + " (build " + build.id + ")";
  if (build.status != build_status::ready)
    return make_error(errc::conflict, named + " is " + to_string(build.status) + ", not ready",
                      "template");
  if (!build.artifact)
    return make_error(errc::conflict,
                      named +
                          " has no artifact: it was built with the host executor, which "
                          "makes none; build it with sandbox isolation",
                      "template");
  if (build.artifact_availability != "available")
    return make_error(errc::conflict,
                      named + "'s artifact is " + build.artifact_availability +
                          " (retention removed it); rebuild or promote a retained build",
                      "template");
  machine_create c;
  c.artifact_dir = ctx.config.data_dir + "/artifacts/" + build.artifact->id;
  auto config = runtime::parse_template_config(read_text_file(c.artifact_dir + "/config.json"));
  if (!config)
    return make_error(
        errc::conflict,
        named + "'s artifact cannot be read (" + c.artifact_dir + "/config.json); rebuild it",
        "template");
  c.config = std::move(*config);
  c.envs = r.envs;
  c.wait = r.wait;

  auto& m = c.record;
  m.id = new_id("m_");
  m.tenant = tenant;
  m.template_ref = r.template_ref;
  m.build_id = build.id;
  m.namespace_name = build.namespace_name;
  m.template_name = build.name;
  m.artifact_id = build.artifact->id;
  m.resources.cpu_count = r.cpu_count.value_or(build.options.cpu_count);
  m.resources.memory_mb = r.memory_mb.value_or(build.options.memory_mb);
  m.resources.disk_mb = build.artifact->disk_mb;
  // A template built without internet access makes machines without it; a
  // request can take it away, never give it.
  m.resources.internet_access = build.options.internet_access && r.internet_access.value_or(true);
  for (auto& [k, v] : r.envs) m.env_names.push_back(k);
  m.labels = r.labels;
  m.created_ms = storage::now_ms();
  auto timeout = r.timeout_ms ? static_cast<int64_t>(*r.timeout_ms)
                              : static_cast<int64_t>(ctx.config.machines.default_timeout.count());
  m.deadline_ms = m.created_ms + timeout;
  return c;
}

}  // namespace nullspace::actors

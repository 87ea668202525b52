// Following the template (pool_internal.hpp): renames and, for track_tag
// pools, the build the ref resolves to (a roll when it changes). Runs at the
// pool's start and on every tchanged notice from the template registry that
// names its template.
#include "actors/machine/machine_resolve.hpp"
#include "actors/pool/pool_internal.hpp"
#include "actors/registry/template_reads.hpp"
#include "runtime/request/template_ref.hpp"

namespace nullspace::actors::pool_detail {
namespace {

// A rename moves a template's builds along, so the serving build's record
// names where the template is now. A ref that no longer reaches it is
// rewritten in the same form (namespace given or not, its tag or @build kept).
void follow_rename(pool_ptr self) {
  auto& st = self->state;
  auto parts = runtime::split_template_ref(st.rec.spec.template_ref);
  if (!parts) return;
  auto found = find_template(*st.ctx->db, st.rec.tenant, *parts);
  if (found && found->t.namespace_name == st.tmpl_ns && found->t.name == st.tmpl_name) return;
  std::string ref = parts->namespace_name.empty() && st.tmpl_ns == default_namespace(st.rec.tenant)
                        ? st.tmpl_name
                        : st.tmpl_ns + "/" + st.tmpl_name;
  if (!parts->tag.empty()) ref += ":" + parts->tag;
  if (!parts->build_id.empty()) ref += "@" + parts->build_id;
  if (ref == st.rec.spec.template_ref) return;
  note(self, "info",
       "template renamed: the pool follows it (" + st.rec.spec.template_ref + " → " + ref + ")");
  st.rec.spec.template_ref = std::move(ref);
  persist(self);
}

void begin_roll(pool_ptr self, const std::string& build) {
  auto& st = self->state;
  auto old = st.rec.serving_build;
  st.rec.serving_build = build;
  if (!st.rolling) {
    st.rolling = true;
    st.roll_from = old;
  }
  note(self, "info",
       "roll started: build " + old + " → " + build + " (" + st.rec.spec.template_ref + " moved; " +
           std::to_string(st.ready.size()) + " ready machines to replace)");
  persist(self);
}

}  // namespace

std::string start_ref(const pool_actor_state& st) {
  if (st.tmpl_ns.empty() || st.rec.serving_build.empty()) return st.rec.spec.template_ref;
  return runtime::canonical_ref(st.tmpl_ns, st.tmpl_name, st.rec.serving_build);
}

void refresh(pool_ptr self) {
  auto& st = self->state;
  auto& db = *st.ctx->db;
  if (auto b = db.get_build(st.rec.serving_build)) {
    st.tmpl_ns = b->namespace_name;
    st.tmpl_name = b->name;
    follow_rename(self);
  }
  if (st.rec.spec.policy == version_policy::track_tag && st.rec.state != pool_state::draining) {
    auto now = resolve_build(db, st.rec.spec.template_ref, st.rec.tenant);
    if (now && now->id != st.rec.serving_build && startable(*now)) {
      begin_roll(self, now->id);
      st.tmpl_ns = now->namespace_name;
      st.tmpl_name = now->name;
    }
  }
  settle(self);
}

}  // namespace nullspace::actors::pool_detail

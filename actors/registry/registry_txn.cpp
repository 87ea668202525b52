#include "actors/registry/registry_txn.hpp"

#include <algorithm>

namespace nullspace::actors {

storage::build_record* registry_txn::build(const std::string& id) {
  auto it = builds_.find(id);
  if (it != builds_.end()) return &it->second.rec;
  auto rec = db_.get_build(id);
  if (!rec) return nullptr;
  auto expiry = rec->retention_expires_ms;
  return &adopt(std::move(*rec), expiry);
}

storage::build_record& registry_txn::adopt(storage::build_record r, int64_t stored_expiry) {
  auto id = r.id;
  auto& slot = builds_[id];
  slot.rec = std::move(r);
  slot.stored_expiry = stored_expiry;
  return slot.rec;
}

namespace {
std::string tag_slot(const storage::template_record& t, const std::string& tag) {
  return t.namespace_name + "/" + t.name + ":" + tag;
}
}  // namespace

std::optional<std::string> registry_txn::tag_target(const storage::template_record& t,
                                                    const std::string& tag) {
  auto it = tags_.find(tag_slot(t, tag));
  if (it != tags_.end()) return it->second;
  return db_.get_tag(t.namespace_name, t.name, tag);
}

void registry_txn::move_tag(const storage::template_record& t, const std::string& tag,
                            const std::string& id) {
  auto before = tag_target(t, tag);
  tags_[tag_slot(t, tag)] = id;
  if (before && *before != id) {
    if (auto* old = build(*before)) {
      std::erase(old->current_tags, tag);
      retain(*old);
    }
  }
  if (auto* r = build(id)) {
    if (std::find(r->current_tags.begin(), r->current_tags.end(), tag) == r->current_tags.end()) {
      r->current_tags.push_back(tag);
      std::sort(r->current_tags.begin(), r->current_tags.end());
    }
    retain(*r);
  }
  then([ns = t.namespace_name, name = t.name, tag, id](
           storage::store& db, storage::write_batch& wb) { db.put_tag(wb, ns, name, tag, id); });
}

bool registry_txn::drop_tag(const storage::template_record& t, const std::string& tag) {
  auto before = tag_target(t, tag);
  if (!before) return false;
  tags_[tag_slot(t, tag)] = std::nullopt;
  if (auto* old = build(*before)) {
    std::erase(old->current_tags, tag);
    retain(*old);
  }
  then([ns = t.namespace_name, name = t.name, tag](storage::store& db, storage::write_batch& wb) {
    db.delete_tag(wb, ns, name, tag);
  });
  return true;
}

void registry_txn::retain(storage::build_record& r) {
  using storage::build_status;
  if (!r.current_tags.empty()) {
    r.retention_expires_ms = 0;
    return;
  }
  if (r.retention_expires_ms != 0) return;  // already counting down
  if (r.status == build_status::ready) {
    if (r.artifact_availability == "available")
      r.retention_expires_ms = now_ + policy_.untagged_ready_ms;
  } else if (storage::is_terminal(r.status)) {
    r.retention_expires_ms = now_ + policy_.failed_ms;
  }
}

void registry_txn::apply(storage::write_batch& wb, const std::string& skip_id) {
  for (auto& [id, t] : builds_) {
    if (t.stored_expiry != t.rec.retention_expires_ms) {
      if (t.stored_expiry) db_.delete_retention(wb, t.stored_expiry, id);
      if (t.rec.retention_expires_ms) db_.put_retention(wb, t.rec.retention_expires_ms, id);
    }
    if (id != skip_id) db_.put_build(wb, t.rec);
  }
  for (auto& op : ops_) op(db_, wb);
}

result<bool> registry_txn::commit() {
  storage::write_batch wb;
  apply(wb);
  return db_.write(wb);
}

}  // namespace nullspace::actors

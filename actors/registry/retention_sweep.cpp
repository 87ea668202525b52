#include "actors/registry/retention_sweep.hpp"

#include <filesystem>
#include <set>

#include "runtime/artifact/template_base.hpp"
#include "storage/common/logging.hpp"

namespace nullspace::actors {
namespace fs = std::filesystem;
namespace {

uint64_t tree_bytes(const fs::path& dir) {
  uint64_t n = 0;
  std::error_code ec;
  for (auto it =
           fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    std::error_code e2;
    if (it->is_regular_file(e2) && !it->is_symlink(e2)) n += it->file_size(e2);
  }
  return n;
}

// Removes `dir` by renaming it aside first, so no reader ever sees half of it.
uint64_t remove_tree(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  auto bytes = tree_bytes(dir);
  auto aside = dir.parent_path() / (".deleting-" + dir.filename().string());
  fs::rename(dir, aside, ec);
  fs::remove_all(ec ? dir : aside, ec);
  if (ec)
    logging::registry.warn("retention: could not remove",
                           {{"path", dir.string()}, {"error", ec.message()}});
  return bytes;
}

fs::path layers_root(const std::string& data_dir) {
  std::error_code ec;
  return fs::weakly_canonical(fs::absolute(data_dir) / "layers", ec);
}

// The layer dir names under `layers_root` that an artifact is made of.
std::vector<std::string> own_layers(const std::string& artifact_dir, const fs::path& layers_root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& l : runtime::artifact_layer_dirs(artifact_dir)) {
    fs::path p(l);
    if (fs::weakly_canonical(p.parent_path(), ec) == layers_root)
      out.push_back(p.filename().string());
  }
  return out;
}

// Expires one build. The layers it produced are queued for deletion, and so
// are the layers of an artifact it was the last holder of; delete_layers
// keeps any that a retained artifact is still made of.
void expire(storage::store& db, const std::string& data_dir, int64_t when, const std::string& id,
            int64_t now, sweep_summary& report) {
  storage::write_batch wb;
  db.delete_retention(wb, when, id);
  auto rec = db.get_build(id);
  // A stale row (retention moved or a tag came back): only the row goes.
  if (!rec || rec->retention_expires_ms != when || !rec->current_tags.empty()) {
    (void)db.write(wb);
    return;
  }
  ++report.expired;
  rec->artifact_availability = "expired";
  bool had_artifact = rec->status == storage::build_status::ready && rec->artifact;
  if (had_artifact) db.delete_artifact_holder(wb, rec->artifact->id, id);
  db.put_build(wb, *rec);
  if (auto w = db.write(wb); !w) {
    logging::registry.error("retention: cannot expire",
                            {{"build", id}, {"tenant", rec->tenant}, {"error", w.error().message}});
    return;
  }
  logging::registry.info("retention: build expired", {{"build", id}, {"tenant", rec->tenant}});
  bool last_holder = had_artifact && db.artifact_holders(rec->artifact->id) == 0;
  auto dir = last_holder ? data_dir + "/artifacts/" + rec->artifact->id : std::string();
  storage::write_batch gc;
  for (auto& l : db.layers_produced_by(id)) {
    db.put_gc_layer(gc, l);
    db.forget_produced_layer(gc, id, l);
  }
  if (last_holder)
    for (auto& l : own_layers(dir, layers_root(data_dir))) db.put_gc_layer(gc, l);
  if (gc.count()) (void)db.write(gc);  // lost on failure: the layers only stay longer
  if (!last_holder) return;
  // The files go.
  report.bytes_freed += remove_tree(dir);
  ++report.artifacts_deleted;
  rec->artifact_availability = "deleted";
  rec->artifact_deleted_ms = now;
  storage::write_batch done;
  db.put_build(done, *rec);
  (void)db.write(done);
  logging::registry.info("retention: artifact deleted",
                         {{"artifact", rec->artifact->id}, {"build", id}, {"tenant", rec->tenant}});
}

void delete_layers(storage::store& db, const std::string& data_dir, sweep_summary& report) {
  auto queued = db.gc_layers();
  if (queued.empty()) return;
  auto root = layers_root(data_dir);
  std::set<std::string> held;
  for (auto& a : db.held_artifacts())
    for (auto& l : own_layers(data_dir + "/artifacts/" + a, root)) held.insert(l);
  for (auto& layer : queued) {
    storage::write_batch wb;
    db.delete_gc_layer(wb, layer);
    if (!held.count(layer)) {
      // The cache entries go first: no build may find a layer that is going.
      db.delete_cache_of_layer(wb, layer);
      if (auto w = db.write(wb); !w) continue;
      report.bytes_freed += remove_tree(root / layer);
      ++report.layers_deleted;
    } else {
      (void)db.write(wb);
    }
  }
}

}  // namespace

sweep_summary sweep_retention(storage::store& db, const std::string& data_dir, int64_t now_ms,
                              bool may_delete_layers) {
  sweep_summary report;
  for (auto& [when, id] : db.retention_due(now_ms, 1000))
    expire(db, data_dir, when, id, now_ms, report);
  if (may_delete_layers)
    delete_layers(db, data_dir, report);
  else
    report.layers_deferred = !db.gc_layers().empty();
  // Idempotency keys of creates: only their rows go (the objects have their own retention).
  for (size_t n; (n = db.delete_expired_idempotency(now_ms, 1000)) > 0;)
    report.idempotency_keys_expired += static_cast<uint32_t>(n);
  return report;
}

}  // namespace nullspace::actors

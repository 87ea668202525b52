// One change of the template registry, collected before it is written: the
// template records, tags, aliases and the build records whose current_tags or
// retention change with them. Everything goes into ONE WriteBatch (the
// registry's own, or the log_hub's when a build becomes ready).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "storage/store.hpp"

namespace nullspace::actors {

struct retention_policy {
  int64_t untagged_ready_ms = int64_t{7} * 24 * 3600 * 1000;      // a ready build no tag points at
  int64_t failed_ms = int64_t{24} * 3600 * 1000;                  // a failed or cancelled build
  int64_t sweep_interval_ms = int64_t{10} * 60 * 1000;            // how often expiry is checked
  int64_t cache_mount_unused_ms = int64_t{7} * 24 * 3600 * 1000;  // a cache mount dir unused
  int64_t idempotency_ms = int64_t{24} * 3600 * 1000;             // idempotency keys of creates
};

class registry_txn {
 public:
  registry_txn(storage::store& db, int64_t now_ms, const retention_policy& policy)
      : db_(db), now_(now_ms), policy_(policy) {}

  // A build record as this change sees it (loaded once, then edited here).
  storage::build_record* build(const std::string& id);
  // Adds a record that is not stored yet in its new form (a build becoming
  // terminal); `stored_expiry` is the retention it has in the store.
  storage::build_record& adopt(storage::build_record r, int64_t stored_expiry = 0);

  // Points `tag` of `t` at build `id` (already loaded/adopted), moving it off
  // the build it pointed at before.
  void move_tag(const storage::template_record& t, const std::string& tag, const std::string& id);
  // Removes `tag` of `t`; false if it did not exist.
  bool drop_tag(const storage::template_record& t, const std::string& tag);
  // Sets a build's retention from its state: none while a tag points at it,
  // else from its end (untagged ready, failed, cancelled) unless already set.
  void retain(storage::build_record& r);

  // Raw operations, applied in order after the template/tag ones.
  void then(std::function<void(storage::store&, storage::write_batch&)> op) {
    ops_.push_back(std::move(op));
  }

  // Puts everything into `wb`; the record `skip_id` is left out (the caller
  // writes it itself, as the log_hub does for a terminal transition).
  void apply(storage::write_batch& wb, const std::string& skip_id = {});
  // apply() into a fresh batch, committed now.
  result<bool> commit();

  int64_t now() const { return now_; }
  const retention_policy& policy() const { return policy_; }

 private:
  struct touched {
    storage::build_record rec;
    int64_t stored_expiry = 0;
  };
  storage::store& db_;
  int64_t now_;
  retention_policy policy_;
  // Where a tag points as this change sees it (nullopt: removed).
  std::optional<std::string> tag_target(const storage::template_record& t, const std::string& tag);
  std::map<std::string, touched> builds_;
  std::map<std::string, std::optional<std::string>> tags_;  // "ns/name:tag" → build id
  std::vector<std::function<void(storage::store&, storage::write_batch&)>> ops_;
};

}  // namespace nullspace::actors

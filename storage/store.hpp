// The RocksDB store: one database, one column family per kind of data
// (DESIGN.md, "Storage"). Reads are thread-safe and may run on any thread.
// Writes of log entries happen only in log_hub (the single writer of `logs`);
// everything a state change touches goes into ONE WriteBatch.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/error.hpp"
#include "storage/build_record.hpp"
#include "storage/idempotency_record.hpp"
#include "storage/log_entry.hpp"
#include "storage/machine_record.hpp"
#include "storage/pool_record.hpp"
#include "storage/template_record.hpp"

namespace nullspace::storage {

inline constexpr uint32_t schema_version = 1;

struct store_options {
  bool sync = false;  // fsync the WAL on every write
  // Bulk loading only (the restart benchmark's generator): writes skip the
  // WAL and are durable once flush() (or closing the store) returns. The
  // engine always writes with the WAL.
  bool bulk_load = false;
};

// Writes committed together by store::write. It also remembers which builds it
// touches, so that the commit can advance their change generations.
// A layer cache entry: the layer a step with some cache key produced.
struct cache_entry {
  std::string layer;  // layer dir name under DATA/layers ("" for a step without files)
  uint64_t bytes = 0;
  int64_t created_ms = 0;
};

class write_batch {
 public:
  size_t count() const { return static_cast<size_t>(wb_.Count()); }

 private:
  friend class store;
  void touch(uint32_t stripe) {
    if (stripes_.empty() || stripes_.back() != stripe) stripes_.push_back(stripe);
  }
  rocksdb::WriteBatch wb_;
  std::vector<uint32_t> stripes_;
};

class store {
 public:
  // Opens (creating if missing) the database under `dir`. Fails with a clear
  // error on an unreadable dir or an unknown schema version.
  static result<std::unique_ptr<store>> open(const std::string& dir, store_options opts = {});
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  // --- keys --------------------------------------------------------------
  static std::string build_key(std::string_view id);       // b/<id>
  static std::string unfinished_key(std::string_view id);  // u/<id>: a build not yet terminal
  static std::string history_key(std::string_view ns, std::string_view name, int64_t created_ms,
                                 std::string_view id);  // i/<ns>/<name>/<created_be>/<id>
  static std::string log_key(std::string_view id, uint64_t offset);  // <id>/<offset_be>

  // --- batch building (no I/O) ----------------------------------------------
  void put_build(write_batch& b, const build_record& r);
  void put_history(write_batch& b, const build_record& r);
  void put_log(write_batch& b, std::string_view id, uint64_t offset, std::string_view json);
  void delete_history(write_batch& b, const build_record& r);
  // Retention index (builds CF, r/<expires_be>/<id>): builds whose artifact
  // expires at that time.
  void put_retention(write_batch& b, int64_t expires_ms, std::string_view id);
  void delete_retention(write_batch& b, int64_t expires_ms, std::string_view id);
  // Artifact holders (builds CF, A/<artifact id>/<build id>): ready builds whose
  // artifact is retained. Identical rebuilds share an artifact, so its files go
  // only when the last holder expires.
  void put_artifact_holder(write_batch& b, std::string_view artifact_id, std::string_view build_id);
  void delete_artifact_holder(write_batch& b, std::string_view artifact_id,
                              std::string_view build_id);
  // Templates CF (storage/template_record.hpp).
  // A template and its index rows: o/<tenant>/<ns>/<name> (by owner) and
  // p/<ns>/<name> (while public).
  void put_template(write_batch& b, const template_record& t);
  void delete_template(write_batch& b, const template_record& t);
  void put_tag(write_batch& b, std::string_view ns, std::string_view name, std::string_view tag,
               std::string_view build_id);
  void delete_tag(write_batch& b, std::string_view ns, std::string_view name, std::string_view tag);
  void put_alias(write_batch& b, std::string_view ns, std::string_view alias,
                 std::string_view name);
  void delete_alias(write_batch& b, std::string_view ns, std::string_view alias);
  void put_namespace_owner(write_batch& b, std::string_view ns, std::string_view tenant);

  // Commits a batch with the store's durability options, then advances the
  // generation of every build it touched. Returns a clear error (never throws)
  // if RocksDB refuses it: insufficient_storage on a full disk, after which
  // each write first resumes RocksDB (it refuses writes after a failed one),
  // so writes succeed again as soon as space is freed.
  result<bool> write(write_batch& b);
  // Writes every column family's memtable to disk (after a bulk load).
  result<bool> flush();

  // A build's change generation: it advances after every committed write that
  // touched the build. Read it BEFORE reading the build: what was read stays
  // current for as long as generation(id) returns the same value. Builds share
  // striped counters, so a neighbour's write can also advance it (a spurious
  // change, never a missed one).
  uint64_t generation(std::string_view id) const {
    return generations_[stripe_of(id)].load(std::memory_order_acquire);
  }

  // --- reads -------------------------------------------------------------
  std::optional<build_record> get_build(std::string_view id) const;
  // Entries with offset >= from, at most `limit` of them, in offset order.
  std::vector<raw_entry> read_log(std::string_view id, uint64_t from, size_t limit) const;
  // Entries with from <= offset < upto, in offset order, handed to `take` as
  // views into the store's own buffers (valid only during the call): no copy
  // per entry. `take` returns false to leave that entry and stop. Returns the
  // offset after the last entry taken (`from` if none).
  using log_taker = std::function<bool(uint64_t offset, std::string_view json)>;
  uint64_t scan_log(std::string_view id, uint64_t from, uint64_t upto, const log_taker& take) const;
  // A build record and its log entries from `from`, read from ONE snapshot so
  // the status and the entries agree. nullopt if the build does not exist.
  struct status_read {
    build_record record;
    std::vector<raw_entry> entries;
    uint64_t log_next_offset = 0;
  };
  std::optional<status_read> read_status(std::string_view id, uint64_t from, size_t limit) const;
  // One past the highest stored offset of the build (0 for an empty log).
  uint64_t next_offset(std::string_view id) const;
  // Build contexts (meta CF, ctx/<id>): known once their upload completed.
  bool has_context(std::string_view id) const;
  std::optional<std::string> get_context(std::string_view id) const;  // its manifest JSON
  result<bool> put_context(std::string_view id, std::string_view json);

  // Layer cache (cache CF, c/<cache key>).
  // Writing an entry also indexes its layer (cache CF, l/<layer>/<key>) and
  // records which build produced it (builds CF, L/<build>/<layer>), in one batch.
  std::optional<cache_entry> get_cache(std::string_view key) const;
  result<bool> put_cache(std::string_view key, const cache_entry& e, std::string_view produced_by);
  // Several records (key, entry) produced by one build, in one write.
  result<bool> put_cache_batch(const std::vector<std::pair<std::string, cache_entry>>& entries,
                               std::string_view produced_by);

  // --- templates ---------------------------------------------------------
  std::optional<template_record> get_template(std::string_view ns, std::string_view name) const;
  std::optional<std::string> get_alias(std::string_view ns, std::string_view alias) const;
  std::optional<std::string> namespace_owner(std::string_view ns) const;
  std::optional<std::string> get_tag(std::string_view ns, std::string_view name,
                                     std::string_view tag) const;
  // {tag, build id} of a template, by tag.
  std::vector<std::pair<std::string, std::string>> tags_of(std::string_view ns,
                                                           std::string_view name) const;
  // Which templates for_each_template walks: one namespace's, one tenant's
  // (through the owner index) or the public ones (through the public index).
  struct template_scope {
    enum class kind { in_namespace, owned_by, public_ones } by;
    std::string key;  // the namespace or the tenant
  };
  // Templates of `scope` in (namespace, name) order, starting after
  // {after_ns, after_name} if given; `fn` returns false to stop.
  void for_each_template(const template_scope& scope,
                         std::optional<std::pair<std::string, std::string>> after,
                         const std::function<bool(template_record&&)>& fn) const;
  // A template's builds, newest first ({created_ms, id}), strictly older than
  // `before` if given (a list_builds cursor); `fn` returns false to stop.
  void for_each_history(std::string_view ns, std::string_view name,
                        std::optional<std::pair<int64_t, std::string>> before,
                        const std::function<bool(int64_t, std::string&&)>& fn) const;
  // Whether a build is in the history of the template it names (delete drops
  // the rows; rename moves them).
  bool in_history(const build_record& r) const;
  size_t artifact_holders(std::string_view artifact_id) const;
  // Every artifact id with at least one holder.
  std::vector<std::string> held_artifacts() const;
  // Deletes the cache entries that name `layer` now, and its index rows (an
  // index row is stale once its key was rewritten to another layer).
  void delete_cache_of_layer(write_batch& b, std::string_view layer) const;
  // The layers a build produced (cache misses that wrote a layer), and the
  // deletion of that record.
  std::vector<std::string> layers_produced_by(std::string_view build_id) const;
  void forget_produced_layer(write_batch& b, std::string_view build_id, std::string_view layer);
  // Layers waiting for deletion by retention (meta CF, gc/<layer dir name>).
  void put_gc_layer(write_batch& b, std::string_view layer);
  void delete_gc_layer(write_batch& b, std::string_view layer);
  std::vector<std::string> gc_layers() const;
  // Every history row in key order: (namespace, name, created_ms, id).
  void for_each_history_row(const std::function<void(std::string_view, std::string_view, int64_t,
                                                     std::string_view)>& fn) const;
  std::optional<std::string> get_meta(std::string_view key) const;
  result<bool> put_meta(std::string_view key, std::string_view value);
  // Builds whose retention ends at or before `now_ms`, soonest first.
  std::vector<std::pair<int64_t, std::string>> retention_due(int64_t now_ms, size_t limit) const;

  // Every build record, in key order.
  void for_each_build(const std::function<void(build_record&&)>& fn) const;
  // Builds not yet terminal, in id order: put_build keeps their rows
  // (builds CF, u/<id>), so start-up recovery reads these and nothing else.
  // A row whose record is terminal (left by an older engine) is skipped.
  void for_each_unfinished_build(const std::function<void(build_record&&)>& fn) const;
  // How many builds are in each status (index: build_status). Kept by the log
  // hub, which moves a status only in its batches: it writes the new counts
  // (meta CF, build_counts) in the same batch, so they never disagree with
  // the records after a crash.
  using status_counts = std::array<uint64_t, 6>;
  status_counts build_counts() const;
  void put_build_counts(write_batch& b, const status_counts& counts);

  // --- machines (machines CF; storage/machine_store.cpp) -------------------
  //   m/<id>                        the machine record
  //   t/<tenant>/<created_be>/<id>  a tenant's machines, by creation time
  //   l/<id>                        machines not yet stopped or failed
  //   x/<expires_be>/<id>           ended machines whose record and log expire then
  static std::string machine_key(std::string_view id);
  // The record, its tenant row, and its live row or (once it ended) expiry row.
  void put_machine(write_batch& b, const machine_record& r, int64_t expires_ms = 0);
  std::optional<machine_record> get_machine(std::string_view id) const;
  // A tenant's machines newest first, strictly older than `before` (a list
  // cursor) if given; `fn` returns false to stop.
  void for_each_machine_of(std::string_view tenant,
                           std::optional<std::pair<int64_t, std::string>> before,
                           const std::function<bool(machine_record&&)>& fn) const;
  // Machines not yet stopped or failed (start-up adoption reads only these).
  void for_each_live_machine(const std::function<void(machine_record&&)>& fn) const;
  // Ended machines whose retention passed by `now_ms`, soonest first.
  std::vector<std::string> machines_expired(int64_t now_ms, size_t limit) const;
  // Removes a machine's record, index rows and log.
  void delete_machine(write_batch& b, const machine_record& r, int64_t expires_ms);

  // --- warm pools (pools CF; storage/pool_store.cpp) ----------------------
  //   p/<id>               the pool record
  //   n/<tenant>/<name>    → id: names are unique per tenant
  //   t/<tenant>/<id>      a tenant's pools
  static std::string pool_key(std::string_view id);
  // The record, its name row and its tenant row. A rename (spec.name changed)
  // must delete the old name row first: delete_pool_name.
  void put_pool(write_batch& b, const pool_record& r);
  void delete_pool_name(write_batch& b, std::string_view tenant, std::string_view name);
  std::optional<pool_record> get_pool(std::string_view id) const;
  // The id of `tenant`'s pool called `name`, if any.
  std::optional<std::string> find_pool_name(std::string_view tenant, std::string_view name) const;
  // A tenant's pools in id order; `fn` returns false to stop.
  void for_each_pool_of(std::string_view tenant,
                        const std::function<bool(pool_record&&)>& fn) const;
  // Every pool (start-up recovery).
  void for_each_pool(const std::function<void(pool_record&&)>& fn) const;
  // Removes a pool's record, index rows and log (entries put earlier in the
  // same batch included).
  void delete_pool(write_batch& b, const pool_record& r);

  // --- idempotency keys (meta CF; storage/idempotency_store.cpp) ----------
  //   idem/<kind>/<tenant>\0<key>               the record (storage/idempotency_record.hpp)
  //   idemx/<expires_be>/<kind>/<tenant>\0<key>  its expiry
  // Put it in the batch that writes the object's first record.
  void put_idempotency(write_batch& b, const idempotency_record& r);
  // The stored record of a key, expired or not (the caller compares expires_ms).
  std::optional<idempotency_record> get_idempotency(std::string_view kind, std::string_view tenant,
                                                    std::string_view key) const;
  // Deletes at most `limit` keys that expired by `now_ms`; how many.
  size_t delete_expired_idempotency(int64_t now_ms, size_t limit);

  rocksdb::DB* db() { return db_.get(); }
  const store_options& options() const { return opts_; }
  const std::string& dir() const { return dir_; }

 private:
  store() = default;
  static constexpr size_t generation_stripes = 4096;
  static uint32_t stripe_of(std::string_view id) {
    return static_cast<uint32_t>(std::hash<std::string_view>{}(id) % generation_stripes);
  }
  std::vector<raw_entry> read_log_at(const rocksdb::ReadOptions& ro, std::string_view id,
                                     uint64_t from, size_t limit) const;
  uint64_t next_offset_at(const rocksdb::ReadOptions& ro, std::string_view id) const;
  std::optional<std::string> get_in(rocksdb::ColumnFamilyHandle* cf, const std::string& key) const;
  void add_cache(write_batch& b, std::string_view key, const cache_entry& e,
                 std::string_view produced_by);
  // Stores older than the layer index or the template indexes get them once, at
  // open: `fill` adds the rows in the same batch as the meta `flag` saying so.
  result<bool> upgrade_once(std::string_view flag, const std::function<void(write_batch&)>& fill);
  result<bool> index_cache_layers();
  result<bool> index_templates();
  result<bool> index_unfinished_builds();
  // Calls fn(key without the prefix, value) for each key of `cf` starting with
  // `prefix`, in key order, until fn returns false.
  void scan(rocksdb::ColumnFamilyHandle* cf, const std::string& prefix,
            const std::function<bool(std::string_view, std::string_view)>& fn) const;
  // Keys `prefix` + <created_be>/<id>, newest first, strictly before the key
  // `before` ("" = from the newest): fn(created_ms, id) until it returns false.
  void scan_newest_first(rocksdb::ColumnFamilyHandle* cf, const std::string& prefix,
                         const std::string& before,
                         const std::function<bool(int64_t, std::string&&)>& fn) const;
  static error full_error();
  std::atomic<bool> stopped_{false};  // a write failed: resume RocksDB before the next
  std::string dir_;
  store_options opts_;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;  // owned; closed in ~store
  rocksdb::ColumnFamilyHandle* builds_ = nullptr;
  rocksdb::ColumnFamilyHandle* logs_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;
  rocksdb::ColumnFamilyHandle* cache_ = nullptr;
  rocksdb::ColumnFamilyHandle* machines_ = nullptr;
  rocksdb::ColumnFamilyHandle* pools_ = nullptr;
  rocksdb::ColumnFamilyHandle* templates_ = nullptr;
  std::array<std::atomic<uint64_t>, generation_stripes> generations_{};
};

}  // namespace nullspace::storage

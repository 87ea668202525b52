#include "storage/store.hpp"

#include <sys/statvfs.h>

#include <rocksdb/options.h>

#include <cstdlib>
#include <cstring>

#include "storage/key_encoding.hpp"

namespace nullspace::storage {
namespace {

// Column families created up front so later features need no migration.
const std::vector<std::string> column_families = {rocksdb::kDefaultColumnFamilyName,
                                                  "builds",
                                                  "logs",
                                                  "meta",
                                                  "templates",
                                                  "pools",
                                                  "cache",
                                                  "machines"};

std::string template_key(std::string_view ns, std::string_view name) {
  std::string k = "t/";
  k.append(ns).append("/").append(name);
  return k;
}

std::string tag_key(std::string_view ns, std::string_view name, std::string_view tag) {
  std::string k = "g/";
  k.append(ns).append("/").append(name).append("/").append(tag);
  return k;
}

std::string alias_key(std::string_view ns, std::string_view alias) {
  std::string k = "a/";
  k.append(ns).append("/").append(alias);
  return k;
}

std::string retention_key(int64_t expires_ms, std::string_view id) {
  std::string k = "r/";
  append_be64(k, static_cast<uint64_t>(expires_ms));
  k.append("/").append(id);
  return k;
}

std::string log_prefix(std::string_view id) {
  std::string k(id);
  k.push_back('/');
  return k;
}

}  // namespace

result<std::unique_ptr<store>> store::open(const std::string& dir, store_options opts) {
  rocksdb::Options db_opts;
  db_opts.create_if_missing = true;
  db_opts.create_missing_column_families = true;
  db_opts.max_background_jobs = 2;
  db_opts.IncreaseParallelism(2);
  // Memtables are most of what the engine's memory grows by under chatty
  // builds: cap them all together (a flush starts past it), and give the
  // logs, which take nearly every write, smaller ones than the 64 MB default.
  db_opts.db_write_buffer_size = 64 << 20;
  rocksdb::ColumnFamilyOptions logs_opts;
  logs_opts.write_buffer_size = 16 << 20;
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (auto& name : column_families)
    descs.emplace_back(name, name == "logs" ? logs_opts : rocksdb::ColumnFamilyOptions{});
  std::unique_ptr<store> s{new store};
  s->dir_ = dir;
  s->opts_ = opts;
  rocksdb::DB* raw = nullptr;
  auto st = rocksdb::DB::Open(db_opts, dir, descs, &s->handles_, &raw);
  if (!st.ok())
    return make_error(errc::unavailable, "cannot open the store at " + dir + ": " + st.ToString());
  s->db_.reset(raw);
  s->builds_ = s->handles_[1];
  s->logs_ = s->handles_[2];
  s->meta_ = s->handles_[3];
  s->templates_ = s->handles_[4];
  s->pools_ = s->handles_[5];
  s->cache_ = s->handles_[6];
  s->machines_ = s->handles_[7];

  std::string version;
  st = raw->Get(rocksdb::ReadOptions{}, s->meta_, "schema_version", &version);
  if (st.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    st = raw->Put(wo, s->meta_, "schema_version", std::to_string(schema_version));
    if (!st.ok())
      return make_error(errc::unavailable, "cannot initialise the store: " + st.ToString());
  } else if (!st.ok()) {
    return make_error(errc::unavailable,
                      "cannot read the store's schema version: " + st.ToString());
  } else if (version != std::to_string(schema_version)) {
    return make_error(errc::failed_precondition, "the store at " + dir + " has schema version " +
                                                     version + "; this build reads version " +
                                                     std::to_string(schema_version));
  }
  if (auto indexed = s->index_cache_layers(); !indexed)
    return make_error(errc::unavailable,
                      "cannot index the layer cache: " + indexed.error().message);
  if (auto indexed = s->index_templates(); !indexed)
    return make_error(errc::unavailable, "cannot index the templates: " + indexed.error().message);
  if (auto indexed = s->index_unfinished_builds(); !indexed)
    return make_error(errc::unavailable,
                      "cannot index the unfinished builds: " + indexed.error().message);
  return s;
}

store::~store() {
  if (!db_) return;
  for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h);
  db_->Close();
}

std::string store::build_key(std::string_view id) {
  return "b/" + std::string(id);
}

std::string store::unfinished_key(std::string_view id) {
  return "u/" + std::string(id);
}

std::string store::history_key(std::string_view ns, std::string_view name, int64_t created_ms,
                               std::string_view id) {
  std::string k = "i/";
  k.append(ns).append("/").append(name).append("/");
  append_be64(k, static_cast<uint64_t>(created_ms));
  k.append("/").append(id);
  return k;
}

std::string store::log_key(std::string_view id, uint64_t offset) {
  auto k = log_prefix(id);
  append_be64(k, offset);
  return k;
}

void store::put_build(write_batch& b, const build_record& r) {
  b.wb_.Put(builds_, build_key(r.id), encode_build_record(r));
  if (is_terminal(r.status))
    b.wb_.Delete(builds_, unfinished_key(r.id));
  else
    b.wb_.Put(builds_, unfinished_key(r.id), "");
  b.touch(stripe_of(r.id));
}

void store::put_history(write_batch& b, const build_record& r) {
  b.wb_.Put(builds_, history_key(r.namespace_name, r.name, r.created_ms, r.id), "");
}

void store::put_log(write_batch& b, std::string_view id, uint64_t offset, std::string_view json) {
  rocksdb::Slice value(json.data(), json.size());
  // The log hub's hot path: the key (as log_key) on the stack when it fits.
  if (char key[128]; id.size() + 9 <= sizeof key) {
    std::memcpy(key, id.data(), id.size());
    key[id.size()] = '/';
    for (int i = 0; i < 8; ++i) key[id.size() + 1 + i] = static_cast<char>(offset >> (56 - 8 * i));
    b.wb_.Put(logs_, rocksdb::Slice(key, id.size() + 9), value);
  } else {
    b.wb_.Put(logs_, log_key(id, offset), value);
  }
  b.touch(stripe_of(id));
}

void store::delete_history(write_batch& b, const build_record& r) {
  b.wb_.Delete(builds_, history_key(r.namespace_name, r.name, r.created_ms, r.id));
}

void store::put_retention(write_batch& b, int64_t expires_ms, std::string_view id) {
  b.wb_.Put(builds_, retention_key(expires_ms, id), "");
}

void store::delete_retention(write_batch& b, int64_t expires_ms, std::string_view id) {
  b.wb_.Delete(builds_, retention_key(expires_ms, id));
}

void store::put_artifact_holder(write_batch& b, std::string_view artifact_id,
                                std::string_view build_id) {
  b.wb_.Put(builds_, "A/" + std::string(artifact_id) + "/" + std::string(build_id), "");
}

void store::delete_artifact_holder(write_batch& b, std::string_view artifact_id,
                                   std::string_view build_id) {
  b.wb_.Delete(builds_, "A/" + std::string(artifact_id) + "/" + std::string(build_id));
}

namespace {
std::string layer_index_key(std::string_view layer, std::string_view key) {
  return "l/" + std::string(layer) + "/" + std::string(key);
}
std::string produced_key(std::string_view build_id, std::string_view layer) {
  return "L/" + std::string(build_id) + "/" + std::string(layer);
}
std::string_view layer_of_cache_value(std::string_view value) {
  return value.substr(0, value.find('\t'));
}
}  // namespace

void store::delete_cache_of_layer(write_batch& b, std::string_view layer) const {
  scan(cache_, layer_index_key(layer, ""), [&](std::string_view key, std::string_view) {
    b.wb_.Delete(cache_, layer_index_key(layer, key));
    auto entry = get_in(cache_, "c/" + std::string(key));
    if (entry && layer_of_cache_value(*entry) == layer)
      b.wb_.Delete(cache_, "c/" + std::string(key));
    return true;
  });
}

std::vector<std::string> store::layers_produced_by(std::string_view build_id) const {
  std::vector<std::string> out;
  scan(builds_, produced_key(build_id, ""), [&](std::string_view layer, std::string_view) {
    out.emplace_back(layer);
    return true;
  });
  return out;
}

void store::forget_produced_layer(write_batch& b, std::string_view build_id,
                                  std::string_view layer) {
  b.wb_.Delete(builds_, produced_key(build_id, layer));
}

result<bool> store::upgrade_once(std::string_view flag,
                                 const std::function<void(write_batch&)>& fill) {
  if (get_in(meta_, std::string(flag))) return true;
  write_batch b;
  fill(b);
  b.wb_.Put(meta_, rocksdb::Slice(flag.data(), flag.size()), "1");
  return write(b);
}

result<bool> store::index_cache_layers() {
  return upgrade_once("cache_layer_index", [&](write_batch& b) {
    scan(cache_, "c/", [&](std::string_view key, std::string_view value) {
      auto layer = layer_of_cache_value(value);
      if (!layer.empty()) b.wb_.Put(cache_, layer_index_key(layer, key), "");
      return true;
    });
  });
}

void store::put_gc_layer(write_batch& b, std::string_view layer) {
  b.wb_.Put(meta_, "gc/" + std::string(layer), "");
}

void store::delete_gc_layer(write_batch& b, std::string_view layer) {
  b.wb_.Delete(meta_, "gc/" + std::string(layer));
}

std::vector<std::string> store::gc_layers() const {
  std::vector<std::string> out;
  scan(meta_, "gc/", [&](std::string_view layer, std::string_view) {
    out.emplace_back(layer);
    return true;
  });
  return out;
}

namespace {
std::string owner_index_key(const template_record& t) {
  return "o/" + t.tenant + "/" + t.namespace_name + "/" + t.name;
}
std::string public_index_key(const template_record& t) {
  return "p/" + t.namespace_name + "/" + t.name;
}
}  // namespace

void store::put_template(write_batch& b, const template_record& t) {
  b.wb_.Put(templates_, template_key(t.namespace_name, t.name), encode_template_record(t));
  b.wb_.Put(templates_, owner_index_key(t), "");
  if (t.visibility == "public")
    b.wb_.Put(templates_, public_index_key(t), "");
  else
    b.wb_.Delete(templates_, public_index_key(t));
}

void store::delete_template(write_batch& b, const template_record& t) {
  b.wb_.Delete(templates_, template_key(t.namespace_name, t.name));
  b.wb_.Delete(templates_, owner_index_key(t));
  b.wb_.Delete(templates_, public_index_key(t));
}

result<bool> store::index_templates() {
  return upgrade_once("template_index", [&](write_batch& b) {
    scan(templates_, "t/", [&](std::string_view, std::string_view value) {
      if (auto t = decode_template_record(value)) put_template(b, *t);
      return true;
    });
  });
}

void store::put_tag(write_batch& b, std::string_view ns, std::string_view name,
                    std::string_view tag, std::string_view build_id) {
  b.wb_.Put(templates_, tag_key(ns, name, tag), rocksdb::Slice(build_id.data(), build_id.size()));
}

void store::delete_tag(write_batch& b, std::string_view ns, std::string_view name,
                       std::string_view tag) {
  b.wb_.Delete(templates_, tag_key(ns, name, tag));
}

void store::put_alias(write_batch& b, std::string_view ns, std::string_view alias,
                      std::string_view name) {
  b.wb_.Put(templates_, alias_key(ns, alias), rocksdb::Slice(name.data(), name.size()));
}

void store::delete_alias(write_batch& b, std::string_view ns, std::string_view alias) {
  b.wb_.Delete(templates_, alias_key(ns, alias));
}

void store::put_namespace_owner(write_batch& b, std::string_view ns, std::string_view tenant) {
  b.wb_.Put(templates_, "n/" + std::string(ns), rocksdb::Slice(tenant.data(), tenant.size()));
}

// What a write must leave free on the data dir's file system (see write()).
constexpr uint64_t full_reserve_bytes_value = 4u << 20;

result<bool> store::write(write_batch& b) {
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync;
  wo.disableWAL = opts_.bulk_load;
  // After a failed write RocksDB refuses every write (a background error)
  // until it is resumed; resuming succeeds once the cause (a full disk) is
  // gone, so the store serves again without a restart.
  if (stopped_.load(std::memory_order_acquire)) {
    if (!db_->Resume().ok()) return full_error();
    stopped_.store(false, std::memory_order_release);
  }
  // RocksDB must never meet ENOSPC itself: Debian's build asserts (aborts the
  // daemon) on the write after a failed WAL append (found by [faults]). So a
  // write that would leave less than a reserve free is refused here, cleanly,
  // and nothing in RocksDB is in an error state when space comes back.
  if (struct statvfs fsv;
      statvfs(dir_.c_str(), &fsv) == 0 && static_cast<uint64_t>(fsv.f_bavail) * fsv.f_frsize <
                                              full_reserve_bytes_value + b.wb_.GetDataSize())
    return full_error();
  auto st = db_->Write(wo, &b.wb_);
  if (!st.ok()) {
    bool no_space = st.IsNoSpace() || st.ToString().find("No space left") != std::string::npos;
    stopped_.store(true, std::memory_order_release);  // Resume() is a no-op if it needs none
    if (no_space) return full_error();
    return make_error(errc::unavailable, "the store refused a write: " + st.ToString());
  }
  // After the commit: a reader that saw the old generation may hold data from
  // before this write, and will now see that it changed.
  for (auto stripe : b.stripes_) generations_[stripe].fetch_add(1, std::memory_order_release);
  return true;
}

result<bool> store::flush() {
  auto st = db_->Flush(rocksdb::FlushOptions{}, handles_);
  if (!st.ok()) return make_error(errc::unavailable, "cannot flush the store: " + st.ToString());
  return true;
}

error store::full_error() {
  return make_error(
      errc::insufficient_storage,
      "the data dir's file system is full: nothing was written; free space and retry");
}

std::optional<build_record> store::get_build(std::string_view id) const {
  std::string value;
  auto st = db_->Get(rocksdb::ReadOptions{}, builds_, build_key(id), &value);
  if (!st.ok()) return std::nullopt;
  return decode_build_record(value);
}

std::vector<raw_entry> store::read_log(std::string_view id, uint64_t from, size_t limit) const {
  return read_log_at(rocksdb::ReadOptions{}, id, from, limit);
}

std::vector<raw_entry> store::read_log_at(const rocksdb::ReadOptions& ro, std::string_view id,
                                          uint64_t from, size_t limit) const {
  std::vector<raw_entry> out;
  if (limit == 0) return out;
  auto prefix = log_prefix(id);
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro, logs_)};
  for (it->Seek(log_key(id, from)); it->Valid(); it->Next()) {
    auto key = it->key();
    if (!key.starts_with(prefix) || key.size() != prefix.size() + 8) break;
    out.push_back(
        {read_be64(std::string_view(key.data() + prefix.size(), 8)), it->value().ToString()});
    if (out.size() >= limit) break;
  }
  return out;
}

uint64_t store::scan_log(std::string_view id, uint64_t from, uint64_t upto,
                         const log_taker& take) const {
  if (from >= upto) return from;
  auto prefix = log_prefix(id);
  // The bound keeps the iterator from reading into the next build's entries.
  auto bound_key = upto == UINT64_MAX ? prefix.substr(0, prefix.size() - 1) + "0"  // '/' + 1
                                      : log_key(id, upto);
  rocksdb::Slice bound(bound_key);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &bound;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro, logs_)};
  uint64_t next = from;
  for (it->Seek(log_key(id, from)); it->Valid(); it->Next()) {
    auto key = it->key();
    if (!key.starts_with(prefix) || key.size() != prefix.size() + 8) break;
    uint64_t off = read_be64(std::string_view(key.data() + prefix.size(), 8));
    auto value = it->value();
    if (!take(off, std::string_view(value.data(), value.size()))) break;
    next = off + 1;
  }
  return next;
}

uint64_t store::next_offset(std::string_view id) const {
  return next_offset_at(rocksdb::ReadOptions{}, id);
}

std::optional<store::status_read> store::read_status(std::string_view id, uint64_t from,
                                                     size_t limit) const {
  const rocksdb::Snapshot* snap = db_->GetSnapshot();
  rocksdb::ReadOptions ro;
  ro.snapshot = snap;
  std::optional<status_read> out;
  std::string value;
  if (db_->Get(ro, builds_, build_key(id), &value).ok()) {
    if (auto rec = decode_build_record(value)) {
      out.emplace();
      out->record = std::move(*rec);
      out->entries = read_log_at(ro, id, from, limit);
      out->log_next_offset = next_offset_at(ro, id);
    }
  }
  db_->ReleaseSnapshot(snap);
  return out;
}

uint64_t store::next_offset_at(const rocksdb::ReadOptions& ro, std::string_view id) const {
  auto prefix = log_prefix(id);
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(ro, logs_)};
  it->SeekForPrev(log_key(id, UINT64_MAX));
  if (!it->Valid()) return 0;
  auto key = it->key();
  if (!key.starts_with(prefix) || key.size() != prefix.size() + 8) return 0;
  return read_be64(std::string_view(key.data() + prefix.size(), 8)) + 1;
}

bool store::has_context(std::string_view id) const {
  return get_context(id).has_value();
}

std::optional<std::string> store::get_context(std::string_view id) const {
  return get_in(meta_, "ctx/" + std::string(id));
}

result<bool> store::put_context(std::string_view id, std::string_view json) {
  write_batch b;
  b.wb_.Put(meta_, "ctx/" + std::string(id), rocksdb::Slice(json.data(), json.size()));
  return write(b);
}

// Layer cache values: "<layer>\t<bytes>\t<created_ms>" (internal, never served).
std::optional<cache_entry> store::get_cache(std::string_view key) const {
  auto found = get_in(cache_, "c/" + std::string(key));
  if (!found) return std::nullopt;
  auto& value = *found;
  auto t1 = value.find('\t');
  auto t2 = t1 == std::string::npos ? t1 : value.find('\t', t1 + 1);
  if (t2 == std::string::npos) return std::nullopt;
  cache_entry e;
  e.layer = value.substr(0, t1);
  e.bytes = std::strtoull(value.c_str() + t1 + 1, nullptr, 10);
  e.created_ms = std::strtoll(value.c_str() + t2 + 1, nullptr, 10);
  return e;
}

void store::add_cache(write_batch& b, std::string_view key, const cache_entry& e,
                      std::string_view produced_by) {
  auto value = e.layer + "\t" + std::to_string(e.bytes) + "\t" + std::to_string(e.created_ms);
  b.wb_.Put(cache_, "c/" + std::string(key), value);
  if (!e.layer.empty()) {
    b.wb_.Put(cache_, layer_index_key(e.layer, key), "");
    b.wb_.Put(builds_, produced_key(produced_by, e.layer), "");
  }
}

result<bool> store::put_cache(std::string_view key, const cache_entry& e,
                              std::string_view produced_by) {
  write_batch b;
  add_cache(b, key, e, produced_by);
  return write(b);
}

result<bool> store::put_cache_batch(const std::vector<std::pair<std::string, cache_entry>>& entries,
                                    std::string_view produced_by) {
  write_batch b;
  for (auto& [key, e] : entries) add_cache(b, key, e, produced_by);
  return write(b);
}

std::optional<std::string> store::get_in(rocksdb::ColumnFamilyHandle* cf,
                                         const std::string& key) const {
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions{}, cf, key, &value).ok()) return std::nullopt;
  return value;
}

std::optional<template_record> store::get_template(std::string_view ns,
                                                   std::string_view name) const {
  auto v = get_in(templates_, template_key(ns, name));
  if (!v) return std::nullopt;
  return decode_template_record(*v);
}

std::optional<std::string> store::get_alias(std::string_view ns, std::string_view alias) const {
  return get_in(templates_, alias_key(ns, alias));
}

std::optional<std::string> store::namespace_owner(std::string_view ns) const {
  return get_in(templates_, "n/" + std::string(ns));
}

std::optional<std::string> store::get_tag(std::string_view ns, std::string_view name,
                                          std::string_view tag) const {
  return get_in(templates_, tag_key(ns, name, tag));
}

std::vector<std::pair<std::string, std::string>> store::tags_of(std::string_view ns,
                                                                std::string_view name) const {
  std::vector<std::pair<std::string, std::string>> out;
  scan(templates_, tag_key(ns, name, ""), [&](std::string_view tag, std::string_view id) {
    out.emplace_back(tag, id);
    return true;
  });
  return out;
}

void store::for_each_template(const template_scope& scope,
                              std::optional<std::pair<std::string, std::string>> after,
                              const std::function<bool(template_record&&)>& fn) const {
  using k = template_scope::kind;
  // Every scope's keys end in <ns>/<name>; index rows point at t/<ns>/<name>.
  std::string prefix = scope.by == k::in_namespace ? "t/" + scope.key + "/"
                       : scope.by == k::owned_by   ? "o/" + scope.key + "/"
                                                   : std::string("p/");
  std::string base = scope.by == k::in_namespace ? std::string("t/") : prefix;
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, templates_)};
  if (after) {
    auto from = base + after->first + "/" + after->second;
    it->Seek(from);
    if (it->Valid() && it->key() == from) it->Next();
  } else {
    it->Seek(prefix);
  }
  for (; it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::optional<template_record> t;
    if (scope.by == k::in_namespace) {
      t = decode_template_record(it->value().ToString());
    } else {
      auto rest = it->key().ToString().substr(prefix.size());  // <ns>/<name>
      auto slash = rest.find('/');
      if (slash != std::string::npos)
        t = get_template(rest.substr(0, slash), rest.substr(slash + 1));
    }
    if (t && !fn(std::move(*t))) return;
  }
}

void store::for_each_history(std::string_view ns, std::string_view name,
                             std::optional<std::pair<int64_t, std::string>> before,
                             const std::function<bool(int64_t, std::string&&)>& fn) const {
  std::string prefix = "i/";
  prefix.append(ns).append("/").append(name).append("/");
  scan_newest_first(builds_, prefix,
                    before ? history_key(ns, name, before->first, before->second) : std::string(),
                    fn);
}

void store::scan_newest_first(rocksdb::ColumnFamilyHandle* cf, const std::string& prefix,
                              const std::string& before,
                              const std::function<bool(int64_t, std::string&&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, cf)};
  if (!before.empty()) {
    it->SeekForPrev(before);
    if (it->Valid() && it->key() == before) it->Prev();
  } else {
    // One past every key of the prefix: '/' + 1 is '0'.
    it->SeekForPrev(prefix.substr(0, prefix.size() - 1) + "0");
  }
  for (; it->Valid() && it->key().starts_with(prefix); it->Prev()) {
    auto rest = it->key().ToString().substr(prefix.size());  // <created_be>/<id>
    if (rest.size() < 10 || rest[8] != '/') continue;
    if (!fn(static_cast<int64_t>(read_be64(rest)), rest.substr(9))) return;
  }
}

bool store::in_history(const build_record& r) const {
  return get_in(builds_, history_key(r.namespace_name, r.name, r.created_ms, r.id)).has_value();
}

size_t store::artifact_holders(std::string_view artifact_id) const {
  size_t n = 0;
  scan(builds_, "A/" + std::string(artifact_id) + "/", [&](std::string_view, std::string_view) {
    ++n;
    return true;
  });
  return n;
}

std::vector<std::string> store::held_artifacts() const {
  std::vector<std::string> out;
  scan(builds_, "A/", [&](std::string_view rest, std::string_view) {  // <artifact>/<build>
    auto id = rest.substr(0, rest.find('/'));
    if (out.empty() || out.back() != id) out.emplace_back(id);
    return true;
  });
  return out;
}

void store::for_each_history_row(const std::function<void(std::string_view, std::string_view,
                                                          int64_t, std::string_view)>& fn) const {
  scan(builds_, "i/", [&](std::string_view k, std::string_view) {  // ns/name/<be>/<id>
    auto s1 = k.find('/');
    auto s2 = s1 == std::string_view::npos ? s1 : k.find('/', s1 + 1);
    if (s2 != std::string_view::npos && k.size() >= s2 + 11 && k[s2 + 9] == '/')
      fn(k.substr(0, s1), k.substr(s1 + 1, s2 - s1 - 1),
         static_cast<int64_t>(read_be64(k.substr(s2 + 1, 8))), k.substr(s2 + 10));
    return true;
  });
}

std::optional<std::string> store::get_meta(std::string_view key) const {
  return get_in(meta_, std::string(key));
}

result<bool> store::put_meta(std::string_view key, std::string_view value) {
  write_batch b;
  b.wb_.Put(meta_, std::string(key), rocksdb::Slice(value.data(), value.size()));
  return write(b);
}

std::vector<std::pair<int64_t, std::string>> store::retention_due(int64_t now_ms,
                                                                  size_t limit) const {
  std::vector<std::pair<int64_t, std::string>> out;
  scan(builds_, "r/", [&](std::string_view rest, std::string_view) {  // <expires_be>/<id>
    if (rest.size() < 10 || rest[8] != '/') return true;
    auto when = static_cast<int64_t>(read_be64(rest));
    if (when > now_ms) return false;
    out.emplace_back(when, rest.substr(9));
    return out.size() < limit;
  });
  return out;
}

void store::for_each_build(const std::function<void(build_record&&)>& fn) const {
  scan(builds_, "b/", [&](std::string_view, std::string_view value) {
    if (auto rec = decode_build_record(value)) fn(std::move(*rec));
    return true;
  });
}

void store::scan(rocksdb::ColumnFamilyHandle* cf, const std::string& prefix,
                 const std::function<bool(std::string_view, std::string_view)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, cf)};
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view key(it->key().data() + prefix.size(), it->key().size() - prefix.size());
    if (!fn(key, std::string_view(it->value().data(), it->value().size()))) return;
  }
}

}  // namespace nullspace::storage

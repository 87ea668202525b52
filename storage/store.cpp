#include "storage/store.hpp"

#include <rocksdb/options.h>

#include <cstdlib>

namespace nullspace::storage {
namespace {

// Column families created up front so later features need no migration.
const std::vector<std::string> column_families = {
    rocksdb::kDefaultColumnFamilyName, "builds", "logs", "meta", "templates", "pools", "cache"};

void append_be64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

uint64_t read_be64(std::string_view s) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(s[i]);
  return v;
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
  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  for (auto& name : column_families) descs.emplace_back(name, rocksdb::ColumnFamilyOptions{});
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
  s->cache_ = s->handles_[6];

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
  b.touch(stripe_of(r.id));
}

void store::put_history(write_batch& b, const build_record& r) {
  b.wb_.Put(builds_, history_key(r.namespace_name, r.name, r.created_ms, r.id), "");
}

void store::put_log(write_batch& b, std::string_view id, uint64_t offset, std::string_view json) {
  b.wb_.Put(logs_, log_key(id, offset), rocksdb::Slice(json.data(), json.size()));
  b.touch(stripe_of(id));
}

result<bool> store::write(write_batch& b) {
  rocksdb::WriteOptions wo;
  wo.sync = opts_.sync;
  auto st = db_->Write(wo, &b.wb_);
  if (!st.ok()) return make_error(errc::unavailable, "the store refused a write: " + st.ToString());
  // After the commit: a reader that saw the old generation may hold data from
  // before this write, and will now see that it changed.
  for (auto stripe : b.stripes_) generations_[stripe].fetch_add(1, std::memory_order_release);
  return true;
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
  std::string value;
  return db_->Get(rocksdb::ReadOptions{}, meta_, "ctx/" + std::string(id), &value).ok();
}

std::optional<std::string> store::get_context(std::string_view id) const {
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions{}, meta_, "ctx/" + std::string(id), &value).ok())
    return std::nullopt;
  return value;
}

result<bool> store::put_context(std::string_view id, std::string_view json) {
  write_batch b;
  b.wb_.Put(meta_, "ctx/" + std::string(id), rocksdb::Slice(json.data(), json.size()));
  return write(b);
}

// Layer cache values: "<layer>\t<bytes>\t<created_ms>" (internal, never served).
std::optional<cache_entry> store::get_cache(std::string_view key) const {
  std::string value;
  if (!db_->Get(rocksdb::ReadOptions{}, cache_, "c/" + std::string(key), &value).ok())
    return std::nullopt;
  auto t1 = value.find('\t');
  auto t2 = t1 == std::string::npos ? t1 : value.find('\t', t1 + 1);
  if (t2 == std::string::npos) return std::nullopt;
  cache_entry e;
  e.layer = value.substr(0, t1);
  e.bytes = std::strtoull(value.c_str() + t1 + 1, nullptr, 10);
  e.created_ms = std::strtoll(value.c_str() + t2 + 1, nullptr, 10);
  return e;
}

result<bool> store::put_cache(std::string_view key, const cache_entry& e) {
  write_batch b;
  auto value = e.layer + "\t" + std::to_string(e.bytes) + "\t" + std::to_string(e.created_ms);
  b.wb_.Put(cache_, "c/" + std::string(key), value);
  return write(b);
}

void store::for_each_build(const std::function<void(build_record&&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it{db_->NewIterator(rocksdb::ReadOptions{}, builds_)};
  for (it->Seek("b/"); it->Valid() && it->key().starts_with("b/"); it->Next()) {
    auto rec = decode_build_record(it->value().ToString());
    if (rec) fn(std::move(*rec));
  }
}

}  // namespace nullspace::storage

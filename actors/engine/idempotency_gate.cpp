#include "actors/engine/idempotency_gate.hpp"

#include "storage/common/sha256.hpp"

namespace nullspace::actors {

std::optional<error> check_idempotency_key(std::string_view key) {
  bool printable = true;
  for (unsigned char c : key) printable = printable && c > 0x20 && c < 0x7f;
  if (key.empty() || key.size() > 255 || !printable)
    return make_error(errc::invalid_argument,
                      "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
                      "Idempotency-Key");
  return std::nullopt;
}

std::string machine_request_digest(const machine_request& r) {
  sha256 h;
  auto opt = [&h](const auto& o) { h.update_field(o ? std::to_string(*o) : std::string("-")); };
  h.update_field("machine/1").update_field(r.template_ref);
  h.update_field(std::to_string(r.envs.size()));
  for (auto& [k, v] : r.envs) h.update_field(k);  // names only: values are credentials
  opt(r.cpu_count);
  opt(r.memory_mb);
  opt(r.timeout_ms);
  h.update_field(std::to_string(r.labels.size()));
  for (auto& [k, v] : r.labels) h.update_field(k).update_field(v);
  h.update_field(r.internet_access ? (*r.internet_access ? "1" : "0") : "-");
  h.update_field(r.wait ? "1" : "0");
  h.update_field(r.warm_pool).update_field(r.warm_pool_mode);
  opt(r.warm_pool_wait_ms);
  return h.hex_digest();
}

std::optional<storage::idempotency_record> idempotency_row(std::string_view kind,
                                                           std::string_view tenant,
                                                           std::string_view key, std::string digest,
                                                           int64_t now_ms, int64_t ttl_ms) {
  if (key.empty()) return std::nullopt;
  storage::idempotency_record r;
  r.kind = kind;
  r.tenant = tenant;
  r.key = key;
  r.request_hash = std::move(digest);
  r.expires_ms = now_ms + ttl_ms;
  return r;
}

std::string idempotency_gate::held_key(const storage::idempotency_record& r) {
  std::string k = r.kind + "/" + r.tenant;
  k.push_back('\0');
  return k + r.key;
}

idempotency_gate::decision idempotency_gate::begin(const storage::store& db,
                                                   const storage::idempotency_record& row,
                                                   int64_t now_ms) {
  decision d;
  {
    std::lock_guard<std::mutex> g(mtx_);
    if (!held_.insert(held_key(row)).second) {
      d.refused = make_error(
          errc::conflict,
          "a " + row.kind + " create with this Idempotency-Key is still in progress; retry",
          "Idempotency-Key");
      d.refused->reason = "idempotency_key_in_use";
      return d;
    }
  }
  // Held: nothing else can write this key until end(), so the read is current.
  auto stored = db.get_idempotency(row.kind, row.tenant, row.key);
  if (!stored || stored->expires_ms <= now_ms) return d;
  end(row);
  if (stored->request_hash == row.request_hash) {
    d.replay_id = stored->object_id;
    return d;
  }
  d.refused =
      make_error(errc::conflict,
                 "this Idempotency-Key was used for a different " + row.kind + " request (" +
                     row.kind + " " + stored->object_id + "); use a new key for a new request",
                 "Idempotency-Key");
  d.refused->reason = "idempotency_key_reused";
  return d;
}

void idempotency_gate::end(const storage::idempotency_record& row) {
  std::lock_guard<std::mutex> g(mtx_);
  held_.erase(held_key(row));
}

}  // namespace nullspace::actors

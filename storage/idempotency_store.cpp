// Idempotency keys in the meta column family (storage/store.hpp):
//   idem/<kind>/<tenant>\0<key>            → <request hash>\t<object id>\t<expires_ms>
//   idemx/<expires_be>/<kind>/<tenant>\0<key> → "" (what retention deletes, soonest first)
// A tenant has no control characters and a key only printable ASCII, so the
// NUL cannot be part of either.
#include <charconv>

#include "storage/idempotency_record.hpp"
#include "storage/key_encoding.hpp"
#include "storage/store.hpp"

namespace nullspace::storage {
namespace {

std::string key_suffix(std::string_view kind, std::string_view tenant, std::string_view key) {
  std::string k;
  k.append(kind).append("/").append(tenant).push_back('\0');
  k.append(key);
  return k;
}

std::string row_key(const idempotency_record& r) {
  return "idem/" + key_suffix(r.kind, r.tenant, r.key);
}

std::string expiry_key(const idempotency_record& r) {
  std::string k = "idemx/";
  append_be64(k, static_cast<uint64_t>(r.expires_ms));
  k.append("/").append(key_suffix(r.kind, r.tenant, r.key));
  return k;
}

}  // namespace

std::string encode_idempotency_value(const idempotency_record& r) {
  return r.request_hash + "\t" + r.object_id + "\t" + std::to_string(r.expires_ms);
}

bool decode_idempotency_value(std::string_view v, idempotency_record& r) {
  auto a = v.find('\t');
  if (a == std::string_view::npos) return false;
  auto b = v.find('\t', a + 1);
  if (b == std::string_view::npos) return false;
  int64_t expires = 0;
  auto tail = v.substr(b + 1);
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), expires);
  if (ec != std::errc() || p != tail.data() + tail.size()) return false;
  r.request_hash = std::string(v.substr(0, a));
  r.object_id = std::string(v.substr(a + 1, b - a - 1));
  r.expires_ms = expires;
  return true;
}

void store::put_idempotency(write_batch& b, const idempotency_record& r) {
  b.wb_.Put(meta_, row_key(r), encode_idempotency_value(r));
  b.wb_.Put(meta_, expiry_key(r), "");
}

std::optional<idempotency_record> store::get_idempotency(std::string_view kind,
                                                         std::string_view tenant,
                                                         std::string_view key) const {
  idempotency_record r;
  r.kind = kind;
  r.tenant = tenant;
  r.key = key;
  auto v = get_in(meta_, row_key(r));
  if (!v || !decode_idempotency_value(*v, r)) return std::nullopt;
  return r;
}

size_t store::delete_expired_idempotency(int64_t now_ms, size_t limit) {
  write_batch b;
  size_t n = 0;
  scan(meta_, "idemx/", [&](std::string_view rest, std::string_view) {
    // <expires_be>/<kind>/<tenant>\0<key>
    if (rest.size() < 10 || static_cast<int64_t>(read_be64(rest)) > now_ms) return false;
    idempotency_record due;
    due.expires_ms = static_cast<int64_t>(read_be64(rest));
    auto tail = rest.substr(9);
    auto slash = tail.find('/');
    auto nul = tail.find('\0');
    if (slash != std::string_view::npos && nul != std::string_view::npos && slash < nul) {
      due.kind = std::string(tail.substr(0, slash));
      due.tenant = std::string(tail.substr(slash + 1, nul - slash - 1));
      due.key = std::string(tail.substr(nul + 1));
      // The key may have been used again after it expired (a new row with a
      // later expiry): only a row with this expiry goes.
      auto now = get_idempotency(due.kind, due.tenant, due.key);
      if (now && now->expires_ms == due.expires_ms) b.wb_.Delete(meta_, row_key(due));
    }
    b.wb_.Delete(meta_, "idemx/" + std::string(rest));
    return ++n < limit;
  });
  if (n && !write(b)) return 0;
  return n;
}

}  // namespace nullspace::storage

// The machines column family (storage/store.hpp, "machines").
#include "storage/key_encoding.hpp"
#include "storage/store.hpp"

namespace nullspace::storage {
namespace {

std::string tenant_prefix(std::string_view tenant) {
  std::string k = "t/";
  k.append(tenant).append("/");
  return k;
}

std::string tenant_key(std::string_view tenant, int64_t created_ms, std::string_view id) {
  auto k = tenant_prefix(tenant);
  append_be64(k, static_cast<uint64_t>(created_ms));
  k.append("/").append(id);
  return k;
}

std::string live_key(std::string_view id) {
  return "l/" + std::string(id);
}

std::string expiry_key(int64_t expires_ms, std::string_view id) {
  std::string k = "x/";
  append_be64(k, static_cast<uint64_t>(expires_ms));
  k.append("/").append(id);
  return k;
}

}  // namespace

std::string store::machine_key(std::string_view id) {
  return "m/" + std::string(id);
}

void store::put_machine(write_batch& b, const machine_record& r, int64_t expires_ms) {
  b.wb_.Put(machines_, machine_key(r.id), encode_machine_record(r));
  b.wb_.Put(machines_, tenant_key(r.tenant, r.created_ms, r.id), "");
  if (is_terminal(r.state)) {
    b.wb_.Delete(machines_, live_key(r.id));
    if (expires_ms > 0) b.wb_.Put(machines_, expiry_key(expires_ms, r.id), "");
  } else {
    b.wb_.Put(machines_, live_key(r.id), "");
  }
  b.touch(stripe_of(r.id));
}

std::optional<machine_record> store::get_machine(std::string_view id) const {
  auto v = get_in(machines_, machine_key(id));
  if (!v) return std::nullopt;
  return decode_machine_record(*v);
}

void store::for_each_machine_of(std::string_view tenant,
                                std::optional<std::pair<int64_t, std::string>> before,
                                const std::function<bool(machine_record&&)>& fn) const {
  scan_newest_first(machines_, tenant_prefix(tenant),
                    before ? tenant_key(tenant, before->first, before->second) : std::string(),
                    [&](int64_t, std::string&& id) {
                      auto r = get_machine(id);
                      return !r || fn(std::move(*r));
                    });
}

void store::for_each_live_machine(const std::function<void(machine_record&&)>& fn) const {
  std::vector<std::string> ids;
  scan(machines_, "l/", [&](std::string_view id, std::string_view) {
    ids.emplace_back(id);
    return true;
  });
  for (auto& id : ids)
    if (auto r = get_machine(id)) fn(std::move(*r));
}

std::vector<std::string> store::machines_expired(int64_t now_ms, size_t limit) const {
  std::vector<std::string> out;
  scan(machines_, "x/", [&](std::string_view rest, std::string_view) {  // <expires_be>/<id>
    if (rest.size() < 10 || static_cast<int64_t>(read_be64(rest)) > now_ms) return false;
    out.emplace_back(rest.substr(9));
    return out.size() < limit;
  });
  return out;
}

void store::delete_machine(write_batch& b, const machine_record& r, int64_t expires_ms) {
  b.wb_.Delete(machines_, machine_key(r.id));
  b.wb_.Delete(machines_, tenant_key(r.tenant, r.created_ms, r.id));
  b.wb_.Delete(machines_, live_key(r.id));
  if (expires_ms > 0) b.wb_.Delete(machines_, expiry_key(expires_ms, r.id));
  auto from = std::string(r.id) + "/";
  auto to = std::string(r.id) + "0";  // '/' + 1: past every offset of this log
  b.wb_.DeleteRange(logs_, from, to);
  b.touch(stripe_of(r.id));
}

}  // namespace nullspace::storage

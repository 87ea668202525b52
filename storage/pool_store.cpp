// The pools column family (storage/store.hpp, "warm pools").
#include "storage/store.hpp"

namespace nullspace::storage {
namespace {

std::string name_key(std::string_view tenant, std::string_view name) {
  std::string k = "n/";
  k.append(tenant).append("/").append(name);
  return k;
}

std::string tenant_prefix(std::string_view tenant) {
  std::string k = "t/";
  k.append(tenant).append("/");
  return k;
}

}  // namespace

std::string store::pool_key(std::string_view id) {
  return "p/" + std::string(id);
}

void store::put_pool(write_batch& b, const pool_record& r) {
  b.wb_.Put(pools_, pool_key(r.id), encode_pool_record(r));
  b.wb_.Put(pools_, name_key(r.tenant, r.spec.name), r.id);
  b.wb_.Put(pools_, tenant_prefix(r.tenant) + r.id, "");
}

void store::delete_pool_name(write_batch& b, std::string_view tenant, std::string_view name) {
  b.wb_.Delete(pools_, name_key(tenant, name));
}

std::optional<pool_record> store::get_pool(std::string_view id) const {
  auto v = get_in(pools_, pool_key(id));
  if (!v) return std::nullopt;
  return decode_pool_record(*v);
}

std::optional<std::string> store::find_pool_name(std::string_view tenant,
                                                 std::string_view name) const {
  return get_in(pools_, name_key(tenant, name));
}

void store::for_each_pool_of(std::string_view tenant,
                             const std::function<bool(pool_record&&)>& fn) const {
  std::vector<std::string> ids;
  scan(pools_, tenant_prefix(tenant), [&](std::string_view id, std::string_view) {
    ids.emplace_back(id);
    return true;
  });
  for (auto& id : ids)
    if (auto r = get_pool(id))
      if (!fn(std::move(*r))) return;
}

void store::for_each_pool(const std::function<void(pool_record&&)>& fn) const {
  std::vector<std::string> ids;
  scan(pools_, "p/", [&](std::string_view id, std::string_view) {
    ids.emplace_back(id);
    return true;
  });
  for (auto& id : ids)
    if (auto r = get_pool(id)) fn(std::move(*r));
}

void store::delete_pool(write_batch& b, const pool_record& r) {
  b.wb_.Delete(pools_, pool_key(r.id));
  b.wb_.Delete(pools_, name_key(r.tenant, r.spec.name));
  b.wb_.Delete(pools_, tenant_prefix(r.tenant) + r.id);
  auto from = r.id + "/";
  auto to = r.id + "0";  // '/' + 1: past every offset of this log
  b.wb_.DeleteRange(logs_, from, to);
}

}  // namespace nullspace::storage

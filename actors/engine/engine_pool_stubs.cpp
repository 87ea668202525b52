// TEMPORARY (removed when the pool engine work lands): update and pool logs
// answer unimplemented until then, so the HTTP, CLI and SDK work can build on
// their signatures.
#include "actors/engine/engine_impl.hpp"

namespace nullspace {
namespace {
error not_yet() {
  return make_error(errc::internal, "not implemented yet");
}
}  // namespace

void engine::update_pool_async(const std::string&, pool_update, const tenant_id&,
                               callback<pool_view> done) {
  done(not_yet());
}

result<pool_view> engine::update_pool(const std::string& pool, const pool_update& update,
                                      const tenant_id& tenant) {
  return wait_for<pool_view>([&](auto cb) { update_pool_async(pool, update, tenant, cb); });
}

result<std::unique_ptr<follow_handle>> engine::follow_pool(const std::string&, log_offset,
                                                           pool_follow_callbacks,
                                                           const tenant_id&) {
  return not_yet();
}

result<std::vector<raw_entry>> engine::read_pool_log(const std::string&, log_offset, size_t,
                                                     const tenant_id&) const {
  return not_yet();
}

}  // namespace nullspace

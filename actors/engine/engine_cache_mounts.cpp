// engine calls on Dockerfile cache mounts (runtime/sandbox/cache_mounts.hpp).
#include "actors/engine/engine_impl.hpp"

namespace nullspace {

result<cache_mount_prune> engine::prune_cache_mounts(const tenant_id& tenant) {
  auto r = impl_->cache_mounts->prune(tenant.str());
  return cache_mount_prune{r.removed, r.bytes, r.in_use};
}

}  // namespace nullspace

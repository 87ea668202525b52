#include "api/cache_mount_routes.hpp"

#include "api/http_message.hpp"

namespace nullspace::api {

void add_cache_mount_routes(router& r, engine& eng, worker_pool& workers) {
  r.add("POST", "/v1/cache-mounts:prune", [&eng, &workers](exchange_ptr ex) {
    off_loop<result<cache_mount_prune>>(
        workers, ex->server().bridge().poster(),
        [&eng, tenant = ex->tenant] { return eng.prune_cache_mounts(tenant); },
        [ex](result<cache_mount_prune>& pruned) {
          ex->respond(pruned ? json_response(200, pruned->json()) : error_response(pruned.error()));
        });
  });
}

}  // namespace nullspace::api

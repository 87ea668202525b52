// Cache mounts of Dockerfile builds (RUN --mount=type=cache): POST
// /v1/cache-mounts:prune deletes the caller's that no running step holds.
#pragma once

#include "api/api_server.hpp"
#include "api/off_loop.hpp"
#include "api/router.hpp"

namespace nullspace::api {

// Deleting dirs blocks, so the engine call runs on `workers`.
void add_cache_mount_routes(router& r, engine& eng, worker_pool& workers);

}  // namespace nullspace::api

// The warm-pool routes of API.md ("Warm pools and machines"): create, list,
// get (by id or name), change (PATCH), enable, disable, drain, delete, wait
// until ready, and the pool's log. Another tenant's pool is 404 on every one.
#pragma once

#include "api/api_server.hpp"
#include "api/router.hpp"
#include "api/subject_log_streams.hpp"

namespace nullspace::api {

struct pool_route_context {
  engine& eng;
  subject_log_streams& logs;
  const api_options& options;
};

void add_pool_routes(router& r, pool_route_context ctx);

}  // namespace nullspace::api

// The Builds section of API.md: create, get_status (long-poll), logs (SSE /
// NDJSON), cancel, retry, promote, :validate, :plan, build contexts and
// :inspect-context.
#pragma once

#include "api/api_server.hpp"
#include "api/router.hpp"

namespace nullspace::api {

struct route_context {
  engine& eng;
  log_streams& streams;
  const api_options& options;
};

void add_build_routes(router& r, route_context ctx);

}  // namespace nullspace::api

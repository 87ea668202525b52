// The Templates section of API.md: get/list templates, list_builds, tags,
// aliases, reserve, rename, visibility and delete. A `{ref}` is one path
// segment: `name`, `name:tag`, `name@tb_…`, with a namespace as `ns%2Fname`.
#pragma once

#include "api/build_routes.hpp"

namespace nullspace::api {

void add_template_routes(router& r, route_context ctx);

}  // namespace nullspace::api

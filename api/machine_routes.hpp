// The Machines section of API.md: create, list, get, stop, pause, resume,
// timeout and logs (machine_routes.cpp); commands (command_routes.cpp); files
// (file_routes.cpp); and the port proxy (port_proxy.cpp).
#pragma once

#include "api/api_server.hpp"
#include "api/off_loop.hpp"
#include "api/route_ids.hpp"
#include "api/router.hpp"
#include "api/subject_log_streams.hpp"

namespace nullspace::api {

struct machine_route_context {
  engine& eng;
  subject_log_streams& logs;  // machine logs (and warm pools')
  worker_pool& workers;       // for the engine calls that block
  const api_options& options;
};

void add_machine_routes(router& r, machine_route_context ctx);
void add_command_routes(router& r, machine_route_context ctx);
void add_file_routes(router& r, machine_route_context ctx);
void add_port_proxy_route(router& r, machine_route_context ctx);

// `{"machine": …}` with `status`.
http_response machine_body(int status, const machine_view& v);

}  // namespace nullspace::api

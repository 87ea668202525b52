// Commands in machines: run to the end, stream as SSE, or start in the
// background and read / kill later.
#include "api/json_body.hpp"
#include "api/loop_answer.hpp"
#include "api/machine_json.hpp"
#include "api/machine_routes.hpp"
#include "api/off_loop.hpp"
#include "api/query_params.hpp"

namespace nullspace::api {
namespace {

http_response result_body(const result<command_result>& r, bool with_progress) {
  return r ? json_response(200, command_result_json(r.value(), with_progress))
           : error_response(r.error());
}

// One streamed command on the loop thread. Output may be posted before the
// engine's "started" answer: whichever comes first opens the stream.
struct command_stream {
  exchange_ptr ex;
  size_t buffer_bytes = 0;
  bool begun = false;

  void open() {
    if (begun) return;
    begun = true;
    ex->begin_stream(200, "text/event-stream");
    ex->sse_heartbeat = true;
  }
  void event(std::string_view name, const std::string& data) {
    open();
    if (!ex->connected()) return;
    ex->write("event: " + std::string(name) + "\ndata: " + data + "\n\n");
    // A client that does not read loses the stream; the command runs on.
    if (ex->queued_bytes() > buffer_bytes) ex->abort();
  }
};

void stream_command(machine_route_context& c, exchange_ptr ex, const machine_id& id,
                    command_request req) {
  auto s = std::make_shared<command_stream>();
  s->ex = ex;
  s->buffer_bytes = c.options.limits.stream_buffer_bytes;
  auto poster = ex->server().bridge().poster();
  command_stream_callbacks cb;
  cb.on_stdout = [s, poster](std::string_view d) {
    poster.post([s, json = command_output_json(d)] { s->event("stdout", json); });
  };
  cb.on_stderr = [s, poster](std::string_view d) {
    poster.post([s, json = command_output_json(d)] { s->event("stderr", json); });
  };
  cb.on_exit = [s, poster](const command_result& r) {
    poster.post([s, json = command_exit_json(r)] {
      s->event("exit", json);
      s->ex->end_stream();
    });
  };
  c.eng.run_command_async(id, std::move(req), ex->tenant, std::move(cb),
                          [s, poster](result<std::string> started) {
                            poster.post([s, started = std::move(started)] {
                              if (!started && !s->begun)
                                return s->ex->respond(error_response(started.error()));
                              s->open();
                            });
                          });
}

// ---- POST /v1/machines/{id}/commands ----------------------------------------------
void run_command(machine_route_context& c, exchange_ptr ex) {
  auto& http = ex->request();
  if (!content_type_is(http.header("content-type"), "application/json"))
    return ex->respond(error_response(415, errc::unsupported_media_type,
                                      "commands are JSON (Content-Type: application/json)"));
  auto id = machine_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  auto req = parse_command_request(http.body);
  if (!req) return ex->respond(error_response(req.error()));
  bool background = req->background;
  if (!background && accepts(http, "text/event-stream"))
    return stream_command(c, ex, *id, std::move(req.value()));
  c.eng.run_command_async(*id, std::move(req.value()), ex->tenant,
                          answer_on_loop<command_result>(ex, [background](const command_result& r) {
                            if (!background)
                              return json_response(200, command_result_json(r, false));
                            return json_response(202, "{\"command_id\":\"" + r.command_id + "\"}");
                          }));
}

// ---- GET /v1/machines/{id}/commands/{cid}, POST …/kill ---------------------------------
void read_command(machine_route_context& c, exchange_ptr ex, bool kill) {
  auto& http = ex->request();
  auto both = query_u64(http, "offset", 0);
  if (!both) return ex->respond(error_response(both.error()));
  auto out = query_u64(http, "stdout_offset", both.value());
  if (!out) return ex->respond(error_response(out.error()));
  auto err = query_u64(http, "stderr_offset", both.value());
  if (!err) return ex->respond(error_response(err.error()));
  auto id = machine_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  auto* eng = &c.eng;
  off_loop<result<command_result>>(
      c.workers, ex->server().bridge().poster(),
      [eng, id = *id, cid = ex->params.at(1), tenant = ex->tenant, kill, o = out.value(),
       e = err.value()] {
        return kill ? eng->kill_command(id, cid, tenant) : eng->get_command(id, cid, o, e, tenant);
      },
      [ex](result<command_result>& r) { ex->respond(result_body(r, true)); });
}

void get_command(machine_route_context& c, exchange_ptr ex) {
  read_command(c, std::move(ex), false);
}
void kill_command(machine_route_context& c, exchange_ptr ex) {
  read_command(c, std::move(ex), true);
}

}  // namespace

void add_command_routes(router& r, machine_route_context ctx) {
  auto bind = route_binder(ctx);
  r.add("POST", "/v1/machines/{id}/commands", bind(run_command));
  r.add("GET", "/v1/machines/{id}/commands/{command_id}", bind(get_command));
  r.add("POST", "/v1/machines/{id}/commands/{command_id}/kill", bind(kill_command));
}

}  // namespace nullspace::api

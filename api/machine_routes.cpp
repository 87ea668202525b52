#include "api/machine_routes.hpp"

#include "api/json_body.hpp"
#include "api/log_subjects.hpp"
#include "api/loop_answer.hpp"
#include "api/machine_json.hpp"
#include "api/query_params.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace::api {

http_response machine_body(int status, const machine_view& v) {
  return json_response(status, "{\"machine\":" + v.json() + "}");
}

namespace {

constexpr size_t max_page = 500;

// An engine answer (on an engine thread) becomes a response on the loop thread.
engine::callback<machine_view> answer_on_loop(exchange_ptr ex, int ok_status) {
  return answer_on_loop<machine_view>(
      std::move(ex), [ok_status](const machine_view& v) { return machine_body(ok_status, v); });
}

// ---- POST /v1/machines ----------------------------------------------------------
void create_machine(machine_route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  if (!content_type_is(req.header("content-type"), "application/json"))
    return ex->respond(
        error_response(415, errc::unsupported_media_type,
                       "machine requests are JSON (Content-Type: application/json)"));
  auto r = parse_machine_request(req.body);
  if (!r) return ex->respond(error_response(r.error()));
  // Idempotency-Key (API.md, "Idempotency"): a retry gets the machine the first request made.
  r->idempotency_key = std::string(req.header("idempotency-key"));
  c.eng.create_machine_async(std::move(r.value()), ex->tenant, answer_on_loop(ex, 201));
}

// ---- GET /v1/machines -----------------------------------------------------------
void list_machines(machine_route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto limit = query_limit(req, max_page);
  if (!limit) return ex->respond(error_response(limit.error()));
  machine_list_options o;
  o.limit = limit.value();
  o.cursor = query_string(req, "cursor");
  o.template_ref = query_string(req, "template");
  o.label = query_string(req, "label");
  if (auto s = req.query_param("state"); s && !s->empty()) {
    o.state = parse_machine_state(*s);
    if (!o.state)
      return ex->respond(error_response(
          400, errc::invalid_argument,
          "state must be one of starting, ready, paused, stopping, stopped, failed", "state"));
  }
  auto page = c.eng.list_machines(o, ex->tenant);
  if (!page) return ex->respond(error_response(page.error()));
  std::string body = "{\"machines\":[";
  for (size_t i = 0; i < page->machines.size(); ++i) {
    if (i) body.push_back(',');
    body += page->machines[i].json();
  }
  body += "],\"next_cursor\":";
  if (page->next_cursor.empty())
    body += "null";
  else
    json::append_quoted(body, page->next_cursor);
  body.push_back('}');
  ex->respond(json_response(200, std::move(body)));
}

// ---- GET /v1/machines/{id} --------------------------------------------------------
void get_machine(machine_route_context& c, exchange_ptr ex) {
  auto id = machine_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  auto v = c.eng.get_machine(*id, ex->tenant);
  ex->respond(v ? machine_body(200, v.value()) : error_response(v.error()));
}

// ---- DELETE /v1/machines/{id}, POST …/pause, …/resume, …/timeout ------------------
void change(machine_route_context& c, exchange_ptr ex, engine::machine_change what) {
  auto id = machine_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  std::chrono::milliseconds timeout{0};
  if (what == engine::machine_change::timeout) {
    auto t = parse_timeout_request(ex->request().body);
    if (!t) return ex->respond(error_response(t.error()));
    timeout = std::chrono::milliseconds(t.value());
  }
  c.eng.change_machine_async(*id, what, timeout, ex->tenant, answer_on_loop(ex, 200));
}

void stop_machine(machine_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::machine_change::stop);
}
void pause_machine(machine_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::machine_change::pause);
}
void resume_machine(machine_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::machine_change::resume);
}
void set_timeout(machine_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::machine_change::timeout);
}

// ---- GET /v1/machines/{id}/logs ------------------------------------------------------
void get_logs(machine_route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto from = stream_start(req);
  if (!from) return ex->respond(error_response(from.error()));
  auto follow = query_bool(req, "follow");
  if (!follow) return ex->respond(error_response(follow.error()));
  auto id = machine_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  auto format = accepts(req, "text/event-stream") ? stream_format::sse : stream_format::ndjson;
  auto view = c.eng.get_machine(*id, ex->tenant);
  if (!view) return ex->respond(error_response(view.error()));
  c.logs.start(ex, machine_log_subject(c.eng, view.value(), ex->tenant), from.value(), format,
               follow.value());
}

}  // namespace

void add_machine_routes(router& r, machine_route_context ctx) {
  auto bind = route_binder(ctx);
  r.add("POST", "/v1/machines", bind(create_machine));
  r.add("GET", "/v1/machines", bind(list_machines));
  r.add("GET", "/v1/machines/{id}", bind(get_machine));
  r.add("DELETE", "/v1/machines/{id}", bind(stop_machine));
  r.add("POST", "/v1/machines/{id}/pause", bind(pause_machine));
  r.add("POST", "/v1/machines/{id}/resume", bind(resume_machine));
  r.add("POST", "/v1/machines/{id}/timeout", bind(set_timeout));
  r.add("GET", "/v1/machines/{id}/logs", bind(get_logs));
  add_command_routes(r, ctx);
  add_file_routes(r, ctx);
  add_port_proxy_route(r, ctx);
}

}  // namespace nullspace::api

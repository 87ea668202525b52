#include "api/build_routes.hpp"

#include "api/json_body.hpp"
#include "api/loop_answer.hpp"
#include "api/query_params.hpp"
#include "api/route_ids.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace::api {
namespace {

http_response build_body(int status, const build_view& v) {
  return json_response(status, "{\"build\":" + v.json() + "}");
}

// An engine answer (on an engine thread) becomes a response on the loop thread.
engine::callback<build_view> answer_on_loop(exchange_ptr ex, int ok_status) {
  return answer_on_loop<build_view>(
      std::move(ex), [ok_status](const build_view& v) { return build_body(ok_status, v); });
}

// ---- POST /v1/builds ------------------------------------------------------
void create_build(route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  if (!content_type_is(req.header("content-type"), "application/json"))
    return ex->respond(error_response(415, errc::unsupported_media_type,
                                      "build requests are JSON (Content-Type: application/json)"));
  bool stream = accepts(req, "text/event-stream");
  auto poster = ex->server().bridge().poster();
  auto* streams = &c.streams;
  // Idempotency-Key (API.md, "Idempotency"): a retry gets the build the first request made.
  auto key = req.header("idempotency-key");
  c.eng.submit_async(req.body, ex->tenant, key,
                     [ex, poster, stream, streams](result<build_view> r) {
                       poster.post([ex, stream, streams, r = std::move(r)] {
                         if (!r) return ex->respond(error_response(r.error()));
                         if (!stream) return ex->respond(build_body(202, r.value()));
                         // Template.build: the response is the build's live log.
                         streams->start(ex, r.value(), 0, stream_format::sse, true,
                                        "event: build\ndata: " + r.value().json() + "\n\n");
                       });
                     });
}

// ---- GET /v1/builds/{id} ----------------------------------------------------
void get_build(route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto offset = query_u64(req, "offset", 0);
  if (!offset) return ex->respond(error_response(offset.error()));
  auto limit = query_u64(req, "limit", 1000);
  if (!limit) return ex->respond(error_response(limit.error()));
  auto wait_ms = query_u64(req, "wait_ms", 0);
  if (!wait_ms) return ex->respond(error_response(wait_ms.error()));
  size_t lim = std::min<uint64_t>(limit.value(), c.options.max_status_limit);
  auto id = build_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  auto st = c.eng.get_status_json(*id, log_offset(offset.value()), lim, ex->tenant);
  if (!st) return ex->respond(error_response(st.error()));
  bool wait = wait_ms.value() > 0 && st->entries == 0 && !is_terminal(st->status) && lim > 0;
  if (!wait) return ex->respond(json_response(200, *st->body));
  auto* eng = &c.eng;
  uint64_t from = offset.value();
  c.streams.wait(
      ex, *id, ex->tenant, from, std::min(wait_ms.value(), c.options.max_wait_ms),
      [ex, eng, id = *id, from, lim, tenant = ex->tenant] {
        auto again = eng->get_status_json(id, log_offset(from), lim, tenant);
        ex->respond(again ? json_response(200, *again->body) : error_response(again.error()));
      });
}

// ---- GET /v1/builds/{id}/logs -----------------------------------------------
void get_logs(route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto start = stream_start(req);
  if (!start) return ex->respond(error_response(start.error()));
  auto follow = query_bool(req, "follow");
  if (!follow) return ex->respond(error_response(follow.error()));
  uint64_t from = start.value();
  auto id = build_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  auto st = c.eng.get_status(*id, log_offset(0), 0, ex->tenant);
  if (!st) return ex->respond(error_response(st.error()));
  auto format = accepts(req, "text/event-stream") ? stream_format::sse : stream_format::ndjson;
  c.streams.start(ex, st->build, from, format, follow.value());
}

// ---- POST /v1/builds/{id}/cancel ----------------------------------------------
void cancel_build(route_context& c, exchange_ptr ex) {
  simdjson::dom::parser parser;
  auto body = parse_object_body(parser, ex->request().body, true);
  if (!body) return ex->respond(error_response(body.error()));
  if (auto k = only_known(body.value(), {"reason"}, "a cancel request"); !k)
    return ex->respond(error_response(k.error()));
  auto reason = optional_string(body.value(), "reason");
  if (!reason) return ex->respond(error_response(reason.error()));
  std::string why = reason.value().value_or("");
  if (why.size() > 1024)
    return ex->respond(
        error_response(400, errc::invalid_argument, "reason must be at most 1024 bytes", "reason"));
  auto id = build_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  c.eng.cancel_async(*id, why, ex->tenant, answer_on_loop(ex, 200));
}

// ---- POST /v1/builds/{id}/retry -----------------------------------------------
void retry_build(route_context& c, exchange_ptr ex) {
  simdjson::dom::parser parser;
  auto body = parse_object_body(parser, ex->request().body, true);
  if (!body) return ex->respond(error_response(body.error()));
  if (auto k = only_known(body.value(), {"tags", "build_secrets"}, "a retry request"); !k)
    return ex->respond(error_response(k.error()));
  retry_options opts;
  auto tags = optional_strings(body.value(), "tags");
  if (!tags) return ex->respond(error_response(tags.error()));
  opts.tags = std::move(tags.value());
  simdjson::dom::element secrets;
  if (body.value()["build_secrets"].get(secrets) == simdjson::SUCCESS && !secrets.is_null()) {
    simdjson::dom::array arr;
    if (secrets.get(arr) != simdjson::SUCCESS)
      return ex->respond(error_response(400, errc::invalid_argument,
                                        "build_secrets must be an array", "build_secrets"));
    size_t i = 0;
    for (auto item : arr) {
      auto field = "build_secrets[" + std::to_string(i++) + "]";
      simdjson::dom::object o;
      if (item.get(o) != simdjson::SUCCESS)
        return ex->respond(
            error_response(400, errc::invalid_argument, field + " must be an object", field));
      if (auto k = only_known(o, {"id", "value", "source"}, field); !k)
        return ex->respond(error_response(k.error()));
      secret_value s;
      std::string_view v;
      if (o["id"].get(v) != simdjson::SUCCESS)
        return ex->respond(error_response(400, errc::invalid_argument,
                                          field + ".id must be a string", field + ".id"));
      s.id = std::string(v);
      // The value is never echoed, whatever is wrong with it.
      if (o["value"].get(v) != simdjson::SUCCESS)
        return ex->respond(error_response(400, errc::invalid_argument,
                                          field + ".value must be a string", field + ".value"));
      s.value = std::string(v);
      if (o["source"].get(v) == simdjson::SUCCESS) s.source = std::string(v);
      opts.secrets.push_back(std::move(s));
    }
  }
  auto id = build_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  c.eng.retry_async(*id, std::move(opts), ex->tenant, answer_on_loop(ex, 202));
}

// ---- POST /v1/builds/{id}/promote ---------------------------------------------
void promote_build(route_context& c, exchange_ptr ex) {
  simdjson::dom::parser parser;
  auto body = parse_object_body(parser, ex->request().body, false);
  if (!body) return ex->respond(error_response(body.error()));
  if (auto k = only_known(body.value(), {"tag"}, "a promote request"); !k)
    return ex->respond(error_response(k.error()));
  auto tag = optional_string(body.value(), "tag");
  if (!tag) return ex->respond(error_response(tag.error()));
  if (!tag.value() || !valid_name(*tag.value()))
    return ex->respond(error_response(400, errc::invalid_argument,
                                      "tag must match [a-z0-9][a-z0-9._-]{0,62}", "tag"));
  auto id = build_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  c.eng.promote_async(*id, *tag.value(), ex->tenant, answer_on_loop(ex, 200));
}

// ---- POST /v1/builds:validate / :plan -----------------------------------------
void validate_build(route_context& c, exchange_ptr ex) {
  auto v = c.eng.validate(ex->request().body);
  if (v.malformed_json) {
    auto e = v.errors.front();
    e.details = v.errors;
    return ex->respond(error_response(e));
  }
  json::writer w;
  w.begin_object().field("valid", v.valid).key("errors").begin_array();
  for (auto& e : v.errors) {
    w.begin_object().field("code", to_string(e.code)).field("message", e.message);
    if (!e.field.empty()) w.field("field", e.field);
    w.end_object();
  }
  w.end_array().key("warnings").begin_array();
  for (auto& m : v.warnings) w.value(m);
  w.end_array().end_object();
  ex->respond(json_response(200, std::move(w).str()));
}

void plan_build(route_context& c, exchange_ptr ex) {
  auto plan = c.eng.plan_json(ex->request().body, ex->tenant);
  if (!plan) return ex->respond(error_response(plan.error()));
  ex->respond(json_response(200, "{\"plan\":" + plan.value() + "}"));
}

// ---- POST /v1/build-contexts --------------------------------------------------
struct upload_work {
  uv_work_t req{};
  std::string body;
  std::optional<result<context_info>> out;
  exchange_ptr ex;
  engine* eng = nullptr;
};

void upload_context(route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  if (!content_type_is(req.header("content-type"), "application/x-tar") ||
      req.header("content-type").empty())
    return ex->respond(error_response(415, errc::unsupported_media_type,
                                      "a build context is a tar archive: send it with "
                                      "Content-Type: application/x-tar"));
  // Hashing and fsync of up to max_upload_bytes: on libuv's thread pool, not
  // on the loop.
  auto* w = new upload_work;
  w->req.data = w;
  w->body = std::move(req.body);
  w->ex = ex;
  w->eng = &c.eng;
  uv_queue_work(
      ex->server().loop(), &w->req,
      [](uv_work_t* r) {
        auto* w = static_cast<upload_work*>(r->data);
        w->out.emplace(w->eng->upload_context(w->body));
      },
      [](uv_work_t* r, int) {
        std::unique_ptr<upload_work> w(static_cast<upload_work*>(r->data));
        auto& m = *w->out;
        if (!m) return w->ex->respond(error_response(m.error()));
        w->ex->respond(json_response(201, "{\"context\":" + m->json() + "}"));
      });
}

// ---- POST /v1/builds:inspect-context ------------------------------------------
void inspect_context(route_context& c, exchange_ptr ex) {
  auto ctype = ex->request().header("content-type");
  bool is_tar = !ctype.empty() && content_type_is(ctype, "application/x-tar");
  if (!is_tar && !content_type_is(ctype, "application/json"))
    return ex->respond(error_response(
        415, errc::unsupported_media_type,
        "send a build request (application/json) or a tar archive (application/x-tar)"));
  auto out = c.eng.inspect_context_json(ex->request().body, is_tar);
  ex->respond(out ? json_response(200, out.value()) : error_response(out.error()));
}

}  // namespace

void add_build_routes(router& r, route_context ctx) {
  auto bind = route_binder(ctx);
  route_options upload{.max_body_bytes = ctx.options.max_upload_bytes, .raw_body = true};
  r.add("POST", "/v1/builds", bind(create_build));
  r.add("GET", "/v1/builds/{id}", bind(get_build));
  r.add("GET", "/v1/builds/{id}/logs", bind(get_logs));
  r.add("POST", "/v1/builds/{id}/cancel", bind(cancel_build));
  r.add("POST", "/v1/builds/{id}/retry", bind(retry_build));
  r.add("POST", "/v1/builds/{id}/promote", bind(promote_build));
  r.add("POST", "/v1/builds:validate", bind(validate_build));
  r.add("POST", "/v1/builds:plan", bind(plan_build));
  r.add("POST", "/v1/build-contexts", bind(upload_context), upload);
  r.add("POST", "/v1/builds:inspect-context", bind(inspect_context), upload);
}

}  // namespace nullspace::api

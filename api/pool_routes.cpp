#include "api/pool_routes.hpp"

#include "api/json_body.hpp"
#include "api/log_subjects.hpp"
#include "api/loop_answer.hpp"
#include "api/pool_json.hpp"
#include "api/query_params.hpp"

namespace nullspace::api {
namespace {

constexpr uint64_t default_ready_wait_ms = 60'000;
constexpr uint64_t max_ready_wait_ms = 600'000;
constexpr size_t max_log_page = 1000;

engine::callback<pool_view> answer(exchange_ptr ex, int ok_status) {
  return answer_on_loop<pool_view>(std::move(ex), [ok_status](const pool_view& p) {
    return json_response(ok_status, pool_body_json(p));
  });
}

// `{id}`: a pool id (wp_…) or a pool name; the engine tells them apart.
const std::string& pool_param(const exchange& ex) {
  return ex.params.at(0);
}

http_response not_json() {
  return error_response(415, errc::unsupported_media_type,
                        "warm pool requests are JSON (Content-Type: application/json)");
}

// ---- POST /v1/warm-pools --------------------------------------------------------
void create_pool(pool_route_context& c, exchange_ptr ex) {
  if (!content_type_is(ex->request().header("content-type"), "application/json"))
    return ex->respond(not_json());
  auto spec = parse_pool_spec(ex->request().body);
  if (!spec) return ex->respond(error_response(spec.error()));
  c.eng.create_pool_async(std::move(spec.value()), ex->tenant, answer(ex, 201));
}

// ---- GET /v1/warm-pools ---------------------------------------------------------
void list_pools(pool_route_context& c, exchange_ptr ex) {
  auto pools = c.eng.list_pools(ex->tenant);
  ex->respond(pools ? json_response(200, pool_list_json(pools.value()))
                    : error_response(pools.error()));
}

// ---- GET, DELETE /v1/warm-pools/{id}; POST …/enable, …/disable, …/drain -------------
void change(pool_route_context& c, exchange_ptr ex, engine::pool_change what) {
  c.eng.change_pool_async(pool_param(*ex), what, ex->tenant, answer(ex, 200));
}

void get_pool(pool_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::pool_change::get);
}
void enable_pool(pool_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::pool_change::enable);
}
void disable_pool(pool_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::pool_change::disable);
}
void drain_pool(pool_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::pool_change::drain);
}
void delete_pool(pool_route_context& c, exchange_ptr ex) {
  change(c, std::move(ex), engine::pool_change::remove);
}

// ---- PATCH /v1/warm-pools/{id} -----------------------------------------------------
void update_pool(pool_route_context& c, exchange_ptr ex) {
  if (!content_type_is(ex->request().header("content-type"), "application/json"))
    return ex->respond(not_json());
  auto update = parse_pool_update(ex->request().body);
  if (!update) return ex->respond(error_response(update.error()));
  c.eng.update_pool_async(pool_param(*ex), std::move(update.value()), ex->tenant, answer(ex, 200));
}

// ---- GET /v1/warm-pools/{id}/ready?min_ready=N&timeout_ms=T --------------------------
// 200 once N machines are ready; 408 when T passes first and 409 at once when
// the pool is degraded, both with the pool's counts. The wait holds no thread:
// the pool's actor answers when it can.
void wait_ready(pool_route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto timeout = query_u64(req, "timeout_ms", default_ready_wait_ms);
  if (!timeout) return ex->respond(error_response(timeout.error()));
  if (*timeout > max_ready_wait_ms)
    return ex->respond(error_response(
        400, errc::invalid_argument,
        "timeout_ms must be at most " + std::to_string(max_ready_wait_ms) + " (10 minutes)",
        "timeout_ms"));
  auto asked = query_u64(req, "min_ready", UINT64_MAX);
  if (!asked) return ex->respond(error_response(asked.error()));
  // The pool first: its min_ready is the default, and a target above its
  // max_ready can never be reached.
  auto* eng = &c.eng;
  auto wait = [eng, asked = *asked, timeout = *timeout](exchange_ptr ex, result<pool_view> p) {
    if (!p) return ex->respond(error_response(p.error()));
    auto& spec = p->record.spec;
    auto min_ready = asked == UINT64_MAX ? uint64_t{spec.min_ready} : asked;
    if (min_ready > spec.max_ready)
      return ex->respond(error_response(
          400, errc::invalid_argument,
          "min_ready " + std::to_string(min_ready) + " can never be reached: warm pool " +
              spec.name + " keeps at most " + std::to_string(spec.max_ready) + " ready",
          "min_ready"));
    auto respond = answer(ex, 200);
    auto pool = p->record.id;
    auto tenant = ex->tenant;
    eng->wait_until_pool_ready_async(
        pool, static_cast<uint32_t>(min_ready), std::chrono::milliseconds(timeout), tenant,
        [eng, pool, tenant, respond](result<pool_view> r) {
          bool wants_counts =
              !r && r.error().counts.empty() &&
              (r.error().code == errc::request_timeout || r.error().code == errc::conflict);
          if (!wants_counts) return respond(std::move(r));
          // The counts as of the answer, read once more.
          eng->change_pool_async(pool, engine::pool_change::get, tenant,
                                 [err = r.error(), respond](result<pool_view> now) mutable {
                                   if (now) err.counts = counts_of(now->record.counts);
                                   respond(std::move(err));
                                 });
        });
  };
  c.eng.change_pool_async(pool_param(*ex), engine::pool_change::get, ex->tenant,
                          then_on_loop<pool_view>(ex, std::move(wait)));
}

// ---- GET /v1/warm-pools/{id}/logs --------------------------------------------------
// SSE or NDJSON like build and machine logs; with `Accept: application/json`
// one page {"logs", "next_offset"} from `offset` (at most `limit`).
void get_logs(pool_route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto from = stream_start(req);
  if (!from) return ex->respond(error_response(from.error()));
  auto follow = query_bool(req, "follow");
  if (!follow) return ex->respond(error_response(follow.error()));
  auto limit = query_limit(req, max_log_page);
  if (!limit) return ex->respond(error_response(limit.error()));
  bool sse = accepts(req, "text/event-stream");
  bool page = !sse && !accepts(req, "application/x-ndjson") && accepts(req, "application/json");
  if (page && *follow)
    return ex->respond(error_response(
        400, errc::invalid_argument,
        "follow streams: ask for text/event-stream or application/x-ndjson", "follow"));
  auto* cp = &c;
  auto start = [cp, from = *from, follow = *follow, limit = *limit, sse, page](
                   exchange_ptr ex, result<pool_view> p) {
    if (!p) return ex->respond(error_response(p.error()));
    auto subject = pool_log_subject(cp->eng, p.value(), ex->tenant);
    if (page) {
      auto es = subject.read(from, limit);
      return ex->respond(es ? json_response(200, entries_page_json(es.value(), from))
                            : error_response(es.error()));
    }
    cp->logs.start(ex, std::move(subject), from, sse ? stream_format::sse : stream_format::ndjson,
                   follow);
  };
  c.eng.change_pool_async(pool_param(*ex), engine::pool_change::get, ex->tenant,
                          then_on_loop<pool_view>(ex, std::move(start)));
}

}  // namespace

void add_pool_routes(router& r, pool_route_context ctx) {
  auto bind = route_binder(ctx);
  r.add("POST", "/v1/warm-pools", bind(create_pool));
  r.add("GET", "/v1/warm-pools", bind(list_pools));
  r.add("GET", "/v1/warm-pools/{id}", bind(get_pool));
  r.add("PATCH", "/v1/warm-pools/{id}", bind(update_pool));
  r.add("DELETE", "/v1/warm-pools/{id}", bind(delete_pool));
  r.add("POST", "/v1/warm-pools/{id}/enable", bind(enable_pool));
  r.add("POST", "/v1/warm-pools/{id}/disable", bind(disable_pool));
  r.add("POST", "/v1/warm-pools/{id}/drain", bind(drain_pool));
  r.add("GET", "/v1/warm-pools/{id}/ready", bind(wait_ready));
  r.add("GET", "/v1/warm-pools/{id}/logs", bind(get_logs));
}

}  // namespace nullspace::api

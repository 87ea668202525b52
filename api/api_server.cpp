#include "api/api_server.hpp"

#include <cmath>

#include "api/build_routes.hpp"
#include "api/cache_mount_routes.hpp"
#include "api/json_body.hpp"
#include "api/loop_answer.hpp"
#include "api/machine_routes.hpp"
#include "api/metrics.hpp"
#include "api/pool_routes.hpp"
#include "api/router.hpp"
#include "api/template_routes.hpp"
#include "storage/common/logging.hpp"

namespace nullspace::api {

struct api_server::impl {
  engine& eng;
  api_options opts;
  router routes;
  http_metrics metrics;
  std::unique_ptr<http_server> server;
  std::unique_ptr<log_streams> streams;
  std::unique_ptr<subject_log_streams> subject_logs;  // machines' and warm pools'
  std::unique_ptr<worker_pool> workers;
  uint16_t port = 0;

  impl(engine& e, api_options o) : eng(e), opts(std::move(o)) {}

  size_t body_limit(const http_request& req) const {
    auto m = routes.match(req.method, req.raw_path);
    if (m.found && m.found->options.max_body_bytes) return m.found->options.max_body_bytes;
    return opts.limits.max_body_bytes;
  }

  void handle(exchange_ptr ex) {
    auto& req = ex->request();
    auto m = routes.match(req.method, req.raw_path);
    if (m.bad_encoding)
      return ex->respond(
          error_response(400, errc::invalid_argument, "the path has an invalid percent-encoding"));
    if (!m.found) {
      if (!m.allowed_methods.empty()) {
        std::string allow;
        for (auto& a : m.allowed_methods) allow += (allow.empty() ? "" : ", ") + a;
        auto r = error_response(405, errc::invalid_argument,
                                req.method + " is not allowed here; use " + allow);
        r.headers.emplace_back("Allow", allow);
        return ex->respond(std::move(r));
      }
      return ex->respond(
          error_response(404, errc::not_found, "no route for " + req.method + " " + req.path));
    }
    ex->route = m.found->pattern;
    ex->params = std::move(m.params);
    auto& options = m.found->options;
    bool key_given = !opts.keys.empty() && !req.header("authorization").empty();
    if (!options.public_route || (options.key_optional && key_given)) {
      auto tenant = authenticate(opts.keys, req.header("authorization"));
      if (!tenant) {
        auto r = error_response(tenant.error());
        r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"nullspace\"");
        return ex->respond(std::move(r));
      }
      ex->tenant = std::move(tenant.value());
      ex->authenticated = true;
    }
    if (!options.raw_body && !req.body.empty() &&
        !content_type_is(req.header("content-type"), "application/json"))
      return ex->respond(
          error_response(415, errc::unsupported_media_type,
                         req.method + " " + m.found->pattern +
                             " takes a JSON body: send it with Content-Type: application/json"));
    m.found->handler(std::move(ex));
  }

  void responded(const exchange& ex, int status) {
    double secs = static_cast<double>(uv_hrtime() - ex.start_ns()) / 1e9;
    metrics.observe(ex.route, ex.request().method, status, secs);
    // Structured access log; never headers (API keys) or bodies (secrets).
    if (!logging::http.enabled(spdlog::level::debug)) return;
    auto& method = ex.request().method;
    double ms = std::round(secs * 1e6) / 1e3;
    std::string_view tenant = ex.tenant.empty() ? std::string_view("-") : ex.tenant.str();
    // A request about one build names it (a well-formed id only).
    bool about_build = ex.route.starts_with("/v1/builds/{id}") && !ex.params.empty() &&
                       parse_build_id(ex.params[0]).ok();
    if (about_build)
      logging::http.debug("request", {{"method", method},
                                      {"route", ex.route},
                                      {"status", status},
                                      {"ms", ms},
                                      {"build", ex.params[0]},
                                      {"tenant", tenant}});
    else
      logging::http.debug("request", {{"method", method},
                                      {"route", ex.route},
                                      {"status", status},
                                      {"ms", ms},
                                      {"tenant", tenant}});
  }

  void add_operational_routes() {
    route_options open{.public_route = true};
    routes.add(
        "GET", "/healthz",
        [](exchange_ptr ex) { ex->respond(json_response(200, "{\"status\":\"ok\"}")); }, open);
    routes.add(
        "GET", "/metrics",
        [this](exchange_ptr ex) {
          eng.current_stats_async(then_on_loop<engine::stats>(
              ex, [this](exchange_ptr ex, result<engine::stats> answer) {
                render_metrics(std::move(ex), std::move(answer.value()));
              }));
        },
        route_options{.public_route = true, .key_optional = true});
  }

  // Loop thread, with the engine's answer: the scrape's text.
  void render_metrics(exchange_ptr ex, engine::stats stats) {
    http_response r;
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4");
    // Pool gauges are labelled with pool names, which another tenant must
    // not learn (API.md: never reveal existence). With keys configured, a
    // scrape shows the pools of the tenant whose key it sends, and none
    // without a key; without keys everyone is tenant "default".
    if (!opts.keys.empty())
      std::erase_if(stats.pools, [&](const engine::stats::pool_gauge& p) {
        return !ex->authenticated || p.tenant != ex->tenant.str();
      });
    r.body =
        metrics.render(stats, streams->gauges(), {server->connections(), server->queued_bytes()});
    ex->respond(std::move(r));
  }
};

result<std::unique_ptr<api_server>> api_server::start(engine& eng, api_options options) {
  if (options.keys.empty() && !is_loopback_host(options.host))
    return make_error(errc::invalid_argument,
                      "refusing to listen on " + options.host +
                          " without API keys: configure keys (--api-keys FILE) or listen on "
                          "a loopback address such as 127.0.0.1");
  options.streams.buffer_bytes = options.limits.stream_buffer_bytes;
  auto p = std::make_unique<impl>(eng, std::move(options));
  auto* raw = p.get();
  server_handlers h;
  h.body_limit = [raw](const http_request& r) { return raw->body_limit(r); };
  h.handle = [raw](exchange_ptr ex) { raw->handle(std::move(ex)); };
  h.responded = [raw](const exchange& ex, int status) { raw->responded(ex, status); };
  h.rejected = [raw](int status, const char* why) { raw->metrics.rejected(status, why); };
  p->server = std::make_unique<http_server>(p->opts.limits, std::move(h));
  p->streams = std::make_unique<log_streams>(eng, *p->server, p->metrics, p->opts.streams);
  p->add_operational_routes();
  add_build_routes(p->routes, route_context{eng, *p->streams, p->opts});
  add_template_routes(p->routes, route_context{eng, *p->streams, p->opts});
  p->subject_logs = std::make_unique<subject_log_streams>(p->opts.limits.stream_buffer_bytes);
  p->workers = std::make_unique<worker_pool>(p->opts.blocking_workers);
  add_machine_routes(p->routes, machine_route_context{eng, *p->subject_logs, *p->workers, p->opts});
  add_pool_routes(p->routes, pool_route_context{eng, *p->subject_logs, p->opts});
  add_cache_mount_routes(p->routes, eng, *p->workers);
  auto port = p->server->start(p->opts.host, p->opts.port,
                               [raw](http_server&) { raw->streams->start_timers(); });
  if (!port) return port.error();
  p->port = port.value();
  return std::unique_ptr<api_server>(new api_server(std::move(p)));
}

api_server::api_server(std::unique_ptr<impl> p) : impl_(std::move(p)) {}

api_server::~api_server() {
  stop();
}

uint16_t api_server::port() const {
  return impl_->port;
}

void api_server::stop() {
  if (!impl_->server) return;
  auto* raw = impl_.get();
  impl_->server->stop([raw] {
    raw->streams->shutdown();
    raw->subject_logs->shutdown();
  });
  impl_->server.reset();
  impl_->workers->stop();  // joined before the engine may close (off_loop.hpp)
  impl_->streams.reset();
  impl_->subject_logs.reset();
}

const router& api_server::routes() const {
  return impl_->routes;
}

}  // namespace nullspace::api

#include "api/metrics.hpp"

#include <cstdio>

namespace nullspace::api {
namespace {

// Label values are our own route patterns and method names, but escape anyway.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string num(double d) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.9g", d);
  return buf;
}

// Machines by state, commands run, and the create-to-ready histogram.
void render_machines(std::string& o, const engine::stats& e) {
  o += "# HELP nullspace_machines Machines by state (alive, and ended since start).\n"
       "# TYPE nullspace_machines gauge\n";
  for (size_t i = 0; i < e.machines_by_state.size(); ++i)
    o += std::string("nullspace_machines{state=\"") + to_string(static_cast<machine_state>(i)) +
         "\"} " + std::to_string(e.machines_by_state[i]) + "\n";
  o += "# HELP nullspace_machine_commands_total Commands run in machines since start.\n"
       "# TYPE nullspace_machine_commands_total counter\n"
       "nullspace_machine_commands_total " +
       std::to_string(e.commands_run) + "\n";
  o += "# HELP nullspace_machine_create_seconds Machine create-to-ready time.\n"
       "# TYPE nullspace_machine_create_seconds histogram\n";
  for (size_t i = 0; i < e.create_ms_bounds.size() && i < e.create_ms_buckets.size(); ++i)
    o += "nullspace_machine_create_seconds_bucket{le=\"" + num(e.create_ms_bounds[i] / 1000) +
         "\"} " + std::to_string(e.create_ms_buckets[i]) + "\n";
  o += "nullspace_machine_create_seconds_bucket{le=\"+Inf\"} " + std::to_string(e.creates) + "\n";
  o += "nullspace_machine_create_seconds_sum " + num(e.create_ms_sum / 1000) + "\n";
  o += "nullspace_machine_create_seconds_count " + std::to_string(e.creates) + "\n";
}

// Warm pools: each pool's machines by state, checkouts by result, and the
// checkout latency histogram.
void render_pools(std::string& o, const engine::stats& e) {
  o += "# HELP nullspace_warm_pool_machines A warm pool's machines by state.\n"
       "# TYPE nullspace_warm_pool_machines gauge\n";
  for (auto& p : e.pools) {
    auto labels = "nullspace_warm_pool_machines{pool=\"" + label(p.name) + "\",tenant=\"" +
                  label(p.tenant) + "\",state=\"";
    for (auto [state, n] :
         {std::pair{"ready", p.counts.ready}, std::pair{"starting", p.counts.starting},
          std::pair{"in_use", p.counts.in_use}, std::pair{"failed", p.counts.failed}})
      o += labels + state + "\"} " + std::to_string(n) + "\n";
  }
  o += "# HELP nullspace_warm_pool_checkouts_total Creates that named a warm pool, by result.\n"
       "# TYPE nullspace_warm_pool_checkouts_total counter\n";
  for (auto [result, n] :
       {std::pair{"hit", e.checkouts_hit}, std::pair{"fallback", e.checkouts_fallback},
        std::pair{"bypass", e.checkouts_bypass}, std::pair{"empty", e.checkouts_empty}})
    o += std::string("nullspace_warm_pool_checkouts_total{result=\"") + result + "\"} " +
         std::to_string(n) + "\n";
  o += "# HELP nullspace_warm_pool_checkout_seconds Time to check a ready machine out of a pool.\n"
       "# TYPE nullspace_warm_pool_checkout_seconds histogram\n";
  for (size_t i = 0; i < e.checkout_ms_bounds.size() && i < e.checkout_ms_buckets.size(); ++i)
    o += "nullspace_warm_pool_checkout_seconds_bucket{le=\"" + num(e.checkout_ms_bounds[i] / 1000) +
         "\"} " + std::to_string(e.checkout_ms_buckets[i]) + "\n";
  o += "nullspace_warm_pool_checkout_seconds_bucket{le=\"+Inf\"} " + std::to_string(e.checkouts) +
       "\n";
  o += "nullspace_warm_pool_checkout_seconds_sum " + num(e.checkout_ms_sum / 1000) + "\n";
  o += "nullspace_warm_pool_checkout_seconds_count " + std::to_string(e.checkouts) + "\n";
}

}  // namespace

void http_metrics::observe(const std::string& route, const std::string& method, int status,
                           double seconds) {
  ++requests_[{route, method, status}];
  auto& h = latency_[route];
  ++h.count;
  h.sum += seconds;
  for (size_t i = 0; i < buckets.size(); ++i)
    if (seconds <= buckets[i]) ++h.counts[i];
}

void http_metrics::rejected(int status, const char* why) {
  ++rejected_[{status, why}];
}

std::string http_metrics::render(const engine::stats& e, const stream_gauges& s,
                                 const server_gauges& server) const {
  std::string o;
  o.reserve(4096);
  static const char* statuses[] = {"waiting", "queued", "building", "ready", "error", "cancelled"};
  o += "# HELP nullspace_builds Builds by status.\n# TYPE nullspace_builds gauge\n";
  for (size_t i = 0; i < 6; ++i)
    o += std::string("nullspace_builds{status=\"") + statuses[i] + "\"} " +
         std::to_string(e.builds_by_status[i]) + "\n";
  auto single = [&o](const char* name, const char* type, const char* help, uint64_t v) {
    o += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
         name + " " + std::to_string(v) + "\n";
  };
  single("nullspace_queue_depth", "gauge", "Builds queued for an executor slot.", e.queued);
  single("nullspace_builds_running", "gauge", "Builds holding an executor slot.", e.running);
  single("nullspace_log_entries_appended_total", "counter", "Log entries made durable since start.",
         e.entries_appended);
  single("nullspace_log_batches_written_total", "counter", "Group commits since start.",
         e.batches_written);
  single("nullspace_status_cache_hits_total", "counter",
         "Build status reads answered from the encoded-status cache.", e.status_cache_hits);
  single("nullspace_status_cache_misses_total", "counter",
         "Build status reads that went to the store.", e.status_cache_misses);
  single("nullspace_log_hub_followers", "gauge", "Engine subscriptions at the log hub.",
         e.followers);
  single("nullspace_sse_followers", "gauge", "HTTP clients following build logs (SSE or NDJSON).",
         s.clients);
  single("nullspace_followed_builds", "gauge",
         "Builds with HTTP followers (one subscription each).", s.feeds);
  single("nullspace_long_polls", "gauge", "Status long-polls waiting.", s.waiters);
  single("nullspace_followed_retained_bytes", "gauge",
         "Recent log chunks kept in memory for followers that join late or lag.", s.retained_bytes);
  single("nullspace_stream_events_sent_total", "counter", "Log events written to HTTP followers.",
         events_sent_);
  single("nullspace_slow_followers_disconnected_total", "counter",
         "Followers disconnected because their buffer stayed full.", slow_disconnects_);
  single("nullspace_http_connections", "gauge", "Open HTTP connections.", server.connections);
  single("nullspace_http_queued_bytes", "gauge",
         "Answer bytes written but not yet taken by the kernel, over all connections.",
         server.queued_bytes);
  render_machines(o, e);
  render_pools(o, e);
  o += "# HELP nullspace_http_requests_total HTTP requests by route, method and status code.\n"
       "# TYPE nullspace_http_requests_total counter\n";
  for (auto& [k, n] : requests_)
    o += "nullspace_http_requests_total{route=\"" + label(std::get<0>(k)) + "\",method=\"" +
         label(std::get<1>(k)) + "\",code=\"" + std::to_string(std::get<2>(k)) + "\"} " +
         std::to_string(n) + "\n";
  o += "# HELP nullspace_http_rejected_total Requests refused before routing (limits, "
       "timeouts, malformed).\n# TYPE nullspace_http_rejected_total counter\n";
  for (auto& [k, n] : rejected_)
    o += "nullspace_http_rejected_total{code=\"" + std::to_string(k.first) + "\",reason=\"" +
         label(k.second) + "\"} " + std::to_string(n) + "\n";
  o += "# HELP nullspace_http_request_duration_seconds Time to the response head, by route.\n"
       "# TYPE nullspace_http_request_duration_seconds histogram\n";
  for (auto& [route, h] : latency_) {
    auto r = label(route);
    for (size_t i = 0; i < buckets.size(); ++i)
      o += "nullspace_http_request_duration_seconds_bucket{route=\"" + r + "\",le=\"" +
           num(buckets[i]) + "\"} " + std::to_string(h.counts[i]) + "\n";
    o += "nullspace_http_request_duration_seconds_bucket{route=\"" + r + "\",le=\"+Inf\"} " +
         std::to_string(h.count) + "\n";
    o += "nullspace_http_request_duration_seconds_sum{route=\"" + r + "\"} " + num(h.sum) + "\n";
    o += "nullspace_http_request_duration_seconds_count{route=\"" + r + "\"} " +
         std::to_string(h.count) + "\n";
  }
  return o;
}

}  // namespace nullspace::api

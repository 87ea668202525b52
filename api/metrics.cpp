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
                                 size_t connections) const {
  std::string o;
  o.reserve(4096);
  static const char* statuses[] = {"waiting", "queued", "building", "ready", "error", "cancelled"};
  o += "# HELP nullspace_builds Builds by status.\n# TYPE nullspace_builds gauge\n";
  for (size_t i = 0; i < 6; ++i)
    o += std::string("nullspace_builds{status=\"") + statuses[i] + "\"} " +
         std::to_string(e.builds_by_status[i]) + "\n";
  o += "# HELP nullspace_queue_depth Builds queued for an executor slot.\n"
       "# TYPE nullspace_queue_depth gauge\nnullspace_queue_depth " +
       std::to_string(e.queued) + "\n";
  o += "# HELP nullspace_builds_running Builds holding an executor slot.\n"
       "# TYPE nullspace_builds_running gauge\nnullspace_builds_running " +
       std::to_string(e.running) + "\n";
  o += "# HELP nullspace_log_entries_appended_total Log entries made durable since start.\n"
       "# TYPE nullspace_log_entries_appended_total counter\n"
       "nullspace_log_entries_appended_total " +
       std::to_string(e.entries_appended) + "\n";
  o += "# HELP nullspace_log_batches_written_total Group commits since start.\n"
       "# TYPE nullspace_log_batches_written_total counter\n"
       "nullspace_log_batches_written_total " +
       std::to_string(e.batches_written) + "\n";
  o += "# HELP nullspace_log_hub_followers Engine subscriptions at the log hub.\n"
       "# TYPE nullspace_log_hub_followers gauge\nnullspace_log_hub_followers " +
       std::to_string(e.followers) + "\n";
  o += "# HELP nullspace_sse_followers HTTP clients following build logs (SSE or NDJSON).\n"
       "# TYPE nullspace_sse_followers gauge\nnullspace_sse_followers " +
       std::to_string(s.clients) + "\n";
  o += "# HELP nullspace_followed_builds Builds with HTTP followers (one subscription each).\n"
       "# TYPE nullspace_followed_builds gauge\nnullspace_followed_builds " +
       std::to_string(s.feeds) + "\n";
  o += "# HELP nullspace_long_polls Status long-polls waiting.\n"
       "# TYPE nullspace_long_polls gauge\nnullspace_long_polls " +
       std::to_string(s.waiters) + "\n";
  o += "# HELP nullspace_stream_events_sent_total Log events written to HTTP followers.\n"
       "# TYPE nullspace_stream_events_sent_total counter\nnullspace_stream_events_sent_total " +
       std::to_string(events_sent_) + "\n";
  o += "# HELP nullspace_slow_followers_disconnected_total Followers disconnected because their "
       "buffer overflowed.\n# TYPE nullspace_slow_followers_disconnected_total counter\n"
       "nullspace_slow_followers_disconnected_total " +
       std::to_string(slow_disconnects_) + "\n";
  o += "# HELP nullspace_http_connections Open HTTP connections.\n"
       "# TYPE nullspace_http_connections gauge\nnullspace_http_connections " +
       std::to_string(connections) + "\n";
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

#include "api/query_params.hpp"

#include <charconv>

namespace nullspace::api {

bool accepts(const http_request& r, std::string_view type) {
  return r.header("accept").find(type) != std::string_view::npos;
}

result<uint64_t> query_u64(const http_request& r, std::string_view name, uint64_t dflt) {
  auto v = r.query_param(name);
  if (!v) return dflt;
  uint64_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (v->empty() || ec != std::errc{} || p != v->data() + v->size())
    return make_error(errc::invalid_argument, std::string(name) + " must be a non-negative integer",
                      std::string(name));
  return out;
}

result<bool> query_bool(const http_request& r, std::string_view name) {
  auto v = r.query_param(name);
  if (!v || *v == "false" || *v == "0") return false;
  if (*v == "true" || *v == "1" || v->empty()) return true;
  return make_error(errc::invalid_argument, std::string(name) + " must be true or false",
                    std::string(name));
}

result<size_t> query_limit(const http_request& r, size_t max_page) {
  auto v = r.query_param("limit");
  if (!v) return size_t{50};
  size_t out = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (v->empty() || ec != std::errc{} || p != v->data() + v->size() || out == 0 || out > max_page)
    return make_error(errc::invalid_argument,
                      "limit must be an integer from 1 to " + std::to_string(max_page), "limit");
  return out;
}

std::string query_string(const http_request& r, std::string_view name) {
  auto v = r.query_param(name);
  return v ? std::string(*v) : std::string();
}

result<uint64_t> stream_start(const http_request& r) {
  auto offset = query_u64(r, "offset", 0);
  if (!offset) return offset.error();
  auto last = r.header("last-event-id");
  if (last.empty()) return offset.value();
  uint64_t k = 0;
  auto [p, ec] = std::from_chars(last.data(), last.data() + last.size(), k);
  if (ec != std::errc{} || p != last.data() + last.size() || k == UINT64_MAX)
    return make_error(errc::invalid_argument, "Last-Event-ID must be the offset of an event",
                      "Last-Event-ID");
  return k + 1;  // resume after the last event the client saw
}

}  // namespace nullspace::api

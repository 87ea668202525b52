#include "api/http_message.hpp"

#include "storage/common/json_writer.hpp"

namespace nullspace::api {

std::string_view http_request::header(std::string_view name) const {
  for (auto& [k, v] : headers)
    if (k == name) return v;
  return {};
}

std::optional<std::string_view> http_request::query_param(std::string_view name) const {
  for (auto& [k, v] : query)
    if (k == name) return std::string_view{v};
  return std::nullopt;
}

http_response json_response(int status, std::string body) {
  http_response r;
  r.status = status;
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = std::move(body);
  return r;
}

namespace {

// One error object: its code (the finer `reason` when set), message, field,
// and the numbers that explain it.
void write_error(json::writer& w, const error& e) {
  w.begin_object();
  w.field("code", e.reason.empty() ? std::string_view(to_string(e.code)) : e.reason);
  w.field("message", e.message);
  if (!e.field.empty()) w.field("field", e.field);
  if (!e.counts.empty()) {
    w.key("counts").begin_object();
    for (auto& [k, n] : e.counts) w.field(k, n);
    w.end_object();
  }
}

}  // namespace

http_response error_response(int status, errc code, std::string message, std::string field) {
  json::writer w;
  w.begin_object().key("error");
  write_error(w, make_error(code, std::move(message), std::move(field)));
  w.end_object().end_object();
  return json_response(status, std::move(w).str());
}

http_response error_response(const error& e) {
  // A request with several problems: the first as the error, all as `details`.
  json::writer w;
  w.begin_object().key("error");
  write_error(w, e);
  if (!e.details.empty()) {
    w.key("details").begin_array();
    for (auto& d : e.details) {
      write_error(w, d);
      w.end_object();
    }
    w.end_array();
  }
  w.end_object().end_object();
  return json_response(http_status(e.code), std::move(w).str());
}

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 411:
      return "Length Required";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

namespace {
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace nullspace::api

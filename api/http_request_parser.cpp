#include "api/http_request_parser.hpp"

#include <cctype>

namespace nullspace::api {

struct parser_callbacks {
  static http_request_parser* of(http_parser* p) {
    return static_cast<http_request_parser*>(p->data);
  }

  static const http_parser_settings& settings() {
    static const http_parser_settings s = [] {
      http_parser_settings x{};
      x.on_message_begin = [](http_parser* p) { return of(p)->on_message_begin(); };
      x.on_url = [](http_parser* p, const char* at, size_t len) {
        auto* c = of(p);
        c->req_.target.append(at, len);
        return c->count_header(len);
      };
      x.on_header_field = [](http_parser* p, const char* at, size_t len) {
        auto* c = of(p);
        if (c->in_value_ && c->commit_header() != 0) return -1;
        c->field_.append(at, len);
        return c->count_header(len);
      };
      x.on_header_value = [](http_parser* p, const char* at, size_t len) {
        auto* c = of(p);
        c->in_value_ = true;
        c->value_.append(at, len);
        return c->count_header(len);
      };
      x.on_headers_complete = [](http_parser* p) { return of(p)->on_headers_complete(); };
      x.on_body = [](http_parser* p, const char* at, size_t len) {
        return of(p)->on_body(at, len);
      };
      x.on_message_complete = [](http_parser* p) { return of(p)->on_message_complete(); };
      return x;
    }();
    return s;
  }
};

bool split_target(http_request& r) {
  std::string_view t = r.target;
  auto q = t.find('?');
  auto raw_path = t.substr(0, q);
  if (raw_path.empty() || raw_path.front() != '/') return false;
  auto path = percent_decode(raw_path, false);
  if (!path || path->find('\0') != std::string::npos) return false;
  r.path = std::move(*path);
  r.raw_path = std::string(raw_path);
  if (q == std::string_view::npos) return true;
  auto query = t.substr(q + 1);
  while (!query.empty()) {
    auto amp = query.find('&');
    auto part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (part.empty()) continue;
    auto eq = part.find('=');
    auto k = percent_decode(part.substr(0, eq), true);
    auto v = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1),
                            true);
    if (!k || !v) return false;
    r.query.emplace_back(std::move(*k), std::move(*v));
  }
  return true;
}

http_request_parser::http_request_parser(size_t max_header_bytes, size_t max_body_bytes,
                                         request_parser_hooks hooks)
    : max_header_bytes_(max_header_bytes),
      max_body_bytes_(max_body_bytes),
      hooks_(std::move(hooks)) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

http_request_parser::outcome http_request_parser::feed(std::string& input) {
  if (refused_) return outcome::refused;
  if (message_ready_) return outcome::request;  // not taken yet
  if (input.empty()) return outcome::need_more;
  size_t n =
      http_parser_execute(&parser_, &parser_callbacks::settings(), input.data(), input.size());
  auto err = HTTP_PARSER_ERRNO(&parser_);
  input.erase(0, n);
  if (message_ready_) return outcome::request;
  if (err == HPE_OK) return outcome::need_more;
  refused_ = true;
  if (refusal_.message.empty()) {  // http-parser's own error, not one of our callbacks'
    if (err == HPE_HEADER_OVERFLOW) {
      refusal_ = {431, errc::invalid_argument, "the request headers are too large",
                  "header_overflow"};
    } else {
      refusal_ = {400, errc::invalid_argument,
                  std::string("malformed HTTP request: ") + http_errno_description(err),
                  "malformed"};
    }
  }
  return outcome::refused;
}

http_request http_request_parser::take() {
  message_ready_ = false;
  http_parser_pause(&parser_, 0);
  return std::move(req_);
}

int http_request_parser::refuse(int status, errc code, std::string message, const char* why) {
  refusal_ = {status, code, std::move(message), why};
  return -1;
}

int http_request_parser::on_message_begin() {
  req_ = http_request{};
  field_.clear();
  value_.clear();
  in_value_ = false;
  header_bytes_ = 0;
  in_message_ = true;
  if (hooks_.began) hooks_.began();
  return 0;
}

int http_request_parser::count_header(size_t n) {
  header_bytes_ += n;
  if (header_bytes_ <= max_header_bytes_) return 0;
  return refuse(431, errc::invalid_argument,
                "the request headers exceed " + std::to_string(max_header_bytes_) + " bytes",
                "header_limit");
}

int http_request_parser::commit_header() {
  for (auto& ch : field_) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  while (!value_.empty() && (value_.back() == ' ' || value_.back() == '\t')) value_.pop_back();
  req_.headers.emplace_back(std::move(field_), std::move(value_));
  field_.clear();
  value_.clear();
  in_value_ = false;
  return 0;
}

int http_request_parser::on_headers_complete() {
  if (in_value_ || !field_.empty()) commit_header();
  req_.method = http_method_str(static_cast<http_method>(parser_.method));
  if (!split_target(req_))
    return refuse(400, errc::invalid_argument, "the request target is not a valid path",
                  "bad_target");
  body_limit_ = hooks_.body_limit ? hooks_.body_limit(req_) : max_body_bytes_;
  if ((parser_.flags & F_CONTENTLENGTH) && parser_.content_length > body_limit_)
    return refuse(413, errc::payload_too_large,
                  "the request body exceeds " + std::to_string(body_limit_) + " bytes",
                  "body_limit");
  if (hooks_.headers_done) hooks_.headers_done(req_);
  return 0;
}

int http_request_parser::on_body(const char* at, size_t len) {
  if (req_.body.size() + len > body_limit_)
    return refuse(413, errc::payload_too_large,
                  "the request body exceeds " + std::to_string(body_limit_) + " bytes",
                  "body_limit");
  req_.body.append(at, len);
  return 0;
}

int http_request_parser::on_message_complete() {
  req_.keep_alive = http_should_keep_alive(&parser_) != 0;
  in_message_ = false;
  message_ready_ = true;
  http_parser_pause(&parser_, 1);  // one request at a time; the rest waits in `input`
  return 0;
}

}  // namespace nullspace::api

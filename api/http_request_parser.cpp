#include "api/http_request_parser.hpp"

#include <cctype>

namespace nullspace::api {

namespace {

std::string chunk_framing_message_for(size_t limit) {
  return "the chunk framing (sizes and extensions) exceeds " + std::to_string(limit) + " bytes";
}

}  // namespace

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
        return c->count_target(len);
      };
      x.on_header_field = [](http_parser* p, const char* at, size_t len) {
        auto* c = of(p);
        if (c->in_value_ && c->commit_header() != 0) return -1;
        c->field_.append(at, len);
        return c->count_header(len);
      };
      x.on_header_value = [](http_parser* p, const char* at, size_t len) {
        auto* c = of(p);
        if (c->refuse_obs_fold(at) != 0) return -1;
        c->in_value_ = true;
        c->value_.append(at, len);
        return c->count_header(len);
      };
      x.on_headers_complete = [](http_parser* p) { return of(p)->on_headers_complete(); };
      x.on_body = [](http_parser* p, const char* at, size_t len) {
        return of(p)->on_body(at, len);
      };
      x.on_chunk_header = [](http_parser* p) {
        ++of(p)->chunks_;
        return 0;
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

http_request_parser::http_request_parser(request_limits limits, request_parser_hooks hooks)
    : limits_(limits), hooks_(std::move(hooks)) {
  http_parser_init(&parser_, HTTP_REQUEST);
  parser_.data = this;
}

http_request_parser::outcome http_request_parser::feed(std::string& input) {
  if (refused_) return outcome::refused;
  if (message_ready_) return outcome::request;  // not taken yet
  if (input.empty()) return outcome::need_more;
  input_ = input;
  size_t n =
      http_parser_execute(&parser_, &parser_callbacks::settings(), input.data(), input.size());
  input_ = {};
  auto err = HTTP_PARSER_ERRNO(&parser_);
  // A client may split anywhere: remember what the consumed bytes end in.
  size_t i = n;
  while (i > 0 && (input[i - 1] == ' ' || input[i - 1] == '\t')) --i;
  if (i > 0) consumed_ends_in_fold_ = input[i - 1] == '\n';
  input.erase(0, n);
  // Chunk extensions reach no callback, so http-parser would skip them
  // without end: bound what a body's framing may add to its bytes. (One
  // execute never spans two requests: the parser pauses at each end.)
  message_wire_bytes_ += n;
  size_t framing_allowed =
      limits_.max_header_bytes + body_limit_ + limits_.max_chunk_framing_bytes + 24 * chunks_;
  if ((in_message_ || message_ready_) && (err == HPE_OK || err == HPE_PAUSED) &&
      message_wire_bytes_ > framing_allowed) {
    message_ready_ = false;
    refused_ = true;
    refuse(413, errc::payload_too_large, chunk_framing_message_for(limits_.max_chunk_framing_bytes),
           "chunk_framing");
    return outcome::refused;
  }
  if (message_ready_) return outcome::request;
  if (err == HPE_OK) return outcome::need_more;
  refused_ = true;
  if (refusal_.message.empty()) {  // http-parser's own error, not one of our callbacks'
    if (err == HPE_HEADER_OVERFLOW && in_body_) {
      // http-parser's own bound on one chunk's size line and extensions.
      refusal_ = {413, errc::payload_too_large,
                  chunk_framing_message_for(limits_.max_chunk_framing_bytes), "chunk_framing"};
    } else if (err == HPE_HEADER_OVERFLOW) {
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
  header_count_ = 0;
  message_wire_bytes_ = 0;
  chunks_ = 0;
  in_body_ = false;
  body_limit_ = limits_.max_body_bytes;
  in_message_ = true;
  if (hooks_.began) hooks_.began();
  return 0;
}

int http_request_parser::count_header(size_t n) {
  header_bytes_ += n;
  if (header_bytes_ <= limits_.max_header_bytes) return 0;
  return refuse(431, errc::invalid_argument,
                "the request headers exceed " + std::to_string(limits_.max_header_bytes) + " bytes",
                "header_limit");
}

// The request target counts toward the header bytes; alone too long, it is 414.
int http_request_parser::count_target(size_t n) {
  header_bytes_ += n;
  if (header_bytes_ <= limits_.max_header_bytes) return 0;
  return refuse(414, errc::invalid_argument,
                "the request target exceeds " + std::to_string(limits_.max_header_bytes) + " bytes",
                "target_limit");
}

// http-parser joins an obs-fold continuation line ("\r\n value") to the value
// before it; RFC 9112 says a server must refuse it (proxies may have read the
// header differently). The bytes before `at` show it, in this feed or, when
// they run back to its start, in what earlier feeds consumed.
int http_request_parser::refuse_obs_fold(const char* at) {
  const char* base = input_.data();
  if (!base || at < base || at > base + input_.size()) return 0;
  const char* b = at;
  while (b > base && (b[-1] == ' ' || b[-1] == '\t')) --b;
  if (b > base ? b[-1] == '\n' : consumed_ends_in_fold_)
    return refuse(400, errc::invalid_argument, "a header uses obsolete line folding (obs-fold)",
                  "obs_fold");
  return 0;
}

int http_request_parser::commit_header() {
  // ": " and CRLF count too, so many tiny headers cannot pass as few bytes.
  header_bytes_ += 4;
  if (++header_count_ > limits_.max_header_count)
    return refuse(
        431, errc::invalid_argument,
        "the request has more than " + std::to_string(limits_.max_header_count) + " headers",
        "header_count");
  if (header_bytes_ > limits_.max_header_bytes) return count_header(0);
  for (auto& ch : field_) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  while (!value_.empty() && (value_.back() == ' ' || value_.back() == '\t')) value_.pop_back();
  req_.headers.emplace_back(std::move(field_), std::move(value_));
  field_.clear();
  value_.clear();
  in_value_ = false;
  return 0;
}

int http_request_parser::on_headers_complete() {
  if ((in_value_ || !field_.empty()) && commit_header() != 0) return -1;
  req_.method = http_method_str(static_cast<http_method>(parser_.method));
  // Headers that two readers could take differently are refused (RFC 9112 3.2).
  size_t hosts = 0, authorizations = 0, content_types = 0;
  for (auto& [name, v] : req_.headers) {
    hosts += name == "host";
    authorizations += name == "authorization";
    content_types += name == "content-type";
  }
  bool http11 = parser_.http_major == 1 && parser_.http_minor >= 1;
  if (hosts > 1 || authorizations > 1 || content_types > 1)
    return refuse(400, errc::invalid_argument,
                  std::string("the request has more than one ") +
                      (hosts > 1            ? "Host"
                       : authorizations > 1 ? "Authorization"
                                            : "Content-Type") +
                      " header",
                  "duplicate_header");
  if (http11 && hosts == 0)
    return refuse(400, errc::invalid_argument, "an HTTP/1.1 request needs a Host header",
                  "missing_host");
  if (!split_target(req_))
    return refuse(400, errc::invalid_argument, "the request target is not a valid path",
                  "bad_target");
  body_limit_ = hooks_.body_limit ? hooks_.body_limit(req_) : limits_.max_body_bytes;
  if ((parser_.flags & F_CONTENTLENGTH) && parser_.content_length > body_limit_)
    return refuse(413, errc::payload_too_large,
                  "the request body exceeds " + std::to_string(body_limit_) + " bytes",
                  "body_limit");
  if (hooks_.headers_done) hooks_.headers_done(req_);
  in_body_ = true;
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

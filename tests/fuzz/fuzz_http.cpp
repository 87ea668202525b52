// The HTTP request parser and router (api/http_request_parser.hpp,
// api/router.hpp), raw connection bytes in: what nullspaced's server runs on
// every byte a client sends. Invariants: the bytes fed at once or in small
// pieces (as a socket delivers them) give the same requests and the same
// refusal; a refusal's error body is JSON; a matched route's literal segments
// are the path's and its parameters are the path's segments, decoded and
// non-empty.
#include <simdjson.h>

#include "api/http_request_parser.hpp"
#include "api/router.hpp"
#include "fuzz_check.hpp"

using namespace nullspace;
using namespace nullspace::api;

namespace {

// The shapes of nullspaced's routes (the real table needs the engine): plain
// segments, `{id}` captures, `:verb` suffixes and a `{rest...}` tail.
const router& routes() {
  static const router r = [] {
    router x;
    for (auto [m, p] : std::initializer_list<std::pair<const char*, const char*>>{
             {"GET", "/healthz"},
             {"POST", "/v1/builds"},
             {"GET", "/v1/builds/{id}"},
             {"GET", "/v1/builds/{id}/logs"},
             {"POST", "/v1/builds/{id}/cancel"},
             {"POST", "/v1/builds:validate"},
             {"GET", "/v1/templates/{ref}"},
             {"DELETE", "/v1/templates/{ref}/tags/{tag}"},
             {"PUT", "/v1/machines/{id}/files"},
             {"GET", "/v1/machines/{id}/files:list"},
             {"GET", "/v1/machines/{id}/commands/{command_id}"},
             {"PATCH", "/v1/warm-pools/{id}"},
             {"*", "/v1/machines/{id}/ports/{port}/{rest...}"}})
      x.add(m, p, {});
    return x;
  }();
  return r;
}

std::vector<std::string_view> segments(std::string_view p) {
  std::vector<std::string_view> out;
  p.remove_prefix(1);
  while (true) {
    auto slash = p.find('/');
    out.push_back(p.substr(0, slash));
    if (slash == std::string_view::npos) return out;
    p.remove_prefix(slash + 1);
  }
}

void check_route(const http_request& req) {
  auto m = routes().match(req.method, req.raw_path);
  if (!m.found) {
    FUZZ_CHECK(m.params.empty());
    return;
  }
  FUZZ_CHECK(m.found->method == req.method || m.found->method == "*");
  auto segs = segments(req.raw_path);
  auto& pattern = m.found->segments;
  bool tail = pattern.back().ends_with("...}");
  FUZZ_CHECK(tail ? segs.size() >= pattern.size() - 1 : segs.size() == pattern.size());
  size_t param = 0;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i].front() != '{') {
      FUZZ_CHECK(pattern[i] == segs[i]);
    } else if (tail && i + 1 == pattern.size()) {
      std::string rest;
      for (size_t k = i; k < segs.size(); ++k) rest += (k > i ? "/" : "") + std::string(segs[k]);
      FUZZ_CHECK(m.params.at(param++) == rest);
    } else {
      auto& v = m.params.at(param++);
      FUZZ_CHECK(!v.empty() && percent_decode(segs[i], false) == v);
    }
  }
  FUZZ_CHECK(param == m.params.size());
}

// What one parse produced: each request (as one string) and the refusal.
struct transcript {
  std::vector<std::string> requests;
  int refused = 0;

  bool operator==(const transcript&) const = default;
};

std::string flat(const http_request& r) {
  std::string s = r.method + '\n' + r.target + '\n' + r.path + '\n' + r.raw_path + '\n';
  for (auto& [k, v] : r.query) s += k + '=' + v + '&';
  for (auto& [k, v] : r.headers) s += '\n' + k + ':' + v;
  return s + "\n\n" + r.body + (r.keep_alive ? "K" : "C");
}

constexpr size_t max_header_bytes = 2048, max_body_bytes = 4096;

// Feeds `bytes` `piece` bytes at a time (0: all at once).
transcript parse(std::string_view bytes, size_t piece) {
  transcript t;
  http_request_parser parser({max_header_bytes, 100, 16384, max_body_bytes});
  std::string input;
  size_t at = 0;
  while (at < bytes.size()) {
    size_t n = piece ? std::min(piece, bytes.size() - at) : bytes.size();
    input.append(bytes.substr(at, n));
    at += n;
    while (true) {
      auto got = parser.feed(input);
      if (got == http_request_parser::outcome::need_more) break;
      if (got == http_request_parser::outcome::refused) {
        auto& r = parser.refusal();
        FUZZ_CHECK(r.status >= 400 && r.status < 500 && !r.message.empty());
        auto body = error_response(r.status, r.code, r.message).body;
        static simdjson::dom::parser json;
        simdjson::dom::element el;
        FUZZ_CHECK(json.parse(body).get(el) == simdjson::SUCCESS);
        t.refused = r.status;
        return t;
      }
      auto req = parser.take();
      FUZZ_CHECK(!req.raw_path.empty() && req.raw_path.front() == '/');
      FUZZ_CHECK(req.path.find('\0') == std::string::npos);
      FUZZ_CHECK(req.body.size() <= max_body_bytes);
      check_route(req);
      t.requests.push_back(flat(req));
    }
  }
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = fuzz::text(data, size);
  auto whole = parse(bytes, 0);
  // Small pieces: every split point of a short input, as a slow client sends it.
  FUZZ_CHECK(parse(bytes, size <= 4096 ? 1 : 7) == whole);
  return 0;
}

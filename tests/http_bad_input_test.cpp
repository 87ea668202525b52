// The bad-input corpus over HTTP: hundreds of malformed requests generated from
// the router's route table, sent as raw bytes to a real nullspaced on a
// loopback port. Every route gets bad path parameters (traversal, escapes,
// NUL, invalid UTF-8, unicode, very long), bad query values, wrong methods,
// and header abuse; every route that takes a body gets every mutation of a
// valid body. Each answer must be the exact 4xx of its class with the JSON
// error body, and must come (the client's safety net fails a hang). After
// the corpus the server still serves and builds, and it exits cleanly.
#include <simdjson.h>

#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "api/router.hpp"
#include "catch2/catch.hpp"
#include "tests/api_fixture.hpp"
#include "tests/cli_support.hpp"
#include "tests/machine_support.hpp"
#include "tests/sandbox_support.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

const std::string api_key = "bad-input-key-0123456789abcdef";
constexpr size_t body_limit = 8192;     // --max-body-bytes
constexpr size_t upload_limit = 65536;  // --max-upload-bytes and --max-file-bytes
constexpr size_t header_limit = 4096;   // --max-header-bytes

// Well-formed values naming nothing that exists, one per placeholder kind.
const std::string missing_build = "tb_000000000000000000000000";
const std::string missing_machine = "m_000000000000000000000000";

// A busybox build: runs on the sandbox daemon (and on the host one too).
const std::string build_body =
    R"({"name":"corpus","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},)"
    R"("steps":[{"type":"run","cmd":"echo built"}]}})";
const std::string host_build_body = run_request({"echo built"}, "corpus");

// The families whose routes need machines (422 on a server without them).
bool machine_family(const std::string& pattern) {
  return pattern.starts_with("/v1/machines") || pattern.starts_with("/v1/warm-pools");
}

// One valid body per route that reads one, keyed by "METHOD pattern". A
// route whose handler reads a body and has no entry here fails the test.
struct body_entry {
  std::string body;
  std::string content_type = "application/json";
  // Build definitions: unknown members are warnings (docs/API.md), not 400s.
  bool definition = false;
  // :validate answers rule violations with 200 {"valid": false}.
  bool validates = false;
};
std::map<std::string, body_entry> valid_bodies(bool sandbox) {
  const auto& build = sandbox ? build_body : host_build_body;
  return {
      {"POST /v1/builds", {build, "application/json", true}},
      {"POST /v1/builds/{id}/cancel", {R"({"reason":"no longer needed"})"}},
      {"POST /v1/builds/{id}/retry", {R"({"tags":["again"],"build_secrets":[]})"}},
      {"POST /v1/builds/{id}/promote", {R"({"tag":"stable"})"}},
      {"POST /v1/builds:validate", {build, "application/json", true, true}},
      {"POST /v1/builds:plan", {build, "application/json", true}},
      {"POST /v1/builds:inspect-context", {build, "application/json", true}},
      {"POST /v1/build-contexts", {"", "application/x-tar"}},  // a tar: size limit only
      {"POST /v1/templates:reserve", {R"({"name":"reserved-by-corpus"})"}},
      {"POST /v1/templates/{ref}/tags", {R"({"tags":["stable"]})"}},
      {"DELETE /v1/templates/{ref}/tags/{tag}", {"{}"}},
      {"POST /v1/templates/{ref}/aliases", {R"({"alias":"nick"})"}},
      {"DELETE /v1/templates/{ref}/aliases/{alias}", {"{}"}},
      {"POST /v1/templates/{ref}/rename", {R"({"name":"renamed"})"}},
      {"PUT /v1/templates/{ref}/visibility", {R"({"visibility":"public"})"}},
      {"DELETE /v1/templates/{ref}", {"{}"}},
      {"POST /v1/machines", {R"({"template":"nothing-here","cpu_count":1,"wait":true})"}},
      {"POST /v1/machines/{id}/commands", {R"({"cmd":"true","shell":true,"timeout_ms":1000})"}},
      {"POST /v1/machines/{id}/timeout", {R"({"timeout_ms":60000})"}},
      {"PUT /v1/machines/{id}/files", {"bytes", "application/octet-stream"}},
      {"POST /v1/warm-pools", {R"({"template":"nothing-here","name":"p","min_ready":1})"}},
      {"PATCH /v1/warm-pools/{id}", {R"({"min_ready":1})"}},
      {"* /v1/machines/{id}/ports/{port}/{path...}", {"", "text/plain"}},  // forwarded as is
  };
}

// Routes whose handler ignores any body (reads, and actions without one).
bool ignores_body(const api::route& r) {
  static const std::set<std::string> action_without_body = {
      "DELETE /v1/machines/{id}",        "POST /v1/machines/{id}/pause",
      "POST /v1/machines/{id}/resume",   "POST /v1/machines/{id}/commands/{command_id}/kill",
      "DELETE /v1/machines/{id}/files",  "DELETE /v1/warm-pools/{id}",
      "POST /v1/warm-pools/{id}/enable", "POST /v1/warm-pools/{id}/disable",
      "POST /v1/warm-pools/{id}/drain",  "POST /v1/cache-mounts:prune",
  };
  return r.method == "GET" || action_without_body.count(r.method + " " + r.pattern);
}

// Query parameters each route reads, with whether a value is free text
// (filters: any text is a valid filter or a 400) or typed (a 400 if bad).
std::map<std::string, std::vector<std::string>> typed_queries() {
  return {
      {"GET /v1/builds/{id}", {"offset", "limit", "wait_ms"}},
      {"GET /v1/builds/{id}/logs", {"offset", "follow"}},
      {"GET /v1/templates", {"limit"}},
      {"GET /v1/templates/{ref}/builds", {"limit", "status", "tagged", "backend"}},
      {"GET /v1/machines", {"limit", "state"}},
      {"GET /v1/machines/{id}/logs", {"offset", "follow"}},
      {"GET /v1/machines/{id}/commands/{command_id}", {"offset", "stdout_offset", "stderr_offset"}},
      {"POST /v1/machines/{id}/commands/{command_id}/kill", {"offset"}},
      {"PUT /v1/machines/{id}/files", {"mode", "uid", "gid"}},
      {"DELETE /v1/machines/{id}/files", {"recursive"}},
      {"GET /v1/warm-pools/{id}/ready", {"timeout_ms", "min_ready"}},
      {"GET /v1/warm-pools/{id}/logs", {"offset", "follow", "limit"}},
  };
}

struct corpus_case {
  std::string name;
  std::string bytes;
  int status;
  std::string field = {};       // error.field must start with this ("" : not checked)
  bool validate_false = false;  // 200 {"valid": false} (builds:validate)
};

std::string head_of(const std::string& method, const std::string& target,
                    const std::string& extra_headers) {
  return method + " " + target + " HTTP/1.1\r\nHost: corpus\r\nAuthorization: Bearer " + api_key +
         "\r\n" + extra_headers;
}

// A request with a Content-Length body (and its Content-Type when non-empty).
std::string request(const std::string& method, const std::string& target,
                    const std::string& body = {}, const std::string& content_type = "",
                    const std::string& extra_headers = {}) {
  std::string h = head_of(method, target, extra_headers);
  if (!body.empty() && !content_type.empty()) h += "Content-Type: " + content_type + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH")
    h += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return h + "\r\n" + body;
}

const std::map<int, std::string> code_of_status = {
    {400, "invalid_argument"},
    {401, "unauthenticated"},
    {403, "permission_denied"},
    {404, "not_found"},
    {405, "invalid_argument"},
    {408, "invalid_argument"},
    {409, "conflict"},
    {413, "payload_too_large"},
    {414, "invalid_argument"},
    {415, "unsupported_media_type"},
    {422, "failed_precondition"},
    {431, "invalid_argument"},
};

// The JSON members of a flat-ish object body: name → its JSON text.
std::vector<std::pair<std::string, std::string>> members(const std::string& body) {
  simdjson::dom::parser p;
  simdjson::dom::object o;
  std::vector<std::pair<std::string, std::string>> out;
  if (p.parse(body).get(o) != simdjson::SUCCESS) return out;
  for (auto kv : o) out.emplace_back(std::string(kv.key), simdjson::minify(kv.value));
  return out;
}

std::string object_of(const std::vector<std::pair<std::string, std::string>>& ms) {
  std::string out = "{";
  for (auto& [k, v] : ms) out += (out.size() > 1 ? "," : "") + ("\"" + k + "\":" + v);
  return out + "}";
}

std::string with_member(std::string body, const std::string& key, const std::string& value) {
  auto ms = members(body);
  for (auto& m : ms)
    if (m.first == key) m.second = value;
  return object_of(ms);
}

// A value of another JSON type than `json`.
std::string wrong_type(const std::string& json) {
  switch (json.empty() ? ' ' : json.front()) {
    case '"':
      return "12345";
    case '[':
      return R"({"a":1})";
    case '{':
      return "[1]";
    case 't':
    case 'f':
      return R"("yes")";
    default:
      return R"("12")";  // a number
  }
}

bool is_number(const std::string& json) {
  return !json.empty() && (std::isdigit(static_cast<unsigned char>(json.front())) != 0);
}

}  // namespace

TEST_CASE("bad input on every route gets the right 4xx with an error body", "[bad_input]") {
  bool sandbox = machines_unavailable().empty() && sandbox_unavailable().empty();
  if (!sandbox) WARN("no machines here: machine and warm-pool routes answer 422 after parsing");
  temp_dir dir;
  write_file(dir.sub("keys"), api_key + " corpus\n");
  std::vector<std::string> flags{"--api-keys",         dir.sub("keys"),
                                 "--max-body-bytes",   std::to_string(body_limit),
                                 "--max-upload-bytes", std::to_string(upload_limit),
                                 "--max-file-bytes",   std::to_string(upload_limit),
                                 "--max-header-bytes", std::to_string(header_limit),
                                 "--log-level",        "debug"};
  if (sandbox)
    for (auto& f : daemon_machine_flags("10.72.128.0/18")) flags.push_back(f);
  server_process d(dir, sandbox, flags);
  REQUIRE(d.port() != 0);

  // The route table: the same router nullspaced builds, read in process.
  api::router table;
  {
    api_fixture in_process;
    table = in_process.server->routes();
  }
  const auto& routes = table.routes();
  REQUIRE(routes.size() >= 40);
  auto bodies = valid_bodies(sandbox);
  auto queries = typed_queries();

  // A route's target with every placeholder at its valid value, except
  // `bad_at` (a placeholder name) replaced by `bad`.
  auto target_of = [&](const api::route& r, const std::string& bad_at = {},
                       const std::string& bad = {}) {
    std::string t;
    for (auto& seg : r.segments) {
      std::string v = seg;
      if (seg.starts_with("{")) {
        if (seg == bad_at)
          v = bad;
        else if (seg == "{id}")
          v = r.pattern.starts_with("/v1/builds")     ? missing_build
              : r.pattern.starts_with("/v1/machines") ? missing_machine
                                                      : "nothing-here";
        else if (seg == "{ref}")
          v = "nothing-here";
        else if (seg == "{port}")
          v = "8000";
        else if (seg == "{command_id}")
          v = "c_000000000000000000000000";
        else if (seg == "{path...}")
          v = "index.html";
        else
          v = "stable";  // {tag}, {alias}
      }
      t += "/" + v;
    }
    return t;
  };
  // What a route answers for valid input naming nothing that exists.
  auto baseline_status = [&](const api::route& r) {
    static const std::map<std::string, int> fixed = {
        {"GET /healthz", 200},
        {"GET /metrics", 200},
        {"POST /v1/builds", 202},
        {"POST /v1/builds:validate", 200},
        {"POST /v1/builds:plan", 200},
        {"POST /v1/builds:inspect-context", 200},
        {"GET /v1/templates", 200},
        {"POST /v1/templates:reserve", 201},
        {"GET /v1/machines", 200},
        {"GET /v1/warm-pools", 200},
        {"POST /v1/build-contexts", 400},  // an empty body is not a tar
    };
    auto key = r.method + " " + r.pattern;
    if (auto it = fixed.find(key); it != fixed.end())
      return machine_family(r.pattern) && !sandbox ? 422 : it->second;
    return machine_family(r.pattern) && !sandbox ? 422 : 404;
  };
  auto method_of = [](const api::route& r) {
    return r.method == "*" ? std::string("GET") : r.method;
  };

  std::vector<corpus_case> corpus;
  auto add = [&](std::string name, std::string bytes, int status, std::string field = {}) {
    corpus.push_back({std::move(name), std::move(bytes), status, std::move(field)});
  };

  for (auto& r : routes) {
    auto key = r.method + " " + r.pattern;
    auto method = method_of(r);
    auto body_it = bodies.find(key);
    bool takes_body = !ignores_body(r);
    INFO("route " << key);
    // Route table coverage: a route that reads a body has a valid one here.
    CHECK((!takes_body || body_it != bodies.end()));
    std::string body = body_it != bodies.end() ? body_it->second.body : "";
    std::string ctype = body_it != bodies.end() ? body_it->second.content_type : "";
    int base = baseline_status(r);

    // ---- path parameters: each placeholder gets each bad value
    struct bad_value {
      std::string name, raw;
    };
    const std::vector<bad_value> bad_values{
        {"dot-dot", ".."},
        {"encoded dot-dot", "%2e%2e"},
        {"encoded traversal", "%2e%2e%2F%2e%2e%2Fetc%2Fpasswd"},
        {"encoded slash", "a%2Fb%2Fc"},
        {"NUL", "x%00y"},
        {"invalid UTF-8", "%C3%28"},
        {"overlong UTF-8 dot-dot", "%C0%AE%C0%AE"},
        {"unicode", "caf%C3%A9-%E2%80%AE-%F0%9F%98%80"},
        {"bad escape", "%zz"},
        {"lone percent", "%"},
        {"very long", std::string(2000, 'a')},
    };
    for (auto& seg : r.segments) {
      if (!seg.starts_with("{")) continue;
      for (auto& bad : bad_values) {
        int want = base;
        // Decoded paths with NUL, and escapes that do not decode, never reach
        // a route: 400 from the server.
        if (bad.name == "NUL" || bad.name == "bad escape" || bad.name == "lone percent")
          want = 400;
        else if (seg == "{path...}")
          want = base;  // forwarded to the machine's port as sent
        else if (seg == "{ref}" || seg == "{tag}" || seg == "{alias}" || seg == "{port}")
          want = 400;  // not a ref, name or port: 400 naming the forms, before any lookup
        add(key + " with " + seg + " = " + bad.name,
            request(method, target_of(r, seg, bad.raw), body, ctype), want);
      }
    }

    // ---- query parameters: typed ones get bad values, every route a traversal
    if (auto q = queries.find(key); q != queries.end())
      for (auto& name : q->second)
        for (auto& [what, v] : std::vector<std::pair<std::string, std::string>>{
                 {"dot-dot", ".."},
                 {"traversal", "..%2F..%2Fetc%2Fpasswd"},
                 {"NUL", "%00"},
                 {"invalid UTF-8", "%C3%28"},
                 {"huge", "99999999999999999999999"},
                 {"negative", "-1"},
                 {"very long", std::string(2000, '9')},
             })
          add(key + " with ?" + name + "=" + what,
              request(method, target_of(r) + "?" + name + "=" + v, body, ctype), 400, name);

    // ---- the wrong method on the route's path: 405 naming the allowed ones
    for (auto other : {"GET", "POST", "PUT", "PATCH", "DELETE"}) {
      auto m = table.match(other, target_of(r));
      if (m.found) continue;
      add(key + " as " + other, request(other, target_of(r)), 405);
      break;
    }
    // One segment more: another route (skipped), another method's path (405) or none (404).
    if (auto m = table.match(method, target_of(r) + "/extra"); !m.found)
      add(key + " with an extra segment", request(method, target_of(r) + "/extra", body, ctype),
          m.allowed_methods.empty() ? 404 : 405);

    // ---- header abuse
    auto target = target_of(r);
    auto line = method + " " + target + " HTTP/1.1\r\n";
    auto key_header = "Authorization: Bearer " + api_key + "\r\n";
    add(key + ": no Host", line + key_header + "\r\n", 400);
    add(key + ": two Hosts", line + "Host: a\r\nHost: b\r\n" + key_header + "\r\n", 400);
    add(key + ": two Authorizations",
        line + "Host: a\r\n" + key_header + "Authorization: Bearer someone-else-entirely\r\n\r\n",
        400);
    add(key + ": obs-fold", line + "Host: a\r\n" + key_header + "X-Folded: a\r\n b\r\n\r\n", 400);
    add(key + ": a header line over the limit",
        line + "Host: a\r\n" + key_header + "X-Big: " + std::string(header_limit, 'h') + "\r\n\r\n",
        431);
    std::string many;
    for (int i = 0; i < 150; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    add(key + ": 150 headers", line + "Host: a\r\n" + key_header + many + "\r\n", 431);
    add(key + ": target over the limit",
        method + " " + target + "?pad=" + std::string(header_limit, 'p') +
            " HTTP/1.1\r\nHost: a\r\n" + key_header + "\r\n",
        414);
    auto post_line = line + "Host: a\r\n" + key_header + "Content-Type: application/json\r\n";
    add(key + ": two Content-Lengths",
        post_line + "Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", 400);
    add(key + ": conflicting Content-Lengths",
        post_line + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}}", 400);
    add(key + ": Content-Length and chunked",
        post_line + "Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
        400);
    add(key + ": negative Content-Length", post_line + "Content-Length: -2\r\n\r\n{}", 400);
    add(key + ": Content-Length beyond 64 bits",
        post_line + "Content-Length: 99999999999999999999999\r\n\r\n{}", 400);
    add(key + ": chunk size not hex",
        post_line + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n", 400);
    add(key + ": chunk size beyond 64 bits",
        post_line + "Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n", 400);
    add(key + ": unknown transfer coding", post_line + "Transfer-Encoding: gzip\r\n\r\n{}", 400);
    // Extensions beyond what the body limit and 16 KiB of framing allow.
    size_t limit = r.options.max_body_bytes ? r.options.max_body_bytes : body_limit;
    add(key + ": chunk extension abuse",
        post_line + "Transfer-Encoding: chunked\r\n\r\n2;" + std::string(limit + 40000, 'e') +
            "\r\n{}\r\n0\r\n\r\n",
        413);

    if (!takes_body || body_it == bodies.end()) continue;
    auto& entry = body_it->second;
    bool json = entry.content_type == "application/json";
    // ---- body mutations
    add(key + ": body over the limit",
        request(method, target, std::string(limit + 1000, ' '), ctype), 413);
    std::string chunks;
    for (size_t sent_bytes = 0; sent_bytes <= limit; sent_bytes += 4096)
      chunks += "1000\r\n" + std::string(4096, ' ') + "\r\n";
    add(key + ": body over the limit, chunked",
        head_of(method, target,
                "Content-Type: " + ctype + "\r\nTransfer-Encoding: chunked\r\n\r\n") +
            chunks + "0\r\n\r\n",
        413);
    if (!json) continue;
    add(key + ": valid body as text/plain", request(method, target, body, "text/plain"), 415);
    auto ms = members(body);
    std::vector<std::pair<std::string, std::string>> malformed{
        {"malformed JSON", R"({"a":)"},
        {"truncated body", body.substr(0, body.size() / 2)},
        {"an array body", "[]"},
        {"a string body", R"("text")"},
        {"a number body", "42"},
        {"null body", "null"},
        {"a byte-order mark", "\xEF\xBB\xBF" + body},
        {"NUL after the object", body + std::string(1, '\0')},
        {"deep nesting", R"({"x":)" + std::string(3000, '[') + std::string(3000, ']') + "}"},
    };
    if (!ms.empty()) {  // bad strings in the first member
      auto first = ms.front().first;
      malformed.emplace_back("raw NUL in a string",
                             with_member(body, first, "\"a" + std::string(1, '\0') + "b\""));
      malformed.emplace_back("invalid UTF-8 in a string",
                             with_member(body, first, "\"caf\xC3\x28\""));
      malformed.emplace_back("overlong UTF-8 in a string",
                             with_member(body, first, "\"\xC0\xAE\xC0\xAE\""));
      malformed.emplace_back("lone surrogate escape", with_member(body, first, R"("\ud800")"));
    }
    for (auto& [what, b] : malformed) {
      // :validate answers JSON that is no object like any rule violation.
      bool not_object = b == "[]" || b == R"("text")" || b == "42" || b == "null";
      corpus.push_back({key + ": " + what, request(method, target, b, "application/json"),
                        entry.validates && not_object ? 200 : 400, "",
                        entry.validates && not_object});
    }
    // Every member with a value of another type; numbers out of range.
    for (auto& [name, value] : members(body)) {
      auto bad_type = with_member(body, name, wrong_type(value));
      corpus.push_back({key + ": " + name + " of the wrong type",
                        request(method, target, bad_type, "application/json"),
                        entry.validates ? 200 : 400, name, entry.validates});
      if (!is_number(value)) continue;
      for (auto& [what, n] :
           std::vector<std::pair<std::string, std::string>>{{"2^64", "18446744073709551616"},
                                                            {"1e309", "1e309"},
                                                            {"-1", "-1"},
                                                            {"1.5", "1.5"},
                                                            {"a huge exponent", "1e99999999999"}}) {
        corpus.push_back({key + ": " + name + " = " + what,
                          request(method, target, with_member(body, name, n), "application/json"),
                          entry.validates ? 200 : 400, name, entry.validates});
      }
    }
    // Unknown and duplicate members.
    auto unknown = ms;
    unknown.emplace_back("colour", R"("blue")");
    if (!entry.definition)
      add(key + ": an unknown member",
          request(method, target, object_of(unknown), "application/json"), 400, "colour");
    if (!ms.empty()) {
      auto dup = ms;
      dup.push_back(ms.front());
      add(key + ": a member given twice",
          request(method, target, object_of(dup), "application/json"), entry.validates ? 200 : 400,
          ms.front().first);
      if (entry.validates) corpus.back().validate_false = true;
    }
  }

  // ---- send the corpus, one fresh connection per case
  size_t sent = 0, failures = 0;
  for (auto& c : corpus) {
    http_connection conn(d.port());
    REQUIRE(conn.connected());
    conn.send_raw(c.bytes);
    auto r = conn.read_response();
    ++sent;
    bool ok = r.status == c.status;
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    bool json_ok = p.parse(r.body).get(doc) == simdjson::SUCCESS;
    std::string code = json_str(r.body, "error.code");
    std::string message = json_str(r.body, "error.message");
    if (c.validate_false) {
      ok = ok && json_ok && r.body.find("\"valid\":false") != std::string::npos;
    } else {
      ok = ok && json_ok && r.header("content-type") == "application/json" && !message.empty();
      if (auto it = code_of_status.find(r.status); it != code_of_status.end())
        ok = ok && code == it->second;
      if (!c.field.empty()) ok = ok && json_str(r.body, "error.field").starts_with(c.field);
    }
    if (!ok) {
      ++failures;
      // One line per wrong answer, then a single failed check with the count.
      std::printf("wrong: %s: want %d, got %d %s\n", c.name.c_str(), c.status, r.status,
                  r.body.substr(0, 300).c_str());
    }
    CHECK(r.status < 500);
  }
  CHECK(failures == 0);
  std::printf("bad_input: %zu requests over %zu routes, %zu answered wrongly\n", sent,
              routes.size(), failures);

  // The server still serves, builds, and ends cleanly with nothing alarming logged.
  CHECK(http_get(d.port(), "/healthz").status == 200);
  http_headers auth{{"Authorization", "Bearer " + api_key}, {"Content-Type", "application/json"}};
  auto built = http_post(d.port(), "/v1/builds", sandbox ? build_body : host_build_body, auth);
  REQUIRE(built.status == 202);
  auto final_status = wait_terminal(d.port(), json_str(built.body, "build.id"), auth);
  CHECK(json_str(final_status, "build.status") == "ready");
  auto log = d.log();
  CHECK(d.stop() == 0);
  for (auto alarm : {"AddressSanitizer", "runtime error:", "terminate called", "Segmentation"})
    CHECK(log.find(alarm) == std::string::npos);
  CHECK(log.find(api_key) == std::string::npos);
}

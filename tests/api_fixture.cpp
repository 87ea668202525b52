#include "api_fixture.hpp"

#include <simdjson.h>

#include <optional>
#include <string>

#include "catch2/catch.hpp"

namespace nullspace::test {
namespace {

simdjson::dom::element at_path(simdjson::dom::parser& p, const std::string& body,
                               std::string_view path, bool& ok) {
  ok = false;
  simdjson::dom::element el;
  if (p.parse(body).get(el) != simdjson::SUCCESS) return el;
  while (!path.empty()) {
    auto dot = path.find('.');
    auto key = path.substr(0, dot);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    // "name[i]": the i-th element of the array `name`.
    std::optional<size_t> index;
    if (auto open = key.find('['); open != std::string_view::npos && key.ends_with(']')) {
      index = std::stoul(std::string(key.substr(open + 1, key.size() - open - 2)));
      key = key.substr(0, open);
    }
    if (el[key].get(el) != simdjson::SUCCESS) return el;
    if (index && el.at(*index).get(el) != simdjson::SUCCESS) return el;
  }
  ok = true;
  return el;
}

}  // namespace

api_fixture::api_fixture(api::api_options opts, engine_options eopts) {
  eopts.data_dir = dir.sub("data");
  auto e = engine::open(eopts);
  REQUIRE(e.ok());
  eng = std::move(e.value());
  opts.host = "127.0.0.1";
  opts.port = 0;
  auto s = api::api_server::start(*eng, std::move(opts));
  REQUIRE(s.ok());
  server = std::move(s.value());
  port = server->port();
}

api_fixture::~api_fixture() {
  server.reset();
  eng.reset();
}

http_headers api_fixture::auth() const {
  if (api_key.empty()) return {};
  return {{"Authorization", "Bearer " + api_key}};
}

http_response api_fixture::post_json(std::string_view target, std::string_view body) {
  auto h = auth();
  h.emplace_back("Content-Type", "application/json");
  http_connection c(port);
  c.send_request("POST", target, body, h);
  return c.read_response();
}

http_response api_fixture::get(std::string_view target) {
  return http_get(port, target, auth());
}

std::string api_fixture::create_build(const std::vector<std::string>& cmds, std::string_view name) {
  auto r = post_json("/v1/builds", run_request(cmds, name));
  REQUIRE(r.status == 202);
  auto id = json_str(r.body, "build.id");
  REQUIRE(id.starts_with("tb_"));
  return id;
}

std::string api_fixture::wait_terminal(const std::string& id) {
  return test::wait_terminal(port, id, auth());
}

std::string wait_terminal(uint16_t port, const std::string& id, const http_headers& headers) {
  for (;;) {
    auto r = http_get(port, "/v1/builds/" + id + "?offset=0&limit=0&wait_ms=0", headers);
    REQUIRE(r.status == 200);
    auto st = json_str(r.body, "build.status");
    if (st == "ready" || st == "error" || st == "cancelled") return r.body;
    // Long-poll for the next entry instead of spinning.
    auto next = json_u64(r.body, "build.log_next_offset");
    auto w =
        http_get(port, "/v1/builds/" + id + "?limit=1&wait_ms=30000&offset=" + std::to_string(next),
                 headers);
    REQUIRE(w.status == 200);
  }
}

std::string json_str(const std::string& body, std::string_view path) {
  simdjson::dom::parser p;
  bool ok = false;
  auto el = at_path(p, body, path, ok);
  std::string_view v;
  if (!ok || el.get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}

uint64_t json_u64(const std::string& body, std::string_view path) {
  simdjson::dom::parser p;
  bool ok = false;
  auto el = at_path(p, body, path, ok);
  uint64_t v = 0;
  if (!ok || el.get(v) != simdjson::SUCCESS) return UINT64_MAX;
  return v;
}

}  // namespace nullspace::test

// A real nullspace HTTP server on an ephemeral loopback port over a real engine
// (RocksDB in a temp dir), for the HTTP tests.
#pragma once

#include <memory>
#include <string>

#include "api/api_server.hpp"
#include "http_client.hpp"
#include "nullspace/engine.hpp"
#include "test_support.hpp"

namespace nullspace::test {

struct api_fixture {
  explicit api_fixture(api::api_options opts = {}, engine_options eopts = {});
  ~api_fixture();

  // A request with `Content-Type: application/json` (and the key, if set).
  http_response post_json(std::string_view target, std::string_view body);
  http_response get(std::string_view target);
  http_headers auth() const;  // Authorization header for `api_key`, if any

  // Submits a build of `run` steps and returns its id (REQUIREs 202).
  std::string create_build(const std::vector<std::string>& cmds, std::string_view name = "demo");
  // Long-polls get_status until the build is terminal; returns its final status body.
  std::string wait_terminal(const std::string& id);

  temp_dir dir;
  std::unique_ptr<engine> eng;
  std::unique_ptr<api::api_server> server;
  uint16_t port = 0;
  std::string api_key;  // sent as Bearer when non-empty
};

// Long-polls a build of the server on `port` until it is terminal; returns
// its final status body.
std::string wait_terminal(uint16_t port, const std::string& id, const http_headers& headers = {});

// The value of a top-level (or dotted, e.g. "build.status", with array
// elements as "machines[0].id") string field in a JSON body, or "" (uses
// simdjson).
std::string json_str(const std::string& body, std::string_view path);
// A top-level / dotted unsigned field, or UINT64_MAX.
uint64_t json_u64(const std::string& body, std::string_view path);

}  // namespace nullspace::test

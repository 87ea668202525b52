// nullspace's HTTP API (API.md): the http_server, the router with every route,
// API-key authentication, log streams and metrics, over one engine.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "api/auth.hpp"
#include "api/http_server.hpp"
#include "api/log_streams.hpp"
#include "nullspace/engine.hpp"

namespace nullspace::api {

struct api_options {
  std::string host = "127.0.0.1";
  uint16_t port = 7070;  // 0: pick a free port
  server_limits limits;
  size_t max_upload_bytes = 256u << 20;  // build-context tar bodies
  stream_settings streams;
  key_table keys;                 // empty: loopback only, every request is tenant "default"
  uint64_t max_wait_ms = 60'000;  // long-poll cap for GET /v1/builds/{id}?wait_ms=
  size_t max_status_limit = 10'000;
  size_t blocking_workers = 4;  // threads for engine calls that block (machine files, ports)
};

class router;

class api_server {
 public:
  // Binds and serves on a loop thread. Refuses a non-loopback address when no
  // API keys are configured.
  static result<std::unique_ptr<api_server>> start(engine& eng, api_options options);
  ~api_server();  // stop()

  uint16_t port() const;
  // Graceful: stops accepting, ends streams with their final chunk, lets
  // in-flight requests finish, closes every connection, joins the loop.
  void stop();
  const router& routes() const;

  struct impl;

 private:
  explicit api_server(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

}  // namespace nullspace::api

// HTTP followers of machine logs (GET /v1/machines/{id}/logs): SSE or NDJSON,
// replayed from an offset and, with follow, live until the machine ends.
//
// Unlike build logs (log_streams.hpp), each client holds its own engine
// subscription: a machine's log is read by one or two clients (its creator, a
// dashboard), not by a thousand. A client whose socket buffer passes
// `buffer_bytes` is disconnected and resumes with Last-Event-ID.
#pragma once

#include <memory>
#include <unordered_map>

#include "api/http_server.hpp"
#include "api/log_streams.hpp"
#include "nullspace/engine.hpp"

namespace nullspace::api {

struct machine_log_client;

class machine_log_streams {
 public:
  machine_log_streams(engine& eng, size_t buffer_bytes) : eng_(eng), buffer_bytes_(buffer_bytes) {}
  ~machine_log_streams();

  // Loop thread. Answers the request: an error, or the stream.
  void start(exchange_ptr ex, const machine_id& id, uint64_t from, stream_format format,
             bool follow);
  // Loop thread: ends every stream and drops every subscription.
  void shutdown();
  size_t clients() const { return clients_.size(); }

 private:
  void write_entries(machine_log_client& c, const std::vector<raw_entry>& es);
  void finish(machine_log_client* c, const std::string* machine_json);
  void drop(machine_log_client* c);

  engine& eng_;
  size_t buffer_bytes_;
  std::unordered_map<machine_log_client*, std::shared_ptr<machine_log_client>> clients_;
  bool stopping_ = false;
};

}  // namespace nullspace::api

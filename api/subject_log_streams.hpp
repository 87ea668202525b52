// HTTP followers of the logs that belong to one object — a machine's
// (GET /v1/machines/{id}/logs) and a warm pool's (GET /v1/warm-pools/{id}/logs):
// SSE or NDJSON, replayed from an offset and, with follow, live until the
// object ends (a machine stops, a pool is deleted), then its end frame.
//
// Unlike build logs (log_streams.hpp), each client holds its own engine
// subscription: such a log is read by one or two clients (its creator, a
// dashboard), not by a thousand. A client whose socket buffer passes
// `buffer_bytes` is disconnected and resumes with Last-Event-ID. A replay
// (no follow, or an ended object) is paced instead: a page is read and
// written only while the client's unsent bytes are below `buffer_bytes`, so
// a long log never sits whole in the server's memory, nor holds the loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "api/http_server.hpp"
#include "api/log_frames.hpp"
#include "nullspace/engine.hpp"

namespace nullspace::api {

// One object's log: how to read and follow it (log_subjects.hpp makes them).
struct log_subject {
  using entries_fn = std::function<void(const std::vector<raw_entry>&)>;
  using end_fn = std::function<void(std::string object_json)>;  // once, when it ends

  std::string kind;    // "machine" or "warm_pool": the end frame's key (end_frame())
  std::string json;    // the object as it is now
  bool ended = false;  // its log no longer grows: a followed stream is a replay + end
  std::function<result<std::vector<raw_entry>>(uint64_t from, size_t limit)> read;
  // Callbacks run on an engine thread.
  std::function<result<std::unique_ptr<follow_handle>>(uint64_t from, entries_fn, end_fn)> follow;
};

struct subject_log_client;

class subject_log_streams {
 public:
  explicit subject_log_streams(size_t buffer_bytes) : buffer_bytes_(buffer_bytes) {}
  ~subject_log_streams();

  // Loop thread. Answers the request: an error (the log cannot be read), or
  // the stream.
  void start(exchange_ptr ex, log_subject subject, uint64_t from, stream_format format,
             bool follow);
  // Loop thread: ends every stream and drops every subscription.
  void shutdown();
  size_t clients() const { return clients_.size(); }

 private:
  void write_entries(subject_log_client& c, const std::vector<raw_entry>& es);
  void pump_replay(subject_log_client& c);
  void finish(subject_log_client* c, const std::string* object_json);
  void drop(subject_log_client* c);

  size_t buffer_bytes_;
  std::unordered_map<subject_log_client*, std::shared_ptr<subject_log_client>> clients_;
  bool stopping_ = false;
};

}  // namespace nullspace::api

// HTTP followers of build logs: SSE and NDJSON streams and status long-polls.
//
// All followers of one build share ONE engine subscription (a "feed"). Each
// committed batch is formatted once into an immutable chunk of SSE frames and
// written to every client from that same buffer, so a thousand followers cost
// one read and one encoding of each entry. A feed keeps recent chunks (up to
// `retain_bytes`, less when many builds are followed at once: all feeds
// together keep at most `retain_total_bytes`) so clients that join late or lag
// replay from memory; older offsets are read from the store per client. When a
// feed's last client leaves, its chunks are freed and the heap trimmed (glibc
// would keep the pages).
//
// Back-pressure: every client is paced by its own socket: more is written only
// while its queue holds less than `buffer_bytes`, so a slow client lags (reading
// from the feed's chunks, or the store once it lags past them) instead of
// growing a queue. A client whose buffer stays full without taking a byte for
// `stall_timeout_ms` is disconnected and resumes exactly where it stopped with
// Last-Event-ID. No client waits for another and the engine waits for none.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "api/http_server.hpp"
#include "api/log_frames.hpp"
#include "api/metrics.hpp"
#include "nullspace/engine.hpp"
#include "storage/common/heap_trimmer.hpp"

namespace nullspace::api {

struct stream_settings {
  size_t buffer_bytes = 1u << 20;          // per client (server_limits::stream_buffer_bytes)
  size_t retain_bytes = 16u << 20;         // per followed build
  size_t retain_total_bytes = 128u << 20;  // all followed builds together
  uint64_t heartbeat_ms = 15'000;          // SSE ": ping" comments
  uint64_t stall_timeout_ms = 30'000;      // full buffer, no progress: disconnect
};

// What one followed build's feed may keep while `feeds` builds are followed:
// retain_bytes, or its even share of retain_total_bytes when that is less.
size_t feed_retain_limit(const stream_settings& s, size_t feeds);

struct feed;
struct stream_client;
struct poll_waiter;

class log_streams {
 public:
  log_streams(engine& eng, http_server& server, http_metrics& metrics, stream_settings settings);
  ~log_streams();

  // Loop thread. Streams the log of `build` to `ex` from offset `from` as SSE
  // or NDJSON. With `follow`, live entries follow until the build is terminal,
  // then `event: end`; without, the stored entries are replayed and the stream
  // ends. `prelude` is written first (the create route's `event: build`).
  void start(exchange_ptr ex, const build_view& build, uint64_t from, stream_format format,
             bool follow, std::string prelude = {});

  // Loop thread. Calls `ready` once, when an entry at or after `from` is
  // committed, the build ends, `wait_ms` passes, or the server stops — unless
  // the client disconnects first.
  void wait(exchange_ptr ex, const build_id& id, const tenant_id& tenant, uint64_t from,
            uint64_t wait_ms, std::function<void()> ready);

  // Loop thread: starts the heartbeat timer (from http_server::start's hook).
  void start_timers();
  // Loop thread: ends every stream with its final chunk, wakes long-polls,
  // drops every subscription and closes the timer.
  void shutdown();

  stream_gauges gauges() const;

 private:
  friend struct feed;
  std::shared_ptr<feed> feed_for(const build_id& id, const tenant_id& tenant, uint64_t from);
  // `f` is kept alive by the caller (the posted task holds it) even when its
  // last client leaves during the call.
  void on_chunk(feed& f, std::shared_ptr<const struct feed_chunk> chunk);
  void on_end(feed& f, std::string build_json);
  void pump(feed* f, stream_client& c);
  void finish(feed* f, stream_client& c);
  // Pumps `c` again from a later turn of the loop (a reader that keeps up
  // yields after a buffer's worth, so other connections are served meanwhile).
  void resume_later(stream_client& c);
  void drop_client(feed* f, stream_client* c);
  void maybe_release(feed& f);
  void heartbeat();
  std::function<void()> take_ready(poll_waiter& w);
  void end_cleanly(stream_client& c);
  void sweep_stalled();

  engine& eng_;
  http_server& server_;
  http_metrics& metrics_;
  stream_settings settings_;
  std::unordered_map<std::string, std::shared_ptr<feed>> feeds_;
  std::vector<std::shared_ptr<stream_client>> replays_;  // follow=false clients (no feed)
  uv_timer_t* heartbeat_ = nullptr;
  uv_timer_t* stall_sweep_ = nullptr;
  uint64_t waiters_ = 0;
  bool stopping_ = false;
  heap_trimmer trimmer_;
};

}  // namespace nullspace::api

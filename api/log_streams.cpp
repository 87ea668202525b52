#include "api/log_streams.hpp"

#include <algorithm>
#include <deque>

namespace nullspace::api {

// Entries [first, next) of one build as SSE frames, shared by every client.
struct feed_chunk {
  uint64_t first = 0, next = 0;
  std::string sse;
  std::vector<uint32_t> pos;  // pos[i]: start of entry first+i; pos.back() == sse.size()
  // The NDJSON form, made on first use (loop thread) and never changed after.
  mutable std::string nd;
  mutable std::vector<uint32_t> nd_pos;
};
using chunk_ptr = std::shared_ptr<const feed_chunk>;

struct stream_client {
  exchange_ptr ex;
  build_id id;
  tenant_id tenant;
  stream_format format = stream_format::sse;
  uint64_t cursor = 0;                  // next offset to write
  uint64_t stop_at = UINT64_MAX;        // replay without follow: the log's end at start
  std::optional<std::string> end_json;  // replay of a terminal build: its `end`
  bool done = false;
  uint64_t last_progress_ms = 0;  // loop time of the last completed write (or empty queue)
  bool resume_posted = false;     // a pump is posted to the loop (resume_later)
  std::weak_ptr<stream_client> self;
  std::weak_ptr<feed> of;  // the feed it follows; empty for a replay
};

struct poll_waiter {
  exchange_ptr ex;
  uint64_t from = 0;
  std::function<void()> ready;
  std::function<void()> on_timeout;
  uv_timer_t* timer = nullptr;  // active exactly while the waiter waits
};

struct feed {
  build_id id;
  tenant_id tenant;
  std::unique_ptr<follow_handle> sub;
  uint64_t base = 0;  // first offset held in `chunks`
  uint64_t head = 0;  // next offset the subscription will deliver
  std::deque<chunk_ptr> chunks;
  size_t retained = 0;
  std::optional<std::string> end_json;
  std::vector<std::shared_ptr<stream_client>> clients;
  std::vector<std::shared_ptr<poll_waiter>> waiters;
};

namespace {

// A store read of a replay (or of a follower behind the feed's chunks) frames
// at most this much at a time, and never more than its client's free buffer.
constexpr size_t max_page_bytes = 256u << 10;

chunk_ptr make_chunk(const std::vector<raw_entry>& es) {
  auto c = std::make_shared<feed_chunk>();
  c->first = es.front().offset;
  c->next = es.back().offset + 1;
  size_t bytes = 0;
  for (auto& e : es) bytes += e.json.size() + 40;
  c->sse.reserve(bytes);
  c->pos.reserve(es.size() + 1);
  for (auto& e : es) {
    c->pos.push_back(static_cast<uint32_t>(c->sse.size()));
    append_sse(c->sse, e);
  }
  c->pos.push_back(static_cast<uint32_t>(c->sse.size()));
  return c;
}

// The JSON of entry `i` inside the chunk's SSE text.
std::string_view entry_json(const feed_chunk& c, size_t i) {
  size_t start = c.pos[i] + 4 + std::to_string(c.first + i).size() + sse_mid.size();
  return std::string_view(c.sse).substr(start, c.pos[i + 1] - 2 - start);
}

void ensure_ndjson(const feed_chunk& c) {
  if (!c.nd_pos.empty()) return;
  size_t n = c.next - c.first;
  c.nd.reserve(c.sse.size());
  for (size_t i = 0; i < n; ++i) {
    c.nd_pos.push_back(static_cast<uint32_t>(c.nd.size()));
    c.nd += entry_json(c, i);
    c.nd.push_back('\n');
  }
  c.nd_pos.push_back(static_cast<uint32_t>(c.nd.size()));
}

void close_timer(uv_timer_t*& t) {
  if (!t) return;
  uv_timer_stop(t);
  uv_close(reinterpret_cast<uv_handle_t*>(t),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_timer_t*>(h); });
  t = nullptr;
}

}  // namespace

// A waiter leaves the waiting state exactly once: its timer closes and its
// callback is handed to the caller (empty if it had already left).
std::function<void()> log_streams::take_ready(poll_waiter& w) {
  if (!w.ready) return nullptr;
  auto ready = std::move(w.ready);
  w.ready = nullptr;
  close_timer(w.timer);
  --waiters_;
  return ready;
}

// Ends a stream with its final chunk and no `end` event (the server stops):
// the client resumes with Last-Event-ID.
void log_streams::end_cleanly(stream_client& c) {
  c.done = true;
  c.ex->on_writable = nullptr;
  c.ex->on_closed = nullptr;
  c.ex->end_stream();
}

log_streams::log_streams(engine& eng, http_server& server, http_metrics& metrics,
                         stream_settings settings)
    : eng_(eng), server_(server), metrics_(metrics), settings_(settings) {}

log_streams::~log_streams() = default;

std::shared_ptr<feed> log_streams::feed_for(const build_id& id, const tenant_id& tenant,
                                            uint64_t from) {
  if (auto it = feeds_.find(id.str()); it != feeds_.end()) return it->second;
  auto f = std::make_shared<feed>();
  f->id = id;
  f->tenant = tenant;
  f->base = f->head = from;
  std::weak_ptr<feed> wf = f;
  auto poster = server_.bridge().poster();
  follow_callbacks cb;
  // These run on an engine thread: format there, hand the chunk to the loop.
  cb.on_entries = [poster, wf, this](const std::vector<raw_entry>& es) {
    if (es.empty()) return;
    poster.post([wf, this, ch = make_chunk(es)] {
      if (auto fp = wf.lock()) on_chunk(*fp, ch);
    });
  };
  cb.on_end = [poster, wf, this](const build_view& v) {
    poster.post([wf, this, j = v.json()] {
      if (auto fp = wf.lock()) on_end(*fp, j);
    });
  };
  auto sub = eng_.follow(id, log_offset(from), std::move(cb), tenant);
  if (!sub) return nullptr;
  f->sub = std::move(sub.value());
  feeds_.emplace(id.str(), f);
  return f;
}

void log_streams::start(exchange_ptr ex, const build_view& build, uint64_t from,
                        stream_format format, bool follow, std::string prelude) {
  auto& id = build.record.id;
  std::shared_ptr<feed> f;
  if (follow && !stopping_) {
    f = feed_for(build.id(), ex->tenant, from);
    if (!f)
      return ex->respond(
          error_response(503, errc::unavailable, "the log hub is restarting; retry the request"));
  }
  ex->begin_stream(200, content_type_of(format), {{"X-Build-Id", id}});
  if (!prelude.empty()) ex->write(std::move(prelude));
  auto c = std::make_shared<stream_client>();
  c->ex = ex;
  c->id = build.id();
  c->tenant = ex->tenant;
  c->format = format;
  c->cursor = from;
  if (!f) {
    c->stop_at = build.log_next_offset;
    if (is_terminal(build.record.status)) c->end_json = build.json();
    replays_.push_back(c);
  } else {
    f->clients.push_back(c);
  }
  std::weak_ptr<stream_client> wc = c;
  std::weak_ptr<feed> wf = f;
  c->self = wc;
  c->of = wf;
  c->last_progress_ms = uv_now(server_.loop());
  ex->on_writable = [this, wc, wf] {
    auto cc = wc.lock();
    if (!cc) return;
    cc->last_progress_ms = uv_now(server_.loop());
    auto fp = wf.lock();
    pump(fp.get(), *cc);
  };
  ex->on_closed = [this, wc, wf] {
    auto cc = wc.lock();
    if (!cc) return;
    auto fp = wf.lock();
    drop_client(fp.get(), cc.get());
  };
  pump(f.get(), *c);
}

void log_streams::pump(feed* f, stream_client& c) {
  const size_t buffer = settings_.buffer_bytes;
  // Bytes this call wrote: a reader that keeps up (the kernel takes all at
  // once) would otherwise hold the loop for its whole log. Past a buffer's
  // worth the client yields and resumes after what else the loop has to do.
  size_t written = 0;
  while (!c.done && c.ex->connected() && c.ex->queued_bytes() < buffer) {
    uint64_t available = f ? f->head : c.stop_at;
    if (c.cursor >= available) break;
    if (written >= buffer) {
      if (c.ex->queued_bytes() == 0) resume_later(c);  // else on_writable comes
      return;
    }
    if (!f || c.cursor < f->base) {
      // Below what the feed holds: this client reads the store itself, a page
      // framed straight from the store's buffers into one write.
      uint64_t upto = f ? f->base : c.stop_at;
      size_t budget = std::min(buffer - c.ex->queued_bytes(), max_page_bytes);
      std::string page;
      page.reserve(budget + max_frame_overhead);
      size_t n = 0;
      auto next = eng_.scan_log(
          c.id, log_offset(c.cursor), upto,
          [&](uint64_t off, std::string_view json) {
            // Only what fits the buffer (at least one entry): a page of long
            // lines would otherwise queue megabytes per client. The rest is
            // read again when the client has taken these.
            if (n > 0 && page.size() + json.size() + max_frame_overhead > budget) return false;
            append_frame(page, off, json, c.format);
            ++n;
            return true;
          },
          c.tenant);
      if (!next || n == 0) {
        c.cursor = upto;
        continue;
      }
      c.cursor = *next;
      metrics_.events_sent(n);
      written += page.size();
      c.ex->write(std::move(page));
      continue;
    }
    auto it = std::upper_bound(f->chunks.begin(), f->chunks.end(), c.cursor,
                               [](uint64_t off, const chunk_ptr& ch) { return off < ch->first; });
    if (it == f->chunks.begin()) break;  // not expected: base <= cursor < head
    const auto& ch = *std::prev(it);
    size_t i = c.cursor - ch->first;
    bool sse = c.format == stream_format::sse;
    if (!sse) ensure_ndjson(*ch);
    const auto& text = sse ? ch->sse : ch->nd;
    const auto& pos = sse ? ch->pos : ch->nd_pos;
    // At most what fits in the buffer (at least one entry).
    size_t budget = buffer - c.ex->queued_bytes();
    size_t j = std::upper_bound(pos.begin() + i + 1, pos.end(), pos[i] + budget) - pos.begin() - 1;
    j = std::max(j, i + 1);
    c.ex->write(ch, std::string_view(text).substr(pos[i], pos[j] - pos[i]));
    written += pos[j] - pos[i];
    metrics_.events_sent(j - i);
    c.cursor = ch->first + j;
  }
  if (c.done || !c.ex->connected()) return;
  bool at_end = f ? (f->end_json && c.cursor >= f->head) : c.cursor >= c.stop_at;
  if (at_end) finish(f, c);
}

void log_streams::resume_later(stream_client& c) {
  if (c.resume_posted) return;
  c.resume_posted = true;
  server_.bridge().post([this, wc = c.self, wf = c.of] {
    auto cc = wc.lock();
    if (!cc) return;
    cc->resume_posted = false;
    if (cc->done) return;
    auto fp = wf.lock();
    pump(fp.get(), *cc);
  });
}

void log_streams::finish(feed* f, stream_client& c) {
  c.done = true;
  auto* end = f ? &*f->end_json : (c.end_json ? &*c.end_json : nullptr);
  if (end) c.ex->write(end_frame("build", *end, c.format));
  c.ex->end_stream();
  drop_client(f, &c);
}

void log_streams::drop_client(feed* f, stream_client* c) {
  auto& list = f ? f->clients : replays_;
  auto it = std::find_if(list.begin(), list.end(), [&](auto& p) { return p.get() == c; });
  if (it == list.end()) return;
  (*it)->ex->on_writable = nullptr;
  (*it)->ex->on_closed = nullptr;
  list.erase(it);
  if (f) maybe_release(*f);
}

void log_streams::maybe_release(feed& f) {
  if (!f.clients.empty() || !f.waiters.empty()) return;
  feeds_.erase(f.id.str());  // the caller still holds a reference; the subscription stops
  if (f.retained == 0) return;
  // Its chunks go now (no client holds one), before the trim is asked for.
  f.chunks.clear();
  f.retained = 0;
  trimmer_.request();
}

size_t feed_retain_limit(const stream_settings& s, size_t feeds) {
  return std::min(s.retain_bytes, s.retain_total_bytes / std::max<size_t>(1, feeds));
}

void log_streams::on_chunk(feed& f, chunk_ptr chunk) {
  if (chunk->next <= f.head) return;  // already have it
  f.chunks.push_back(chunk);
  f.head = chunk->next;
  f.retained += chunk->sse.size();
  auto limit = feed_retain_limit(settings_, feeds_.size());
  while (f.retained > limit && f.chunks.size() > 1) {
    f.retained -= f.chunks.front()->sse.size();
    f.chunks.pop_front();
    f.base = f.chunks.front()->first;
  }
  auto clients = f.clients;
  for (auto& c : clients)
    if (!c->done) pump(&f, *c);
  auto waiters = f.waiters;
  for (auto& w : waiters)
    if (w->from < f.head)
      if (auto ready = take_ready(*w)) {
        std::erase(f.waiters, w);
        ready();
      }
  maybe_release(f);
}

void log_streams::on_end(feed& f, std::string build_json) {
  f.end_json = std::move(build_json);
  auto clients = f.clients;
  for (auto& c : clients)
    if (!c->done) pump(&f, *c);
  auto waiters = std::move(f.waiters);
  f.waiters.clear();
  for (auto& w : waiters)
    if (auto ready = take_ready(*w)) ready();
  maybe_release(f);
}

void log_streams::wait(exchange_ptr ex, const build_id& id, const tenant_id& tenant, uint64_t from,
                       uint64_t wait_ms, std::function<void()> ready) {
  if (stopping_) return ready();
  auto f = feed_for(id, tenant, from);
  if (!f || f->head > from || f->end_json) return ready();
  auto w = std::make_shared<poll_waiter>();
  w->ex = ex;
  w->from = from;
  w->ready = std::move(ready);
  w->timer = new uv_timer_t;
  uv_timer_init(server_.loop(), w->timer);
  std::weak_ptr<poll_waiter> ww = w;
  std::weak_ptr<feed> wf = f;
  auto fire = [this, ww, wf](bool call) {
    auto wp = ww.lock();
    if (!wp) return;
    auto ready = take_ready(*wp);
    if (!ready) return;
    if (auto fp = wf.lock()) {
      std::erase(fp->waiters, wp);
      maybe_release(*fp);
    }
    if (call) ready();
  };
  w->on_timeout = [fire] { fire(true); };
  w->timer->data = w.get();
  uv_timer_start(
      w->timer, [](uv_timer_t* t) { static_cast<poll_waiter*>(t->data)->on_timeout(); }, wait_ms,
      0);
  ex->on_closed = [fire] { fire(false); };
  f->waiters.push_back(w);
  ++waiters_;
}

void log_streams::start_timers() {
  heartbeat_ = new uv_timer_t;
  uv_timer_init(server_.loop(), heartbeat_);
  heartbeat_->data = this;
  uv_timer_start(
      heartbeat_, [](uv_timer_t* t) { static_cast<log_streams*>(t->data)->heartbeat(); },
      settings_.heartbeat_ms, settings_.heartbeat_ms);
  auto sweep_every = std::max<uint64_t>(1, settings_.stall_timeout_ms / 4);
  stall_sweep_ = new uv_timer_t;
  uv_timer_init(server_.loop(), stall_sweep_);
  stall_sweep_->data = this;
  uv_timer_start(
      stall_sweep_, [](uv_timer_t* t) { static_cast<log_streams*>(t->data)->sweep_stalled(); },
      sweep_every, sweep_every);
}

void log_streams::heartbeat() {
  static const auto ping = std::make_shared<const std::string>(": ping\n\n");
  for (auto& [id, f] : feeds_)
    for (auto& c : f->clients)
      if (!c->done && c->format == stream_format::sse) c->ex->write(ping, *ping);
  for (auto& c : replays_)
    if (!c->done && c->format == stream_format::sse) c->ex->write(ping, *ping);
  server_.for_each_stream([](exchange& ex) {
    if (ex.sse_heartbeat) ex.write(ping, *ping);
  });
}

// A follower whose buffer is full and has not taken a byte for stall_timeout_ms
// is disconnected: it holds no more than its buffer meanwhile, and it resumes
// with Last-Event-ID once it reads again.
void log_streams::sweep_stalled() {
  auto now = uv_now(server_.loop());
  std::vector<std::pair<std::shared_ptr<feed>, std::shared_ptr<stream_client>>> stalled;
  auto check = [&](const std::shared_ptr<feed>& f, const std::shared_ptr<stream_client>& c) {
    if (c->done) return;
    if (c->ex->queued_bytes() == 0) {
      c->last_progress_ms = now;
    } else if (now - c->last_progress_ms >= settings_.stall_timeout_ms) {
      stalled.emplace_back(f, c);
    }
  };
  for (auto& [id, f] : feeds_)
    for (auto& c : f->clients) check(f, c);
  for (auto& c : replays_) check(nullptr, c);
  for (auto& [f, c] : stalled) {
    metrics_.slow_client_disconnected();
    c->done = true;
    auto ex = c->ex;
    drop_client(f.get(), c.get());
    ex->abort();
  }
}

void log_streams::shutdown() {
  stopping_ = true;
  close_timer(heartbeat_);
  close_timer(stall_sweep_);
  auto feeds = std::move(feeds_);
  feeds_.clear();
  for (auto& [id, f] : feeds) {
    for (auto& c : f->clients) end_cleanly(*c);
    f->clients.clear();
    auto waiters = std::move(f->waiters);
    for (auto& w : waiters)
      if (auto ready = take_ready(*w)) ready();
  }
  for (auto& c : replays_) end_cleanly(*c);
  replays_.clear();
}

stream_gauges log_streams::gauges() const {
  stream_gauges g;
  g.feeds = feeds_.size();
  for (auto& [id, f] : feeds_) {
    g.clients += f->clients.size();
    g.retained_bytes += f->retained;
  }
  g.clients += replays_.size();
  g.waiters = waiters_;
  return g;
}

}  // namespace nullspace::api

#include "api/subject_log_streams.hpp"

#include <optional>

namespace nullspace::api {

struct subject_log_client {
  exchange_ptr ex;
  stream_format format = stream_format::sse;
  std::string kind;
  std::unique_ptr<follow_handle> sub;  // a followed stream's subscription
  // A replay: where it reads, what it has read and not written, and the end
  // frame's object when the stream was followed (an ended object).
  std::function<result<std::vector<raw_entry>>(uint64_t from, size_t limit)> read;
  uint64_t cursor = 0;
  std::vector<raw_entry> page;
  bool read_all = false;  // the last page read was short: nothing after it
  std::optional<std::string> end_json;
  bool resume_posted = false;
  std::weak_ptr<subject_log_client> self;
};

namespace {

constexpr size_t replay_page = 1000;

}  // namespace

subject_log_streams::~subject_log_streams() {
  shutdown();
}

void subject_log_streams::start(exchange_ptr ex, log_subject subject, uint64_t from,
                                stream_format format, bool follow) {
  if (stopping_)
    return ex->respond(error_response(503, errc::unavailable, "the server is stopping"));
  auto c = std::make_shared<subject_log_client>();
  c->ex = ex;
  c->format = format;
  c->kind = subject.kind;
  auto* raw = c.get();
  std::weak_ptr<subject_log_client> weak = c;
  c->self = weak;
  // An ended object's log does not grow: replay it (and end it when followed).
  if (!follow || subject.ended) {
    auto page = subject.read(from, replay_page);
    if (!page) return ex->respond(error_response(page.error()));
    c->read_all = page->size() < replay_page;
    c->page = std::move(page.value());
    c->read = std::move(subject.read);
    if (follow) c->end_json = std::move(subject.json);
    clients_[raw] = c;
    ex->begin_stream(200, content_type_of(format));
    ex->on_writable = [this, weak] {
      if (auto cc = weak.lock()) pump_replay(*cc);
    };
    ex->on_closed = [this, raw] { drop(raw); };
    return pump_replay(*c);
  }
  auto poster = ex->server().bridge().poster();
  auto on_entries = [this, weak, poster](const std::vector<raw_entry>& es) {
    poster.post([this, weak, es] {
      if (auto c = weak.lock()) write_entries(*c, es);
    });
  };
  auto on_end = [this, weak, poster](std::string json) {
    poster.post([this, weak, json = std::move(json)] {
      if (auto c = weak.lock()) finish(c.get(), &json);
    });
  };
  // Posted callbacks run on this thread after start() returns: the stream
  // has begun by then.
  auto sub = subject.follow(from, std::move(on_entries), std::move(on_end));
  if (!sub) return ex->respond(error_response(sub.error()));
  c->sub = std::move(sub.value());
  clients_[raw] = c;
  ex->begin_stream(200, content_type_of(format));
  ex->sse_heartbeat = format == stream_format::sse;
  ex->on_closed = [this, raw] { drop(raw); };
}

void subject_log_streams::write_entries(subject_log_client& c, const std::vector<raw_entry>& es) {
  if (!c.ex->connected()) return drop(&c);
  c.ex->write(format_entries(es, c.format));
  // A client that does not read: cut it off (it resumes with Last-Event-ID).
  if (c.ex->queued_bytes() > buffer_bytes_) {
    auto ex = c.ex;
    drop(&c);
    ex->abort();
  }
}

void subject_log_streams::pump_replay(subject_log_client& c) {
  // Bytes this call wrote: a reader that keeps up (the kernel takes all at
  // once) would otherwise hold the loop for the whole log. Past a buffer's
  // worth the replay yields and resumes after what else the loop has to do.
  size_t written = 0;
  while (c.ex->connected() && c.ex->queued_bytes() < buffer_bytes_) {
    if (c.page.empty()) {
      if (c.read_all) break;
      auto next = c.read(c.cursor, replay_page);
      // The store failed mid-stream: cut the stream (no final chunk, so it
      // does not pass for the whole log); the client resumes from the last id.
      if (!next) {
        auto ex = c.ex;
        drop(&c);
        return ex->abort();
      }
      c.read_all = next->size() < replay_page;
      c.page = std::move(next.value());
      continue;
    }
    if (written >= buffer_bytes_) {
      if (c.ex->queued_bytes() > 0 || c.resume_posted) return;  // on_writable comes
      c.resume_posted = true;
      c.ex->server().bridge().post([this, weak = c.self] {
        auto cc = weak.lock();
        if (!cc) return;
        cc->resume_posted = false;
        pump_replay(*cc);
      });
      return;
    }
    auto text = format_entries(c.page, c.format);
    written += text.size();
    c.cursor = c.page.back().offset + 1;
    c.page.clear();
    c.ex->write(std::move(text));
  }
  if (!c.ex->connected()) return drop(&c);
  if (c.page.empty() && c.read_all) finish(&c, c.end_json ? &*c.end_json : nullptr);
}

void subject_log_streams::finish(subject_log_client* c, const std::string* object_json) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return;
  auto keep = it->second;
  clients_.erase(it);
  keep->ex->on_closed = nullptr;
  keep->ex->on_writable = nullptr;
  if (object_json) keep->ex->write(end_frame(keep->kind, *object_json, keep->format));
  keep->ex->end_stream();
  keep->sub.reset();
}

void subject_log_streams::drop(subject_log_client* c) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return;
  auto keep = it->second;
  clients_.erase(it);
  keep->ex->on_closed = nullptr;
  keep->ex->on_writable = nullptr;
  keep->sub.reset();
}

void subject_log_streams::shutdown() {
  stopping_ = true;
  auto all = std::move(clients_);
  clients_.clear();
  for (auto& [raw, c] : all) {
    c->ex->on_closed = nullptr;
    c->ex->on_writable = nullptr;
    c->ex->end_stream();
    c->sub.reset();
  }
}

}  // namespace nullspace::api

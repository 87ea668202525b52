#include "api/subject_log_streams.hpp"

namespace nullspace::api {

struct subject_log_client {
  exchange_ptr ex;
  stream_format format = stream_format::sse;
  std::string kind;
  std::unique_ptr<follow_handle> sub;
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
  // An ended object's log does not grow: replay it (and end it when followed).
  if (!follow || subject.ended) {
    auto page = subject.read(from, replay_page);
    if (!page) return ex->respond(error_response(page.error()));
    ex->begin_stream(200, content_type_of(format));
    while (!page->empty()) {
      ex->write(format_entries(*page, format));
      if (page->size() < replay_page) break;
      page = subject.read(page->back().offset + 1, replay_page);
      if (!page) break;
    }
    if (follow) ex->write(end_frame(subject.kind, subject.json, format));
    return ex->end_stream();
  }
  auto c = std::make_shared<subject_log_client>();
  c->ex = ex;
  c->format = format;
  c->kind = subject.kind;
  auto* raw = c.get();
  std::weak_ptr<subject_log_client> weak = c;
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

void subject_log_streams::finish(subject_log_client* c, const std::string* object_json) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return;
  auto keep = it->second;
  clients_.erase(it);
  keep->ex->on_closed = nullptr;
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
  keep->sub.reset();
}

void subject_log_streams::shutdown() {
  stopping_ = true;
  auto all = std::move(clients_);
  clients_.clear();
  for (auto& [raw, c] : all) {
    c->ex->on_closed = nullptr;
    c->ex->end_stream();
    c->sub.reset();
  }
}

}  // namespace nullspace::api

#include "api/machine_log_streams.hpp"

namespace nullspace::api {

struct machine_log_client {
  exchange_ptr ex;
  stream_format format = stream_format::sse;
  std::unique_ptr<follow_handle> sub;
};

namespace {

constexpr size_t replay_page = 1000;

}  // namespace

machine_log_streams::~machine_log_streams() {
  shutdown();
}

void machine_log_streams::start(exchange_ptr ex, const machine_id& id, uint64_t from,
                                stream_format format, bool follow) {
  if (stopping_)
    return ex->respond(error_response(503, errc::unavailable, "the server is stopping"));
  auto view = eng_.get_machine(id, ex->tenant);
  if (!view) return ex->respond(error_response(view.error()));
  // An ended machine's log does not grow: replay it and end.
  bool live = follow && !is_terminal(view->record.state);
  if (!live) {
    ex->begin_stream(200, content_type_of(format));
    for (uint64_t at = from;;) {
      auto page = eng_.read_machine_log(id, log_offset(at), replay_page, ex->tenant);
      if (!page || page->empty()) break;
      ex->write(format_entries(*page, format));
      at = page->back().offset + 1;
      if (page->size() < replay_page) break;
    }
    if (follow) ex->write(end_frame("machine", view->json(), format));
    return ex->end_stream();
  }
  auto c = std::make_shared<machine_log_client>();
  c->ex = ex;
  c->format = format;
  auto* raw = c.get();
  clients_[raw] = c;
  std::weak_ptr<machine_log_client> weak = c;
  auto poster = ex->server().bridge().poster();
  machine_follow_callbacks cb;
  cb.on_entries = [this, weak, poster](const std::vector<raw_entry>& es) {
    poster.post([this, weak, es] {
      if (auto c = weak.lock()) write_entries(*c, es);
    });
  };
  cb.on_end = [this, weak, poster](const machine_view& v) {
    poster.post([this, weak, json = v.json()] {
      if (auto c = weak.lock()) finish(c.get(), &json);
    });
  };
  ex->begin_stream(200, content_type_of(format));
  ex->sse_heartbeat = format == stream_format::sse;
  ex->on_closed = [this, raw] { drop(raw); };
  auto sub = eng_.follow_machine(id, log_offset(from), std::move(cb), ex->tenant);
  if (!sub) return finish(raw, nullptr);
  c->sub = std::move(sub.value());
}

void machine_log_streams::write_entries(machine_log_client& c, const std::vector<raw_entry>& es) {
  if (!c.ex->connected()) return drop(&c);
  c.ex->write(format_entries(es, c.format));
  // A client that does not read: cut it off (it resumes with Last-Event-ID).
  if (c.ex->queued_bytes() > buffer_bytes_) {
    auto ex = c.ex;
    drop(&c);
    ex->abort();
  }
}

void machine_log_streams::finish(machine_log_client* c, const std::string* machine_json) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return;
  auto keep = it->second;
  clients_.erase(it);
  keep->ex->on_closed = nullptr;
  if (machine_json) keep->ex->write(end_frame("machine", *machine_json, keep->format));
  keep->ex->end_stream();
  keep->sub.reset();
}

void machine_log_streams::drop(machine_log_client* c) {
  auto it = clients_.find(c);
  if (it == clients_.end()) return;
  auto keep = it->second;
  clients_.erase(it);
  keep->ex->on_closed = nullptr;
  keep->sub.reset();
}

void machine_log_streams::shutdown() {
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

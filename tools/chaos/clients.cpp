#include "tools/chaos/clients.hpp"

#include <simdjson.h>

#include <stdexcept>

#include "tests/http_client.hpp"

namespace nullspace::chaos {
namespace {

using test::http_connection;
using test::http_headers;

http_headers json_headers(const std::string& key) {
  http_headers h{{"Content-Type", "application/json"}};
  if (!key.empty()) h.emplace_back("Idempotency-Key", key);
  return h;
}

std::optional<simdjson::dom::element> at_path(simdjson::dom::element e, const std::string& path) {
  size_t from = 0;
  while (from <= path.size()) {
    auto dot = path.find('.', from);
    auto part = path.substr(from, dot == std::string::npos ? std::string::npos : dot - from);
    auto next = e[part];
    if (next.error()) return std::nullopt;
    e = next.value();
    if (dot == std::string::npos) break;
    from = dot + 1;
  }
  return e;
}

}  // namespace

void violations::add(std::string what) {
  std::lock_guard<std::mutex> g(mtx_);
  list_.push_back(std::move(what));
}

std::vector<std::string> violations::all() const {
  std::lock_guard<std::mutex> g(mtx_);
  return list_;
}

bool violations::empty() const {
  std::lock_guard<std::mutex> g(mtx_);
  return list_.empty();
}

answer request(uint16_t port, const std::string& method, const std::string& target,
               const std::string& body, const std::string& idempotency_key) {
  try {
    http_connection c(port);
    if (!c.connected()) return {};
    http_headers h = body.empty() ? http_headers{} : json_headers(idempotency_key);
    if (body.empty() && !idempotency_key.empty())
      h.emplace_back("Idempotency-Key", idempotency_key);
    if (!c.send_request(method, target, body, h)) return {};
    auto r = c.read_response();
    return {r.status, std::move(r.body)};
  } catch (const std::exception&) {
    return {};  // the daemon died mid-answer (or hung past the client's deadline)
  }
}

std::string json_string(const std::string& body, const std::string& path) {
  simdjson::dom::parser p;
  auto doc = p.parse(body);
  if (doc.error()) return {};
  auto e = at_path(doc.value(), path);
  if (!e || !e->is_string()) return {};
  return std::string(std::string_view(*e));
}

std::optional<uint64_t> json_number(const std::string& body, const std::string& path) {
  simdjson::dom::parser p;
  auto doc = p.parse(body);
  if (doc.error()) return std::nullopt;
  auto e = at_path(doc.value(), path);
  if (!e || !e->is_uint64()) return std::nullopt;
  return uint64_t(*e);
}

bool submit(uint16_t port, records& recs, size_t index) {
  auto s = recs.submit_at(index);
  auto r = request(port, "POST", "/v1/builds", s.body, s.key);
  if (r.status != 202) return false;
  auto id = json_string(r.body, "build.id");
  if (id.empty()) return false;
  recs.acknowledge(index, id);
  return true;
}

void follow(uint16_t port, records& recs, violations& v, const std::string& build, uint64_t from,
            const std::atomic<bool>& stop) {
  try {
    http_connection c(port);
    if (!c.connected()) return;
    http_headers h{{"Accept", "text/event-stream"}};
    if (from > 0) h.emplace_back("Last-Event-ID", std::to_string(from - 1));
    if (!c.send_request("GET", "/v1/builds/" + build + "/logs?follow=true", {}, h)) return;
    auto head = c.read_head();
    if (head.status != 200) return;
    simdjson::dom::parser p;
    uint64_t expect = from;
    while (!stop.load(std::memory_order_relaxed)) {
      auto ev = c.next_event();
      if (!ev) return;  // the stream ended: the daemon went (or stopped)
      if (ev->event == "end") {
        recs.saw_terminal(build);
        return;
      }
      if (ev->event != "log") continue;
      uint64_t offset = std::stoull(ev->id);
      if (offset != expect)
        v.add("build " + build + ": SSE jumped from offset " + std::to_string(expect) + " to " +
              std::to_string(offset) + " (offsets must be dense)");
      expect = offset + 1;
      auto doc = p.parse(ev->data);
      if (doc.error()) {
        v.add("build " + build + " offset " + ev->id + ": SSE data is not JSON (a torn frame)");
        return;
      }
      if (auto bad = recs.saw(build, offset, entry_hash(simdjson::minify(doc.value()))))
        v.add(*bad + " (SSE)");
    }
  } catch (const std::exception&) {
    // a read past the client's deadline or a torn connection: the daemon died
  }
}

bool poll_once(uint16_t port, records& recs, violations& v, const std::string& build,
               uint64_t offset) {
  auto r = request(port, "GET",
                   "/v1/builds/" + build + "?offset=" + std::to_string(offset) + "&limit=500");
  if (r.status != 200) return false;
  simdjson::dom::parser p;
  auto doc = p.parse(r.body);
  if (doc.error()) {
    v.add("build " + build + ": a poll's answer is not JSON");
    return true;
  }
  uint64_t expect = offset;
  for (auto e : doc["logs"].get_array()) {
    uint64_t off = e["offset"];
    if (off != expect)
      v.add("build " + build + ": a poll from " + std::to_string(offset) + " skipped to offset " +
            std::to_string(off));
    expect = off + 1;
    if (auto bad = recs.saw(build, off, entry_hash(simdjson::minify(e)))) v.add(*bad + " (poll)");
  }
  std::string_view st = doc["build"]["status"];
  uint64_t log_next = doc["build"]["log_next_offset"];
  if ((st == "ready" || st == "error" || st == "cancelled") && expect >= log_next)
    recs.saw_terminal(build);
  return true;
}

replay_result verify_log(uint16_t port, records& recs, violations& v, const std::string& build) {
  replay_result out;
  auto seen = recs.build(build);
  try {
    http_connection c(port);
    if (!c.connected()) return out;
    if (!c.send_request("GET", "/v1/builds/" + build + "/logs?offset=0", {}, {})) return out;
    auto head = c.read_head();
    if (head.status == 404) {
      v.add("build " + build + ": acknowledged or seen, now 404 (lost)");
      out.answered = true;
      return out;
    }
    if (head.status != 200) return out;
    simdjson::dom::parser p;
    uint64_t n = 0;
    while (auto line = c.next_line()) {
      if (line->empty()) continue;
      auto doc = p.parse(*line);
      if (doc.error()) {
        v.add("build " + build + ": a replayed line is not JSON");
        return out;
      }
      auto ev = doc.value()["event"];
      if (!ev.error()) {
        out.terminal = true;
        out.status = std::string(std::string_view(doc.value()["build"]["status"]));
        continue;
      }
      uint64_t off = doc.value()["offset"];
      if (off != n) {
        v.add("build " + build + ": replay offset " + std::to_string(off) + " where " +
              std::to_string(n) + " was due (offsets must be dense)");
        return out;
      }
      auto h = entry_hash(simdjson::minify(doc.value()));
      if (n < seen.hashes.size() && seen.hashes[n] != 0 && seen.hashes[n] != h)
        v.add("build " + build + " offset " + std::to_string(n) +
              ": bytes differ from what a client was shown before the crash");
      if (auto bad = recs.saw(build, n, h)) v.add(*bad + " (replay)");
      ++n;
    }
    out.entries = n;
    out.answered = true;
    uint64_t highest = 0;
    for (size_t i = 0; i < seen.hashes.size(); ++i)
      if (seen.hashes[i]) highest = i + 1;
    if (n < highest)
      v.add("build " + build + ": " + std::to_string(highest - n) +
            " entries a client was shown are gone (log has " + std::to_string(n) + ", seen up to " +
            std::to_string(highest) + ")");
    if (out.terminal) recs.saw_terminal(build);
  } catch (const std::exception& e) {
    out.answered = false;
  }
  return out;
}

}  // namespace nullspace::chaos

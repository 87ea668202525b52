#include "storage/log_entry.hpp"

#include <cassert>
#include <charconv>

#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/time_format.hpp"
#include "storage/unnumbered_entry.hpp"

namespace nullspace::storage {

namespace {

// What every encoding starts with; an unnumbered entry has offset 0 there.
constexpr std::string_view offset_key = "{\"offset\":";
constexpr size_t max_offset_digits = 20;  // UINT64_MAX

// Into `buf`'s storage (its capacity is kept).
std::string encode_into(std::string buf, const log_entry& e) {
  json::writer w(std::move(buf));
  w.begin_object();
  w.field("offset", e.offset);
  w.field("ts", rfc3339_ms(e.ts_ms));
  w.field("ts_ms", e.ts_ms);
  w.field("level", e.level);
  w.field("kind", e.kind);
  if (e.step >= 0)
    w.field("step", e.step);
  else
    w.field_null("step");
  w.field("message", e.message);
  if (!e.phase.empty()) w.field("phase", e.phase);
  if (!e.stream.empty()) w.field("stream", e.stream);
  if (!e.status.empty()) w.field("status", e.status);
  if (!e.cache_status.empty()) {
    w.key("cache").begin_object().field("status", e.cache_status).field("key", e.cache_key);
    if (!e.cache_reason.empty()) w.field("reason", e.cache_reason);
    w.end_object();
  }
  w.end_object();
  return std::move(w).str();
}

}  // namespace

std::string encode_log_entry(const log_entry& e) {
  return encode_into({}, e);
}

unnumbered_entry encode_unnumbered(log_entry e) {
  if (e.ts_ms == 0) e.ts_ms = now_ms();
  e.offset = 0;
  // The fixed fields take under 160 bytes; the rest is the strings (escaping
  // may add more, which only costs a reallocation).
  std::string buf;
  buf.reserve(160 + max_offset_digits + e.level.size() + e.kind.size() + e.message.size() +
              e.phase.size() + e.stream.size() + e.status.size() + e.cache_status.size() +
              e.cache_key.size() + e.cache_reason.size());
  return {encode_into(std::move(buf), e)};
}

std::string number_entry(unnumbered_entry&& e, uint64_t offset) {
  auto& s = e.json;
  assert(s.size() > offset_key.size() && s.compare(0, offset_key.size(), offset_key) == 0 &&
         s[offset_key.size()] == '0');
  if (offset != 0) {
    char digits[max_offset_digits];
    auto end = std::to_chars(digits, digits + sizeof digits, offset).ptr;
    s.replace(offset_key.size(), 1, digits, static_cast<size_t>(end - digits));
  }
  return std::move(s);
}

std::optional<log_entry> decode_log_entry(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get(o) != simdjson::SUCCESS) return std::nullopt;
  log_entry e;
  e.offset = jr::u64(o, "offset");
  e.ts_ms = jr::i64(o, "ts_ms");
  e.level = jr::str(o, "level", "info");
  e.kind = jr::str(o, "kind", "log");
  e.step = static_cast<int32_t>(jr::i64(o, "step", -1));
  e.message = jr::str(o, "message");
  e.phase = jr::str(o, "phase");
  e.stream = jr::str(o, "stream");
  e.status = jr::str(o, "status");
  simdjson::dom::object cache;
  if (o["cache"].get(cache) == simdjson::SUCCESS) {
    e.cache_status = jr::str(cache, "status");
    e.cache_key = jr::str(cache, "key");
    e.cache_reason = jr::str(cache, "reason");
  }
  return e;
}

bool is_warn_or_above(const log_entry& e) {
  return e.level == "warn" || e.level == "error";
}

}  // namespace nullspace::storage

namespace nullspace {

bool decode_log_entry(const raw_entry& raw, log_entry& out) {
  auto e = storage::decode_log_entry(raw.json);
  if (!e) return false;
  out = std::move(*e);
  return true;
}

}  // namespace nullspace

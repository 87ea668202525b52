#include "api/log_frames.hpp"

#include <charconv>

namespace nullspace::api {

const char* content_type_of(stream_format f) {
  return f == stream_format::sse ? "text/event-stream" : "application/x-ndjson";
}

void append_sse(std::string& out, const raw_entry& e) {
  append_frame(out, e.offset, e.json, stream_format::sse);
}

void append_frame(std::string& out, uint64_t offset, std::string_view json, stream_format f) {
  if (f == stream_format::ndjson) {
    out.append(json);
    out.push_back('\n');
    return;
  }
  char digits[20];
  char* end = std::to_chars(digits, digits + sizeof digits, offset).ptr;
  out.append("id: ", 4);
  out.append(digits, static_cast<size_t>(end - digits));
  out.append(sse_mid);
  out.append(json);
  out.append("\n\n", 2);
}

std::string format_entries(const std::vector<raw_entry>& es, stream_format f) {
  std::string out;
  for (auto& e : es) {
    if (f == stream_format::sse) {
      append_sse(out, e);
    } else {
      out += e.json;
      out.push_back('\n');
    }
  }
  return out;
}

std::string end_frame(std::string_view subject, const std::string& subject_json, stream_format f) {
  if (f == stream_format::sse) return "event: end\ndata: " + subject_json + "\n\n";
  return "{\"event\":\"end\",\"" + std::string(subject) + "\":" + subject_json + "}\n";
}

std::string entries_page_json(const std::vector<raw_entry>& es, uint64_t from) {
  std::string out = "{\"logs\":[";
  for (size_t i = 0; i < es.size(); ++i) {
    if (i) out.push_back(',');
    out += es[i].json;
  }
  out += "],\"next_offset\":";
  out += std::to_string(es.empty() ? from : es.back().offset + 1);
  out.push_back('}');
  return out;
}

}  // namespace nullspace::api

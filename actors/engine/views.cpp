// The public value types' encodings (include/nullspace/build.hpp).
#include "nullspace/build.hpp"
#include "storage/build_record.hpp"
#include "storage/common/id_access.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace {

build_id build_view::id() const {
  return known_build_id(record.id);
}

std::string build_view::json() const {
  return storage::build_api_json(record, log_next_offset);
}

std::string status_view::json() const {
  std::string out = "{\"build\":" + build.json() + ",\"logs\":[";
  for (size_t i = 0; i < logs.size(); ++i) {
    if (i) out.push_back(',');
    out += logs[i].json;
  }
  out += "],\"next_offset\":" + std::to_string(next_offset) + "}";
  return out;
}

std::string context_info::json() const {
  json::writer w;
  w.begin_object().field("id", id).field("digest", digest).field("files", files);
  w.field("bytes", bytes).end_object();
  return std::move(w).str();
}

std::string cache_mount_prune::json() const {
  json::writer w;
  w.begin_object().field("removed", removed).field("bytes_freed", bytes_freed);
  w.field("in_use", in_use).end_object();
  return std::move(w).str();
}

}  // namespace nullspace

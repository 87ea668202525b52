// What start-up reads of the builds: the unfinished ones (builds CF, u/<id>)
// and the counts by status (meta CF, build_counts), instead of every record.
#include <charconv>

#include "storage/store.hpp"

namespace nullspace::storage {

void store::for_each_unfinished_build(const std::function<void(build_record&&)>& fn) const {
  std::vector<std::string> ids;
  scan(builds_, "u/", [&](std::string_view id, std::string_view) {
    ids.emplace_back(id);
    return true;
  });
  for (auto& id : ids)
    if (auto rec = get_build(id); rec && !is_terminal(rec->status)) fn(std::move(*rec));
}

store::status_counts store::build_counts() const {
  status_counts counts{};
  auto value = get_in(meta_, "build_counts");
  if (!value) return counts;
  const char* p = value->data();
  const char* end = p + value->size();
  for (auto& n : counts) {
    while (p < end && *p == ' ') ++p;
    p = std::from_chars(p, end, n).ptr;
  }
  return counts;
}

void store::put_build_counts(write_batch& b, const status_counts& counts) {
  std::string value;
  for (auto n : counts) value.append(value.empty() ? "" : " ").append(std::to_string(n));
  b.wb_.Put(meta_, "build_counts", value);
}

// Stores written before the index: one full scan, once, at open (the rows,
// the counts and the flag in one batch).
result<bool> store::index_unfinished_builds() {
  return upgrade_once("unfinished_index", [&](write_batch& b) {
    status_counts counts{};
    scan(builds_, "b/", [&](std::string_view id, std::string_view value) {
      auto rec = decode_build_record(value);
      if (!rec) return true;
      ++counts[static_cast<size_t>(rec->status)];
      if (!is_terminal(rec->status)) b.wb_.Put(builds_, unfinished_key(id), "");
      return true;
    });
    put_build_counts(b, counts);
  });
}

}  // namespace nullspace::storage

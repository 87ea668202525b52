#include "runtime/machine/machine_users.hpp"

#include <charconv>
#include <optional>
#include <string_view>
#include <vector>

#include "runtime/machine/machine_files.hpp"

namespace nullspace::runtime {

namespace {

constexpr size_t max_db_bytes = 4 << 20;

std::optional<uint32_t> number(std::string_view s) {
  uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

using fields = std::vector<std::string_view>;

// The first line of `db` (passwd or group format: name:x:id:...) that
// `match` accepts, split at its colons.
template <class Match>
std::optional<fields> find_entry(std::string_view db, Match match) {
  while (!db.empty()) {
    auto nl = db.find('\n');
    auto line = db.substr(0, nl);
    db = nl == std::string_view::npos ? std::string_view() : db.substr(nl + 1);
    fields f;
    for (size_t pos = 0; pos <= line.size();) {
      auto colon = std::min(line.find(':', pos), line.size());
      f.push_back(line.substr(pos, colon - pos));
      pos = colon + 1;
    }
    if (f.size() >= 4 && match(f)) return f;
  }
  return std::nullopt;
}

}  // namespace

result<machine_user> resolve_machine_user(int root, const std::string& user) {
  auto colon = user.find(':');
  std::string u = user.substr(0, colon);
  std::string g = colon == std::string::npos ? "" : user.substr(colon + 1);
  if (u.empty() || (colon != std::string::npos && g.empty()))
    return make_error(errc::invalid_argument, "user must be a name or uid, optionally :group",
                      "user");
  auto passwd = read_file_at(root, "/etc/passwd", max_db_bytes);
  std::string_view pw_db = passwd ? std::string_view(*passwd) : std::string_view();
  machine_user out;
  if (auto uid = number(u)) {
    // A uid runs with the primary group of its passwd entry, or the same id.
    out.uid = *uid;
    out.gid = *uid;
    auto e = find_entry(pw_db, [&](const fields& f) { return number(f[2]) == uid; });
    if (e)
      if (auto gid = number((*e)[3])) out.gid = *gid;
  } else {
    auto e = find_entry(pw_db, [&](const fields& f) { return f[0] == u; });
    if (!e) return make_error(errc::invalid_argument, "no user " + u + " in the machine", "user");
    auto uid_field = number((*e)[2]), gid_field = number((*e)[3]);
    if (!uid_field || !gid_field)
      return make_error(errc::invalid_argument, "the machine's passwd entry of " + u + " is broken",
                        "user");
    out.uid = *uid_field;
    out.gid = *gid_field;
  }
  if (!g.empty()) {
    if (auto gid = number(g)) {
      out.gid = *gid;
    } else {
      auto groups = read_file_at(root, "/etc/group", max_db_bytes);
      std::string_view gr_db = groups ? std::string_view(*groups) : std::string_view();
      auto e = find_entry(gr_db, [&](const fields& f) { return f[0] == g; });
      auto gid_field = e ? number((*e)[2]) : std::nullopt;
      if (!gid_field)
        return make_error(errc::invalid_argument, "no group " + g + " in the machine", "user");
      out.gid = *gid_field;
    }
  }
  return out;
}

}  // namespace nullspace::runtime

// The public id types' parse functions (include/nullspace/ids.hpp): the form
// of each kind of id, checked before an id reaches the engine.
#include "nullspace/ids.hpp"

#include <algorithm>
#include <charconv>

#include "runtime/request/template_ref.hpp"
#include "storage/common/id_access.hpp"

namespace nullspace {
namespace {

error bad(std::string_view what, std::string_view s, std::string_view rule) {
  std::string shown(s.substr(0, 80));
  return make_error(errc::invalid_argument, "'" + shown + (s.size() > 80 ? "…" : "") +
                                                "' is not a " + std::string(what) + " (" +
                                                std::string(rule) + ")");
}

// `prefix` then 1-125 of [a-z0-9]: the ids the engine makes.
bool prefixed_hex_id(std::string_view s, std::string_view prefix) {
  if (s.size() <= prefix.size() || s.size() > 128 || !s.starts_with(prefix)) return false;
  return std::all_of(s.begin() + prefix.size(), s.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

template <class Id>
Id make(std::string_view s) {
  return detail::id_access::make<Id>(std::string(s));
}

}  // namespace

bool valid_name(std::string_view s) {
  auto lower_alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (s.empty() || s.size() > 63 || !lower_alnum(s[0])) return false;
  return std::all_of(s.begin(), s.end(),
                     [&](char c) { return lower_alnum(c) || c == '.' || c == '_' || c == '-'; });
}

result<build_id> parse_build_id(std::string_view s) {
  if (!runtime::valid_build_id(s)) return bad("build id", s, "tb_ followed by letters and digits");
  return make<build_id>(s);
}

result<tenant_id> parse_tenant_id(std::string_view s) {
  bool printable = std::all_of(s.begin(), s.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f;
  });
  if (s.empty() || s.size() > 128 || !printable)
    return bad("tenant", s, "1 to 128 bytes without control characters");
  return make<tenant_id>(s);
}

result<template_ref> parse_template_ref(std::string_view s) {
  if (!runtime::split_template_ref(s)) {
    auto e = bad("template ref", s,
                 "name, namespace/name, name:tag, namespace/name:tag or namespace/name@tb_…");
    e.field = "ref";
    return e;
  }
  return make<template_ref>(s);
}

result<machine_id> parse_machine_id(std::string_view s) {
  if (!prefixed_hex_id(s, "m_")) return bad("machine id", s, "m_ followed by letters and digits");
  return make<machine_id>(s);
}

result<pool_id> parse_pool_id(std::string_view s) {
  if (!prefixed_hex_id(s, "wp_")) return bad("pool id", s, "wp_ followed by letters and digits");
  return make<pool_id>(s);
}

result<context_id> parse_context_id(std::string_view s) {
  if (!prefixed_hex_id(s, "bc_")) return bad("build context id", s, "bc_ followed by hex digits");
  return make<context_id>(s);
}

const tenant_id& default_tenant() {
  static const tenant_id t = make<tenant_id>("default");
  return t;
}

result<log_offset> parse_log_offset(std::string_view s) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc{} || p != s.data() + s.size())
    return bad("log offset", s, "a non-negative integer");
  return log_offset(v);
}

}  // namespace nullspace

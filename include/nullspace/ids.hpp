// Strong id types. Each kind of id is its own type, so an API that takes a
// build_id and a tenant_id cannot be called with the two swapped: it does not
// compile. Ids are made by the parse functions below (which validate) or
// come back from the engine; an embedder never builds one from a raw string
// without checking it.
//
//   auto id = nullspace::parse_build_id(argv[1]);
//   if (!id) { std::cerr << id.error().message; return 2; }
//   auto st = eng->get_status(*id);
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

#include "nullspace/error.hpp"

namespace nullspace {

namespace detail {
// The engine's own way to make ids it has already validated (defined in the
// library, not in any public header).
struct id_access;
}  // namespace detail

// One kind of string id, told apart by `Tag`.
template <class Tag>
class basic_id {
 public:
  basic_id() = default;  // the empty id: names nothing
  const std::string& str() const noexcept { return value_; }
  bool empty() const noexcept { return value_.empty(); }
  friend bool operator==(const basic_id&, const basic_id&) = default;
  friend auto operator<=>(const basic_id&, const basic_id&) = default;

 private:
  explicit basic_id(std::string value) : value_(std::move(value)) {}
  friend struct detail::id_access;
  std::string value_;
};

struct build_id_tag {};
struct tenant_id_tag {};
struct template_ref_tag {};
struct machine_id_tag {};
struct pool_id_tag {};
struct context_id_tag {};

using build_id = basic_id<build_id_tag>;          // "tb_…"
using tenant_id = basic_id<tenant_id_tag>;        // the owner of builds, templates, machines
using template_ref = basic_id<template_ref_tag>;  // name, ns/name, name:tag, ns/name@tb_…
using machine_id = basic_id<machine_id_tag>;      // "m_…"
using pool_id = basic_id<pool_id_tag>;            // "wp_…"
using context_id = basic_id<context_id_tag>;      // "bc_…"

// Each checks the form of its id and says what is wrong (invalid_argument).
// A well-formed id may still name nothing: the engine answers not_found.
result<build_id> parse_build_id(std::string_view s);
result<tenant_id> parse_tenant_id(std::string_view s);  // 1-128 bytes, no control chars
result<template_ref> parse_template_ref(std::string_view s);
result<machine_id> parse_machine_id(std::string_view s);
result<pool_id> parse_pool_id(std::string_view s);
result<context_id> parse_context_id(std::string_view s);

// The tenant of an engine used without tenants (and of nullspaced without API keys).
const tenant_id& default_tenant();

// [a-z0-9][a-z0-9._-]{0,62}: the rule for names, namespaces, tags and aliases.
bool valid_name(std::string_view s);

// A position in a durable log: entries are numbered densely from 0.
class log_offset {
 public:
  constexpr log_offset() = default;
  constexpr explicit log_offset(uint64_t value) : value_(value) {}
  constexpr uint64_t value() const { return value_; }
  constexpr log_offset next() const { return log_offset(value_ + 1); }
  friend constexpr bool operator==(log_offset, log_offset) = default;
  friend constexpr auto operator<=>(log_offset, log_offset) = default;

 private:
  uint64_t value_ = 0;
};

// A decimal offset ("0", "42"), as in ?offset= and Last-Event-ID.
result<log_offset> parse_log_offset(std::string_view s);

}  // namespace nullspace

template <class Tag>
struct std::hash<nullspace::basic_id<Tag>> {
  size_t operator()(const nullspace::basic_id<Tag>& id) const noexcept {
    return std::hash<std::string>{}(id.str());
  }
};

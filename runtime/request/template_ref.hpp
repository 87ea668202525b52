// Template refs (API.md "Template refs"): `name`, `namespace/name`, `name:tag`,
// `namespace/name:tag` and the canonical `namespace/name@tb_…`.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nullspace::runtime {

struct template_ref_parts {
  std::string namespace_name;  // empty: the caller's default namespace
  std::string name;            // a template name or an alias
  std::string tag;             // empty unless `:tag`
  std::string build_id;        // empty unless `@tb_…`

  // What the ref names when resolved to one build: its tag, its build, or
  // `latest` for a bare name.
  std::string tag_or_latest() const { return tag.empty() ? "latest" : tag; }
  bool names_build() const { return !tag.empty() || !build_id.empty(); }
};

// nullopt unless `s` is one of the forms above with valid names and tags.
std::optional<template_ref_parts> split_template_ref(std::string_view s);

// tb_ followed by 1-125 of [A-Za-z0-9_.-]: the form of a build id.
bool valid_build_id(std::string_view s);

// namespace/name@tb_… of a build.
std::string canonical_ref(std::string_view ns, std::string_view name, std::string_view build_id);

}  // namespace nullspace::runtime

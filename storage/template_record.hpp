// A template family (column family `templates`, key t/<namespace>/<name>): the
// long-lived identity builds, tags and aliases hang off. Tags live beside it
// (g/<ns>/<name>/<tag> → build id), aliases too (a/<ns>/<alias> → name), and
// each namespace records its owner (n/<ns> → tenant).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::storage {

struct template_record {
  std::string namespace_name;
  std::string name;
  std::string tenant;                  // owner; never shown
  std::string visibility = "private";  // private | public
  int64_t created_ms = 0;
  std::vector<std::string> aliases;  // kept sorted
  std::string latest_ready;          // the newest build that became ready ("" = none)
  int64_t latest_ready_ms = 0;       // when it did
};

std::string encode_template_record(const template_record& t);
std::optional<template_record> decode_template_record(std::string_view json);

}  // namespace nullspace::storage

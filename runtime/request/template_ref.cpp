#include "runtime/request/template_ref.hpp"

#include "nullspace/ids.hpp"

namespace nullspace::runtime {

bool valid_build_id(std::string_view s) {
  if (s.size() < 4 || s.size() > 128 || s.substr(0, 3) != "tb_") return false;
  for (char c : s.substr(3)) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<template_ref_parts> split_template_ref(std::string_view s) {
  template_ref_parts r;
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    r.namespace_name = s.substr(0, slash);
    if (!valid_name(r.namespace_name)) return std::nullopt;
    s.remove_prefix(slash + 1);
  }
  if (auto at = s.find('@'); at != std::string_view::npos) {
    r.build_id = s.substr(at + 1);
    if (!valid_build_id(r.build_id)) return std::nullopt;
    s = s.substr(0, at);
  } else if (auto colon = s.find(':'); colon != std::string_view::npos) {
    r.tag = s.substr(colon + 1);
    if (!valid_name(r.tag)) return std::nullopt;
    s = s.substr(0, colon);
  }
  r.name = s;
  if (!valid_name(r.name)) return std::nullopt;
  return r;
}

std::string canonical_ref(std::string_view ns, std::string_view name, std::string_view build_id) {
  std::string out(ns);
  out.append("/").append(name).append("@").append(build_id);
  return out;
}

}  // namespace nullspace::runtime

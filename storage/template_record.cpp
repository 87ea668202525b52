#include "storage/template_record.hpp"

#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace::storage {

std::string encode_template_record(const template_record& t) {
  json::writer w;
  w.begin_object();
  w.field("namespace", t.namespace_name).field("name", t.name).field("tenant", t.tenant);
  w.field("visibility", t.visibility).field("created_ms", t.created_ms);
  w.key("aliases").begin_array();
  for (auto& a : t.aliases) w.value(a);
  w.end_array();
  w.field("latest_ready", t.latest_ready).field("latest_ready_ms", t.latest_ready_ms);
  w.end_object();
  return std::move(w).str();
}

std::optional<template_record> decode_template_record(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (parser.parse(json.data(), json.size()).get(o) != simdjson::SUCCESS) return std::nullopt;
  template_record t;
  t.namespace_name = jr::str(o, "namespace");
  t.name = jr::str(o, "name");
  if (t.name.empty()) return std::nullopt;
  t.tenant = jr::str(o, "tenant");
  t.visibility = jr::str(o, "visibility", "private");
  t.created_ms = jr::i64(o, "created_ms");
  t.aliases = jr::strings(o, "aliases");
  t.latest_ready = jr::str(o, "latest_ready");
  t.latest_ready_ms = jr::i64(o, "latest_ready_ms");
  return t;
}

}  // namespace nullspace::storage

#include "runtime/artifact/template_config.hpp"

#include <simdjson.h>

#include "storage/common/json_reader.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace::runtime {

std::string template_config::json() const {
  json::writer w;
  w.begin_object();
  w.key("env").begin_array();
  for (auto& e : env) w.value(e);
  w.end_array();
  w.key("runtime_envs").begin_object();
  for (auto& [k, v] : runtime_envs) w.field(k, v);
  w.end_object();
  w.field("user", user).field("uid", uid).field("gid", gid).field("workdir", workdir);
  if (start_cmd.empty())
    w.field_null("start_cmd");
  else
    w.field("start_cmd", start_cmd);
  if (ready.type == ready_type::none)
    w.field_null("ready");
  else
    w.field_raw("ready", ready_check_json(ready));
  w.field("ready_timeout_ms", ready_timeout_ms);
  w.key("labels").begin_object();
  for (auto& [k, v] : labels) w.field(k, v);
  w.end_object();
  w.key("exposed_ports").begin_array();
  for (auto& p : exposed_ports) w.value(p);
  w.end_array();
  // Only when set, so the config (and the artifact id hashing it) of a
  // template without them stays what it was.
  auto list = [&](std::string_view key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    w.key(key).begin_array();
    for (auto& i : items) w.value(i);
    w.end_array();
  };
  list("volumes", volumes);
  if (!stop_signal.empty()) w.field("stop_signal", stop_signal);
  list("onbuild", onbuild);
  w.end_object();
  return std::move(w).str();
}

namespace {

// {"K": "V", …} in document order.
env_list string_map(simdjson::dom::object o, std::string_view key) {
  env_list out;
  simdjson::dom::object m;
  if (o[key].get(m) != simdjson::SUCCESS) return out;
  for (auto [k, v] : m) {
    std::string_view value;
    if (v.get(value) == simdjson::SUCCESS) out.emplace_back(std::string(k), std::string(value));
  }
  return out;
}

result<ready_check> parse_ready(simdjson::dom::object o) {
  ready_check r;
  simdjson::dom::element el;
  if (o["ready"].get(el) != simdjson::SUCCESS || el.is_null()) return r;
  simdjson::dom::object ready;
  if (el.get(ready) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, "template config: ready is not an object");
  auto type = storage::jr::str(ready, "type");
  if (type == "port") {
    r.type = ready_type::port;
    r.port = static_cast<uint32_t>(storage::jr::u64(ready, "port"));
  } else if (type == "url") {
    r.type = ready_type::url;
    r.url = storage::jr::str(ready, "url");
  } else if (type == "file") {
    r.type = ready_type::file;
    r.path = storage::jr::str(ready, "path");
  } else if (type == "command") {
    r.type = ready_type::command;
    r.cmd = storage::jr::str(ready, "cmd");
  } else {
    return make_error(errc::invalid_argument,
                      "template config: unknown ready check type '" + type + "'");
  }
  r.interval_ms = static_cast<uint32_t>(storage::jr::u64(ready, "interval_ms"));
  r.timeout_ms = static_cast<uint32_t>(storage::jr::u64(ready, "timeout_ms"));
  r.start_period_ms = static_cast<uint32_t>(storage::jr::u64(ready, "start_period_ms"));
  r.retries = static_cast<uint32_t>(storage::jr::u64(ready, "retries"));
  return r;
}

}  // namespace

result<template_config> parse_template_config(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::padded_string text(json);
  simdjson::dom::element root;
  if (auto err = parser.parse(text).get(root); err != simdjson::SUCCESS)
    return make_error(errc::invalid_argument,
                      std::string("template config is not JSON: ") + simdjson::error_message(err));
  simdjson::dom::object o;
  if (root.get(o) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, "template config is not a JSON object");
  namespace jr = storage::jr;
  template_config c;
  c.env = jr::strings(o, "env");
  c.runtime_envs = string_map(o, "runtime_envs");
  c.user = jr::str(o, "user", c.user);
  c.uid = static_cast<uint32_t>(jr::u64(o, "uid"));
  c.gid = static_cast<uint32_t>(jr::u64(o, "gid"));
  c.workdir = jr::str(o, "workdir", c.workdir);
  c.start_cmd = jr::str(o, "start_cmd");  // null: none
  auto ready = parse_ready(o);
  if (!ready) return ready.error();
  c.ready = *ready;
  c.ready_timeout_ms = static_cast<uint32_t>(jr::u64(o, "ready_timeout_ms"));
  c.labels = string_map(o, "labels");
  c.exposed_ports = jr::strings(o, "exposed_ports");
  c.volumes = jr::strings(o, "volumes");
  c.stop_signal = jr::str(o, "stop_signal");
  c.onbuild = jr::strings(o, "onbuild");
  return c;
}

}  // namespace nullspace::runtime

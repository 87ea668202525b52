#include "runtime/artifact/template_config.hpp"

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
  w.end_object();
  return std::move(w).str();
}

}  // namespace nullspace::runtime

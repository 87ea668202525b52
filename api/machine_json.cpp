#include "api/machine_json.hpp"

#include <simdjson.h>

#include <charconv>

#include "api/json_body.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/time_format.hpp"

namespace nullspace::api {
namespace {

error bad(std::string_view field, std::string message) {
  return make_error(errc::invalid_argument, std::move(message), std::string(field));
}

// {"NAME": "value", …} in document order.
result<env_pairs> string_map(simdjson::dom::object o, std::string_view key) {
  simdjson::dom::element el;
  if (o[key].get(el) != simdjson::SUCCESS || el.is_null()) return env_pairs{};
  simdjson::dom::object m;
  if (el.get(m) != simdjson::SUCCESS)
    return bad(key, std::string(key) + " must be an object of strings");
  env_pairs out;
  for (auto kv : m) {
    std::string_view v;
    if (kv.value.get(v) != simdjson::SUCCESS)
      return bad(std::string(key) + "." + std::string(kv.key),
                 std::string(key) + " values must be strings");
    out.emplace_back(std::string(kv.key), std::string(v));
  }
  return out;
}

result<simdjson::dom::object> object_of(simdjson::dom::parser& parser, const std::string& body) {
  return parse_object_body(parser, body, false);
}

}  // namespace

result<machine_request> parse_machine_request(const std::string& body) {
  simdjson::dom::parser parser;
  auto o = object_of(parser, body);
  if (!o) return o.error();
  if (auto k = only_known(
          *o,
          {"template", "envs", "cpu_count", "memory_mb", "timeout_ms", "labels", "internet_access",
           "wait", "warm_pool", "warm_pool_mode", "warm_pool_wait_ms"},
          "a machine request");
      !k)
    return k.error();
  machine_request r;
  auto tmpl = optional_string(*o, "template");
  if (!tmpl) return tmpl.error();
  r.template_ref = tmpl->value_or("");
  auto envs = string_map(*o, "envs");
  if (!envs) return envs.error();
  r.envs = std::move(envs.value());
  auto labels = string_map(*o, "labels");
  if (!labels) return labels.error();
  r.labels = std::move(labels.value());
  auto cpu = optional_u32(*o, "cpu_count");
  if (!cpu) return cpu.error();
  r.cpu_count = *cpu;
  auto mem = optional_u32(*o, "memory_mb");
  if (!mem) return mem.error();
  r.memory_mb = *mem;
  auto timeout = optional_u64(*o, "timeout_ms");
  if (!timeout) return timeout.error();
  r.timeout_ms = *timeout;
  auto net = optional_bool(*o, "internet_access");
  if (!net) return net.error();
  r.internet_access = *net;
  auto wait = optional_bool(*o, "wait");
  if (!wait) return wait.error();
  r.wait = wait->value_or(true);
  auto pool = optional_string(*o, "warm_pool");
  if (!pool) return pool.error();
  r.warm_pool = pool->value_or("");
  auto mode = optional_string(*o, "warm_pool_mode");
  if (!mode) return mode.error();
  r.warm_pool_mode = mode->value_or("");
  auto pool_wait = optional_u64(*o, "warm_pool_wait_ms");
  if (!pool_wait) return pool_wait.error();
  r.warm_pool_wait_ms = *pool_wait;
  // A pool names its template.
  if (r.template_ref.empty() && r.warm_pool.empty())
    return bad("template",
               "template is required (unless warm_pool names a pool): a template ref such as "
               "\"web\" or \"web:stable\"");
  return r;
}

result<command_request> parse_command_request(const std::string& body) {
  simdjson::dom::parser parser;
  auto o = object_of(parser, body);
  if (!o) return o.error();
  if (auto k = only_known(
          *o, {"cmd", "shell", "envs", "cwd", "user", "timeout_ms", "stdin", "background"},
          "a command");
      !k)
    return k.error();
  command_request r;
  simdjson::dom::element cmd;
  if ((*o)["cmd"].get(cmd) != simdjson::SUCCESS || cmd.is_null())
    return bad("cmd", "cmd is required: a program (string) or its argv (array of strings)");
  std::string_view line;
  simdjson::dom::array argv;
  if (cmd.get(line) == simdjson::SUCCESS) {
    r.cmd = std::string(line);
  } else if (cmd.get(argv) == simdjson::SUCCESS) {
    for (auto a : argv) {
      std::string_view s;
      if (a.get(s) != simdjson::SUCCESS) return bad("cmd", "cmd as an array holds only strings");
      r.argv.emplace_back(s);
    }
    if (r.argv.empty()) return bad("cmd", "cmd as an array needs at least the program");
  } else {
    return bad("cmd", "cmd must be a string or an array of strings");
  }
  auto shell = optional_bool(*o, "shell");
  if (!shell) return shell.error();
  r.shell = shell->value_or(false);
  if (r.shell && !r.argv.empty())
    return bad("shell", "shell runs one command line: give cmd as a string, not an array");
  auto envs = string_map(*o, "envs");
  if (!envs) return envs.error();
  r.envs = std::move(envs.value());
  auto cwd = optional_string(*o, "cwd");
  if (!cwd) return cwd.error();
  r.cwd = cwd->value_or("");
  auto user = optional_string(*o, "user");
  if (!user) return user.error();
  r.user = user->value_or("");
  auto timeout = optional_u64(*o, "timeout_ms");
  if (!timeout) return timeout.error();
  r.timeout_ms = *timeout;
  auto in = optional_string(*o, "stdin");
  if (!in) return in.error();
  r.stdin_data = in->value_or("");
  auto bg = optional_bool(*o, "background");
  if (!bg) return bg.error();
  r.background = bg->value_or(false);
  return r;
}

result<uint64_t> parse_timeout_request(const std::string& body) {
  simdjson::dom::parser parser;
  auto o = object_of(parser, body);
  if (!o) return o.error();
  if (auto k = only_known(*o, {"timeout_ms"}, "a timeout request"); !k) return k.error();
  auto t = optional_u64(*o, "timeout_ms");
  if (!t) return t.error();
  if (!*t || **t == 0) return bad("timeout_ms", "timeout_ms is required: milliseconds from now");
  return **t;
}

namespace {

void write_outcome(json::writer& w, const command_result& r) {
  if (r.running)
    w.field_null("exit_code");
  else
    w.field("exit_code", r.exit_code);
  w.field("duration_ms", r.duration_ms)
      .field("truncated", r.truncated)
      .field("timed_out", r.timed_out)
      .field("killed", r.killed)
      .field("oom", r.oom);
  if (r.error.empty())
    w.field_null("error");
  else
    w.field("error", r.error);
}

}  // namespace

std::string command_result_json(const command_result& r, bool with_progress) {
  json::writer w;
  w.begin_object();
  if (with_progress) w.field("command_id", r.command_id).field("running", r.running);
  w.field("stdout", r.stdout_data).field("stderr", r.stderr_data);
  write_outcome(w, r);
  if (with_progress) w.field("stdout_next", r.stdout_next).field("stderr_next", r.stderr_next);
  w.end_object();
  return std::move(w).str();
}

std::string command_exit_json(const command_result& r) {
  json::writer w;
  w.begin_object();
  write_outcome(w, r);
  w.end_object();
  return std::move(w).str();
}

std::string command_output_json(std::string_view data) {
  json::writer w;
  w.begin_object().field("data", data).end_object();
  return std::move(w).str();
}

namespace {

std::string octal(uint32_t mode) {
  char buf[8];
  snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

void write_file_info(json::writer& w, const file_info& f, const std::string& path) {
  w.begin_object()
      .field("name", f.name)
      .field("path", path)
      .field("type", f.type)
      .field("size", f.size)
      .field("mode", octal(f.mode))
      .field("uid", f.uid)
      .field("gid", f.gid);
  storage::write_time(w, "modified_at", f.mtime_ms);
  w.end_object();
}

std::string child_path(const std::string& dir, const std::string& name) {
  return dir.ends_with('/') ? dir + name : dir + "/" + name;
}

}  // namespace

std::string file_info_json(const file_info& f, const std::string& path) {
  json::writer w;
  w.begin_object().key("file");
  write_file_info(w, f, path);
  w.end_object();
  return std::move(w).str();
}

std::string file_list_json(const std::string& path, const std::vector<file_info>& entries) {
  json::writer w;
  w.begin_object().field("path", path).key("entries").begin_array();
  for (auto& e : entries) write_file_info(w, e, child_path(path, e.name));
  w.end_array().end_object();
  return std::move(w).str();
}

result<uint32_t> parse_mode(std::string_view text, std::string_view field) {
  uint32_t mode = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), mode, 8);
  if (text.empty() || ec != std::errc{} || p != text.data() + text.size() || mode > 07777)
    return bad(field, std::string(field) + " must be octal permission bits such as 0644");
  return mode;
}

}  // namespace nullspace::api

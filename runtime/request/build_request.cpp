#include "runtime/request/build_request.hpp"

#include <algorithm>

#include "storage/common/json_writer.hpp"

namespace nullspace::runtime {

const char* to_string(source_type t) {
  switch (t) {
    case source_type::python_image:
      return "python_image";
    case source_type::image:
      return "image";
    case source_type::dockerfile:
      return "dockerfile";
    case source_type::template_ref:
      return "template";  // the API's name for it
  }
  return "unknown";
}

const char* to_string(step_type t) {
  switch (t) {
    case step_type::apt_install:
      return "apt_install";
    case step_type::pip_install:
      return "pip_install";
    case step_type::npm_install:
      return "npm_install";
    case step_type::run:
      return "run";
    case step_type::copy:
      return "copy";
    case step_type::git_clone:
      return "git_clone";
    case step_type::env:
      return "env";
    case step_type::workdir:
      return "workdir";
    case step_type::user:
      return "user";
    case step_type::from:
      return "from";
  }
  return "unknown";
}

const char* to_string(ready_type t) {
  switch (t) {
    case ready_type::none:
      return "none";
    case ready_type::port:
      return "port";
    case ready_type::url:
      return "url";
    case ready_type::file:
      return "file";
    case ready_type::command:
      return "command";
  }
  return "unknown";
}

const char* to_string(build_backend b) {
  switch (b) {
    case build_backend::native:
      return "native";
    case build_backend::buildkit:
      return "buildkit";
  }
  return "unknown";
}

std::string canonical_step_json(const build_step& step) {
  json::writer w;
  w.begin_object().field("type", to_string(step.type));
  auto strings = [&](std::string_view key, const std::vector<std::string>& list) {
    w.key(key).begin_array();
    for (auto& s : list) w.value(s);
    w.end_array();
  };
  auto optional = [&](std::string_view key, const std::string& v) {
    if (!v.empty()) w.field(key, v);
  };
  auto inline_files = [&] {
    if (step.inline_files.empty()) return;
    w.key("inline_files").begin_array();
    for (auto& [name, content] : step.inline_files)
      w.begin_object().field("name", name).field("content", content).end_object();
    w.end_array();
  };
  switch (step.type) {
    case step_type::apt_install:
    case step_type::pip_install:
      strings("packages", step.packages);
      break;
    case step_type::npm_install:
      strings("packages", step.packages);
      w.field("global", step.global);
      break;
    case step_type::run:
      w.field("cmd", step.cmd);
      if (!step.secrets.empty()) strings("secrets", step.secrets);  // ids only
      if (!step.argv.empty()) strings("argv", step.argv);
      if (!step.secret_mounts.empty()) {
        w.key("secret_mounts").begin_array();
        for (auto& m : step.secret_mounts)
          w.begin_object()
              .field("id", m.id)
              .field("target", m.target)
              .field("required", m.required)
              .end_object();
        w.end_array();
      }
      if (!step.tmpfs.empty()) strings("tmpfs", step.tmpfs);
      if (!step.caches.empty()) {  // what is mounted where, never what the dirs hold
        w.key("caches").begin_array();
        for (auto& c : step.caches) {
          w.begin_object().field("id", c.id).field("target", c.target).field("sharing", c.sharing);
          if (c.readonly) w.field("ro", true);
          w.field("mode", c.mode).field("uid", c.uid).field("gid", c.gid);
          w.end_object();
        }
        w.end_array();
      }
      if (!step.binds.empty()) {
        w.key("binds").begin_array();
        for (auto& b : step.binds) {
          w.begin_object().field("source", b.source).field("target", b.target);
          if (!b.context.empty()) w.field("context", b.context);
          if (b.from_stage >= 0) w.field("from_stage", static_cast<int64_t>(b.from_stage));
          if (!b.image.empty()) w.field("from_image", b.image);
          if (b.writable) w.field("rw", true);
          w.end_object();
        }
        w.end_array();
      }
      if (!step.args.empty()) {
        w.key("args").begin_object();
        for (auto& [k, v] : step.args) w.field(k, v);
        w.end_object();
      }
      inline_files();
      // network_none is left out for the reason internet_access is (plan.cpp).
      break;
    case step_type::copy:
      w.field("src", step.src).field("dest", step.dest);
      optional("context", step.context);
      optional("chown", step.chown);
      optional("chmod", step.chmod);
      optional("url", step.url);
      optional("checksum", step.checksum);
      if (step.extract) w.field("extract", true);
      inline_files();
      if (step.from_stage >= 0) w.field("from_stage", static_cast<int64_t>(step.from_stage));
      optional("from_image", step.image);
      break;
    case step_type::from:
      // The stage's name and number do not change what it holds.
      if (step.from_stage >= 0)
        w.field("from_stage", static_cast<int64_t>(step.from_stage));
      else
        w.field("image", step.image);
      break;
    case step_type::git_clone:
      w.field("url", step.url).field("dest", step.dest);
      optional("ref", step.ref);
      break;
    case step_type::env:
      w.key("envs").begin_object();
      for (auto& [k, v] : step.envs) w.field(k, v);
      w.end_object();
      if (step.image_env) w.field("image_env", true);
      break;
    case step_type::workdir:
      w.field("path", step.path);
      break;
    case step_type::user:
      w.field("name", step.user);
      break;
  }
  w.end_object();
  return std::move(w).str();
}

std::string url_for_messages(std::string_view url) {
  auto scheme = url.find("://");
  if (scheme == std::string_view::npos) return std::string(url);
  auto host_start = scheme + 3;
  auto at = url.find('@', host_start);
  auto slash = url.find('/', host_start);
  if (at == std::string_view::npos || (slash != std::string_view::npos && at > slash))
    return std::string(url);
  return std::string(url.substr(0, host_start)) + "***@" + std::string(url.substr(at + 1));
}

std::string url_file_name(std::string_view url) {
  auto scheme = url.find("://");
  auto rest = scheme == std::string_view::npos ? url : url.substr(scheme + 3);
  rest = rest.substr(0, rest.find_first_of("?#"));
  auto slash = rest.find('/');
  if (slash == std::string_view::npos) return "";
  auto path = rest.substr(slash);
  auto name = path.substr(path.rfind('/') + 1);
  if (name == "." || name == "..") return "";
  return std::string(name);
}

std::string ready_check_json(const ready_check& check) {
  json::writer w;
  w.begin_object().field("type", to_string(check.type));
  switch (check.type) {
    case ready_type::port:
      w.field("port", check.port);
      break;
    case ready_type::url:
      w.field("url", check.url);
      break;
    case ready_type::file:
      w.field("path", check.path);
      break;
    case ready_type::command:
      w.field("cmd", check.cmd);
      break;
    case ready_type::none:
      break;
  }
  if (check.interval_ms != 0) w.field("interval_ms", check.interval_ms);
  if (check.timeout_ms != 0) w.field("timeout_ms", check.timeout_ms);
  if (check.start_period_ms != 0) w.field("start_period_ms", check.start_period_ms);
  if (check.retries != 0) w.field("retries", check.retries);
  w.end_object();
  return std::move(w).str();
}

}  // namespace nullspace::runtime

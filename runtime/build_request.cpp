#include "runtime/build_request.hpp"

#include <algorithm>

#include "storage/json_writer.hpp"

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

std::vector<std::string> required_secret_ids(const build_request& req) {
  std::vector<std::string> ids;
  for (auto& s : req.secrets) ids.push_back(s.id);
  for (auto& step : req.steps) ids.insert(ids.end(), step.secrets.begin(), step.secrets.end());
  if (req.source.type == source_type::dockerfile)
    for (auto& m : dockerfile_secret_mounts(req.source.dockerfile))
      if (m.required) ids.push_back(m.id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);  // ASCII letters only; fine for "RUN"
         });
}

// One --mount= value, e.g. "type=secret,id=npm_token,required=false".
void scan_mount(std::string_view spec, std::vector<dockerfile_secret_mount>& out) {
  if (spec.size() >= 2 && (spec.front() == '"' || spec.front() == '\'') &&
      spec.back() == spec.front())
    spec = spec.substr(1, spec.size() - 2);
  bool secret = false;
  dockerfile_secret_mount m;
  std::string_view target;
  while (!spec.empty()) {
    auto comma = spec.find(',');
    auto part = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    auto eq = part.find('=');
    auto key = part.substr(0, eq);
    auto value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
    if (key == "type") {
      secret = value == "secret";
    } else if (key == "id") {
      m.id = value;
    } else if (key == "target" || key == "dst" || key == "destination") {
      target = value;
    } else if (key == "required") {
      // A bare "required" means true; BuildKit parses the value as a boolean.
      m.required = !(value == "0" || iequals(value, "false"));
    }
  }
  if (!secret) return;
  if (m.id.empty()) m.id = target.substr(target.rfind('/') + 1);  // BuildKit's default id
  if (!m.id.empty()) out.push_back(std::move(m));
}

// One logical instruction line (continuations already joined).
void scan_instruction(std::string_view line, std::vector<dockerfile_secret_mount>& out) {
  bool first = true;
  while (true) {
    line = trim(line);
    if (line.empty()) return;
    auto end = std::find_if(line.begin(), line.end(), is_space) - line.begin();
    auto token = line.substr(0, static_cast<size_t>(end));
    line.remove_prefix(static_cast<size_t>(end));
    if (first) {
      if (!iequals(token, "RUN")) return;
      first = false;
      continue;
    }
    // Flags come before the command; "--mount=" inside the command is not a mount.
    if (token.substr(0, 2) != "--") return;
    if (token.substr(0, 8) == "--mount=") scan_mount(token.substr(8), out);
  }
}

}  // namespace

std::vector<dockerfile_secret_mount> dockerfile_secret_mounts(std::string_view dockerfile) {
  std::vector<dockerfile_secret_mount> out;
  std::string instruction;
  size_t pos = 0;
  while (pos <= dockerfile.size()) {
    auto nl = std::min(dockerfile.find('\n', pos), dockerfile.size());
    auto line = dockerfile.substr(pos, nl - pos);
    pos = nl + 1;
    auto t = trim(line);
    if (!t.empty() && t.front() == '#') continue;  // comments, also inside continuations
    bool continues = !t.empty() && t.back() == '\\';
    if (continues) t.remove_suffix(1);
    instruction.append(t).push_back(' ');
    if (!continues) {
      scan_instruction(instruction, out);
      instruction.clear();
    }
  }
  scan_instruction(instruction, out);
  return out;
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
      break;
    case step_type::copy:
      w.field("src", step.src).field("dest", step.dest);
      optional("context", step.context);
      break;
    case step_type::git_clone:
      w.field("url", step.url).field("dest", step.dest);
      optional("ref", step.ref);
      break;
    case step_type::env:
      w.key("envs").begin_object();
      for (auto& [k, v] : step.envs) w.field(k, v);
      w.end_object();
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
  w.end_object();
  return std::move(w).str();
}

}  // namespace nullspace::runtime

#include "runtime/dockerfile/dockerfile.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>

#include "runtime/request/file_mode.hpp"
#include "runtime/request/image_ref.hpp"

namespace nullspace::runtime {
namespace {

// A HEALTHCHECK's ready deadline beyond its probes: their own start-up (runc exec).
constexpr uint64_t deadline_slack_ms = 5000;

namespace syn = dockerfile_syntax;

const std::vector<std::string> default_shell{"/bin/sh", "-c"};

// The platform arguments BuildKit predefines: this machine builds linux/amd64.
const std::map<std::string, std::string> platform_args{{"TARGETPLATFORM", "linux/amd64"},
                                                       {"TARGETOS", "linux"},
                                                       {"TARGETARCH", "amd64"},
                                                       {"TARGETVARIANT", ""},
                                                       {"BUILDPLATFORM", "linux/amd64"},
                                                       {"BUILDOS", "linux"},
                                                       {"BUILDARCH", "amd64"},
                                                       {"BUILDVARIANT", ""}};

bool valid_var_name(std::string_view s) {
  if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  });
}

bool valid_stage_name(std::string_view s) {
  if (s.empty() || !(s[0] >= 'a' && s[0] <= 'z')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
  });
}

bool valid_secret_id(std::string_view s) {
  return !s.empty() && s.size() <= 64 && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string joined_path(const std::string& dir, const std::string& path) {
  if (path.starts_with('/')) return path;
  return (dir.ends_with('/') ? dir : dir + "/") + path;
}

// argv as one /bin/sh command line; ["/bin/sh", "-c", X] is just X.
std::string shell_line(const std::vector<std::string>& argv) {
  if (argv.size() == 3 && argv[0] == "/bin/sh" && argv[1] == "-c") return argv[2];
  std::string out;
  for (auto& a : argv) {
    if (!out.empty()) out += ' ';
    bool plain = !a.empty() && std::all_of(a.begin(), a.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) ||
             std::string_view("_@%+=:,./-").find(c) != std::string_view::npos;
    });
    if (plain) {
      out += a;
      continue;
    }
    out += '\'';
    for (char c : a) {
      if (c == '\'')
        out += "'\\''";
      else
        out += c;
    }
    out += '\'';
  }
  return out;
}

// What a stage passes on to a stage built FROM it.
struct image_config {
  std::map<std::string, std::string> env;  // ENV so far (encoded values)
  std::string workdir = "/";
  std::vector<std::string> shell = default_shell;
  std::vector<std::string> cmd, entrypoint;
  bool entrypoint_set = false;
  bool entrypoint_shell = false;
  env_list labels;
  std::vector<std::string> ports;
  std::vector<std::string> volumes;
  std::string stop_signal;
  ready_check healthcheck;
  uint32_t healthcheck_deadline_ms = 0;
};

// A Go duration as Docker takes it ("30s", "1m30s", "500ms", "1.5h") in
// milliseconds, or nullopt.
std::optional<uint64_t> duration_ms(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s == "0") return 0;
  double total = 0;
  while (!s.empty()) {
    size_t n = 0;
    while (n < s.size() && (std::isdigit(static_cast<unsigned char>(s[n])) || s[n] == '.')) ++n;
    if (n == 0) return std::nullopt;
    double value = 0;
    try {
      value = std::stod(std::string(s.substr(0, n)));
    } catch (...) {
      return std::nullopt;
    }
    s.remove_prefix(n);
    size_t u = 0;
    while (u < s.size() && std::isalpha(static_cast<unsigned char>(s[u]))) ++u;
    auto unit = s.substr(0, u);
    s.remove_prefix(u);
    double scale = unit == "ns"                   ? 1e-6
                   : unit == "us" || unit == "µs" ? 1e-3
                   : unit == "ms"                 ? 1
                   : unit == "s"                  ? 1e3
                   : unit == "m"                  ? 6e4
                   : unit == "h"                  ? 3.6e6
                                                  : -1;
    if (scale < 0) return std::nullopt;
    total += value * scale;
  }
  if (total > 1e12) return std::nullopt;
  return static_cast<uint64_t>(total);
}

// The signals STOPSIGNAL may name (as Docker's signal table on Linux).
const std::vector<std::string> signal_names{
    "HUP",  "INT",  "QUIT", "ILL",    "TRAP",   "ABRT",  "BUS",  "FPE",  "KILL", "USR1", "SEGV",
    "USR2", "PIPE", "ALRM", "TERM",   "STKFLT", "CHLD",  "CONT", "STOP", "TSTP", "TTIN", "TTOU",
    "URG",  "XCPU", "XFSZ", "VTALRM", "PROF",   "WINCH", "IO",   "PWR",  "SYS"};

// "SIGINT", "int", "2" -> "SIGINT" / "2"; "" if not a signal.
std::string normalized_signal(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  int n = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec == std::errc{} && p == s.data() + s.size()) return n >= 1 && n <= 64 ? s : "";
  auto name = s.starts_with("SIG") ? s.substr(3) : s;
  if (std::find(signal_names.begin(), signal_names.end(), name) != signal_names.end())
    return "SIG" + name;
  if (name.starts_with("RTMIN") || name.starts_with("RTMAX")) return "SIG" + name;
  return "";
}

struct stage {
  std::string name;
  int32_t index = 0;
  std::vector<build_step> steps;
  std::set<int32_t> deps;
  image_config config;
  std::map<std::string, std::string> args;  // ARGs in scope (encoded values)
  bool cmd_set = false;                     // CMD given in this stage (ENTRYPOINT keeps it)
  std::vector<secret_mount> secrets;
  std::vector<std::string> onbuild;  // ONBUILD of this stage: for what builds FROM it later
};

class lowering {
 public:
  lowering(const syn::document& doc, const std::string& context, const dockerfile_options& options,
           const std::string& base_workdir, dockerfile_program& out)
      : doc_(doc), context_(context), options_(options), base_workdir_(base_workdir), out_(out) {}

  void run() {
    for (auto& e : doc_.errors) out_.errors.push_back(e);
    if (!doc_.syntax.empty() && doc_.syntax.find("docker/dockerfile") == std::string::npos)
      out_.warnings.push_back("the syntax directive " + doc_.syntax +
                              " is ignored: nullspace parses Dockerfiles with its own frontend");
    for (auto& ins : doc_.instructions) instruction(ins);
    if (stages_.empty() && out_.errors.empty()) error(1, "the Dockerfile has no FROM instruction");
    if (!out_.errors.empty()) return;
    for (auto& [name, value] : options_.build_args)
      if (!declared_.count(name))
        out_.warnings.push_back("build arg " + name +
                                " is not declared by any ARG of the Dockerfile: it is ignored");
    int32_t last = stages_.back().index;
    if (!options_.target.empty()) {
      last = find_stage(lower(options_.target));
      if (last < 0 || stages_[static_cast<size_t>(last)].name.empty()) {
        std::string names;
        for (auto& st : stages_)
          if (!st.name.empty()) names += (names.empty() ? "" : ", ") + st.name;
        out_.target_error = "target '" + options_.target + "' names no stage of the Dockerfile (" +
                            (names.empty() ? std::string("it has no named stage: FROM … AS <name>")
                                           : "its stages: " + names) +
                            ")";
        return;
      }
    }
    finish(last);
  }

 private:
  void error(size_t line, std::string message) {
    out_.errors.push_back({line, std::move(message)});
  }

  stage& current() { return stages_.back(); }

  // Variables an instruction of the current stage sees: ARGs, then ENV over them.
  syn::variables vars(bool keep_unknown = false) {
    syn::variables v;
    v.keep_unknown = keep_unknown;
    if (stages_.empty()) {
      for (auto& [k, val] : global_args_)
        if (val) v.values[k] = *val;
      return v;
    }
    v.values = current().args;
    for (auto& [k, val] : current().config.env) v.values[k] = val;
    return v;
  }

  std::optional<std::vector<std::string>> words(const syn::instruction& ins, std::string_view text,
                                                bool split = true, bool keep_unknown = false) {
    std::string problem;
    auto w = syn::words(text, vars(keep_unknown), doc_.escape, split, problem);
    if (!w) error(ins.line, ins.keyword + ": " + problem);
    return w;
  }

  bool no_flags(const syn::instruction& ins, const std::vector<syn::flag>& flags) {
    if (flags.empty()) return true;
    error(ins.line, ins.keyword + " does not take the flag --" + flags[0].name);
    return false;
  }

  void instruction(const syn::instruction& ins) {
    const auto& k = ins.keyword;
    if (k == "FROM") return from(ins);
    if (k == "ARG") return arg(ins);
    if (stages_.empty()) {
      if (k == "RUN" || k == "COPY" || k == "ADD" || k == "ENV" || k == "WORKDIR" || k == "USER" ||
          k == "LABEL" || k == "EXPOSE" || k == "CMD" || k == "ENTRYPOINT" || k == "SHELL" ||
          k == "MAINTAINER" || k == "VOLUME" || k == "STOPSIGNAL" || k == "HEALTHCHECK" ||
          k == "ONBUILD")
        return error(ins.line, k + " comes before the first FROM: only ARG may");
    }
    if (k == "RUN") return run(ins);
    if (k == "COPY" || k == "ADD") return copy(ins);
    if (k == "ENV") return env(ins);
    if (k == "WORKDIR") return workdir(ins);
    if (k == "USER") return user(ins);
    if (k == "LABEL") return label(ins);
    if (k == "MAINTAINER") {
      out_.warnings.push_back("line " + std::to_string(ins.line) +
                              ": MAINTAINER is deprecated; it becomes the label maintainer");
      set_label("maintainer", ins.args);
      return;
    }
    if (k == "EXPOSE") return expose(ins);
    if (k == "CMD" || k == "ENTRYPOINT") return command(ins);
    if (k == "SHELL") return shell(ins);
    if (k == "HEALTHCHECK") return healthcheck(ins);
    if (k == "VOLUME") return volume(ins);
    if (k == "STOPSIGNAL") return stop_signal(ins);
    if (k == "ONBUILD") return onbuild(ins);
    error(ins.line, "unknown instruction " + k +
                        " (nullspace reads FROM, RUN, COPY, ADD, ENV, ARG, WORKDIR, USER, SHELL, "
                        "LABEL, EXPOSE, CMD, ENTRYPOINT, VOLUME, STOPSIGNAL, HEALTHCHECK, ONBUILD, "
                        "MAINTAINER)");
  }

  void from(const syn::instruction& ins) {
    std::string_view rest = ins.args;
    auto flags = syn::take_flags(rest);
    for (auto& f : flags) {
      if (f.name != "platform") return error(ins.line, "FROM does not take the flag --" + f.name);
      std::string problem;
      auto v = syn::words(f.value, vars(), doc_.escape, false, problem);
      if (!v || ((*v)[0] != "linux/amd64" && (*v)[0] != "linux/x86_64"))
        return error(ins.line,
                     "FROM --platform=" + f.value + ": this server builds linux/amd64 images only");
    }
    auto w = words(ins, rest);
    if (!w) return;
    if (w->size() != 1 && !(w->size() == 3 && lower((*w)[1]) == "as"))
      return error(ins.line,
                   "FROM takes an image and optionally AS <name>: FROM <image> [AS <name>]");
    stage s;
    s.index = static_cast<int32_t>(stages_.size());
    if (w->size() == 3) {
      s.name = lower((*w)[2]);
      if (!valid_stage_name(s.name))
        return error(ins.line, "stage name '" + (*w)[2] +
                                   "' must start with a letter and hold only a-z 0-9 - _ .");
      for (auto& other : stages_)
        if (other.name == s.name)
          return error(ins.line, "a stage named " + s.name + " already exists");
    }
    build_step step;
    step.type = step_type::from;
    step.stage = s.index;
    step.stage_name = s.name;
    auto image = (*w)[0];
    if (image.empty()) return error(ins.line, "FROM needs an image");
    if (auto base = find_stage(lower(image)); base >= 0) {
      auto& b = stages_[static_cast<size_t>(base)];
      step.from_stage = base;
      s.deps.insert(base);
      s.config = b.config;
    } else {
      if (!base_workdir_.empty()) s.config.workdir = base_workdir_;
      if (lower(image) != "scratch") {
        if (auto ref = parse_image_ref(image); !ref)
          return error(ins.line, "FROM " + image + ": " + ref.error().message);
        step.image = image;
      }
    }
    s.steps.push_back(std::move(step));
    stages_.push_back(std::move(s));
  }

  // -1 if `ref` names no earlier stage (by name, or by its number).
  int32_t find_stage(const std::string& ref) const {
    for (auto& s : stages_)
      if (!s.name.empty() && s.name == ref) return s.index;
    int32_t n = -1;
    auto [p, ec] = std::from_chars(ref.data(), ref.data() + ref.size(), n);
    if (ec == std::errc{} && p == ref.data() + ref.size() && n >= 0 &&
        n < static_cast<int32_t>(stages_.size()))
      return n;
    return -1;
  }

  void arg(const syn::instruction& ins) {
    auto w = words(ins, ins.args);
    if (!w) return;
    if (w->empty()) return error(ins.line, "ARG needs a name: ARG NAME[=default]");
    for (auto& word : *w) {
      auto eq = word.find('=');
      auto name = word.substr(0, eq);
      if (!valid_var_name(name)) return error(ins.line, "ARG name '" + name + "' is not valid");
      std::optional<std::string> value;
      // words() decoded the default: variables hold it encoded.
      if (eq != std::string::npos) value = syn::encoded(word.substr(eq + 1));
      // The request's build arg wins over the default.
      for (auto& [k, v] : options_.build_args)
        if (k == name) value = syn::encoded(v);
      if (declared_.insert(name).second && secret_like_name(name))
        out_.warnings.push_back("line " + std::to_string(ins.line) + ": ARG " + name +
                                " looks like a secret; ARG values are stored in the build "
                                "definition and cache keys: use a build secret instead "
                                "(RUN --mount=type=secret,id=…)");
      if (stages_.empty()) {
        global_args_[name] = value;
        continue;
      }
      if (!value) {
        if (auto g = global_args_.find(name); g != global_args_.end() && g->second)
          value = g->second;
        else if (auto p = platform_args.find(name); p != platform_args.end())
          value = p->second;
      }
      if (value)
        current().args[name] = *value;
      else
        current().args.erase(name);
    }
  }

  void env(const syn::instruction& ins) {
    std::string_view text = ins.args;
    env_list pairs;
    auto first_space = text.find_first_of(" \t");
    auto first_eq = text.find('=');
    if (first_eq == std::string_view::npos || first_eq > first_space) {
      // Legacy form: ENV NAME value with spaces
      if (first_space == std::string_view::npos)
        return error(ins.line, "ENV needs a value: ENV NAME=value");
      auto value = words(ins, text.substr(first_space + 1), false, true);
      if (!value) return;
      pairs.emplace_back(std::string(text.substr(0, first_space)), (*value)[0]);
    } else {
      auto w = words(ins, text, true, true);
      if (!w) return;
      for (auto& word : *w) {
        auto eq = word.find('=');
        if (eq == std::string::npos || eq == 0)
          return error(ins.line, "ENV takes NAME=value pairs, got '" + word + "'");
        pairs.emplace_back(word.substr(0, eq), word.substr(eq + 1));
      }
    }
    build_step step;
    step.type = step_type::env;
    for (auto& pair : pairs) {
      auto& [k, v] = pair;
      if (!valid_var_name(k)) return error(ins.line, "ENV name '" + k + "' is not valid");
      current().config.env[k] = v;
      if (v.find('$') != std::string::npos) step.image_env = true;
      // Not capturing `k`: clang 14 (the fuzz tree) cannot capture a structured binding.
      std::erase_if(step.envs, [&](auto& e) { return e.first == pair.first; });
      step.envs.emplace_back(k, v);
    }
    if (!step.image_env)  // nothing to complete: the values are plain text
      for (auto& [k, v] : step.envs) v = syn::decoded(v);
    current().steps.push_back(std::move(step));
  }

  void run(const syn::instruction& ins) {
    std::string_view rest = ins.args;
    auto flags = syn::take_flags(rest);
    build_step step;
    step.type = step_type::run;
    for (auto& f : flags) {
      if (f.name == "mount") {
        if (!mount(ins, f.value, step)) return;
      } else if (f.name == "network") {
        if (f.value == "none")
          step.network_none = true;
        else if (f.value != "default" && f.value != "host")
          return error(ins.line, "RUN --network=" + f.value + ": use none or default");
      } else {
        return error(ins.line,
                     "RUN does not take the flag --" + f.name + " (supported: --mount, --network)");
      }
    }
    // A secret is never written into a cache dir, not even as a mount point.
    auto within = [](const std::string& path, const std::string& dir) {
      return path == dir || path.starts_with(dir == "/" ? dir : dir + "/");
    };
    for (auto& c : step.caches) {
      if (within(c.target, "/run/secrets") || within("/run/secrets", c.target))
        if (!step.secret_mounts.empty())
          return error(ins.line, "RUN --mount=type=cache,target=" + c.target +
                                     " overlaps /run/secrets, where this step's secrets are");
      for (auto& m : step.secret_mounts)
        if (within(m.target, c.target))
          return error(ins.line, "RUN --mount=type=secret,target=" + m.target +
                                     " lies in the cache mount at " + c.target +
                                     ": a secret never goes into a cache; mount it elsewhere");
    }
    auto text = std::string(rest);
    if (!ins.heredocs.empty()) {
      if (syn::exec_form(text))
        return error(ins.line, "RUN heredocs need the shell form (RUN <<EOF), not [\"…\"]");
      syn::heredoc only;
      auto t = text;
      while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.pop_back();
      if (ins.heredocs.size() == 1 && syn::heredoc_marker(t, only)) {
        // The heredoc is the whole command: a script with a #! runs as a
        // file, any other runs in the shell (as BuildKit does).
        auto& h = ins.heredocs[0];
        if (h.content.starts_with("#!")) {
          step.inline_files.emplace_back(h.name, h.content);
          step.argv = {"/dev/pipes/" + h.name};
          step.cmd = h.content;
        } else {
          text = h.content;
        }
      } else {
        // Heredocs among other words: the shell reads them.
        text += "\n" + ins.raw_heredocs;
      }
    }
    if (text.empty()) return error(ins.line, "RUN needs a command");
    if (!step.argv.empty()) {
      // a #! heredoc script
    } else if (auto argv = syn::exec_form(text)) {
      if (argv->empty()) return error(ins.line, "RUN [] needs a command");
      step.argv = std::move(*argv);
    } else {
      step.cmd = text;
      if (current().config.shell != default_shell) {
        step.argv = current().config.shell;
        step.argv.push_back(text);
      }
    }
    // ARG values reach the command as environment (ENV of the same name wins).
    for (auto& [k, v] : current().args)
      if (!current().config.env.count(k)) step.args.emplace_back(k, syn::decoded(v));
    for (auto& m : step.secret_mounts) current().secrets.push_back(m);
    current().steps.push_back(std::move(step));
  }

  // One RUN --mount=… value.
  bool mount(const syn::instruction& ins, std::string_view spec, build_step& step) {
    std::map<std::string, std::string> kv;
    while (!spec.empty()) {
      auto comma = spec.find(',');
      auto part = spec.substr(0, comma);
      spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
      auto eq = part.find('=');
      auto key = lower(std::string(part.substr(0, eq)));
      if (key == "dst" || key == "destination") key = "target";
      kv[key] = eq == std::string_view::npos ? "true" : std::string(part.substr(eq + 1));
    }
    auto type = kv.count("type") ? kv["type"] : "bind";
    auto target = kv.count("target") ? joined_path(current().config.workdir, kv["target"]) : "";
    if (type == "secret") {
      for (auto& [key, v] : kv)
        if (key != "type" && key != "id" && key != "target" && key != "required" && key != "mode" &&
            key != "uid" && key != "gid") {
          error(ins.line, "RUN --mount=type=secret does not support " + key +
                              " (supported: id, target, required, mode, uid, gid)");
          return false;
        }
      secret_mount m;
      m.id = kv.count("id") ? kv["id"] : target.substr(target.rfind('/') + 1);
      if (!valid_secret_id(m.id)) {
        error(ins.line, "RUN --mount=type=secret needs an id of [A-Za-z0-9_.-]{1,64} (id=…)");
        return false;
      }
      m.target = target.empty() ? "/run/secrets/" + m.id : target;
      auto req = kv.count("required") ? lower(kv["required"]) : "true";
      m.required = !(req == "false" || req == "0");
      step.secret_mounts.push_back(std::move(m));
      return true;
    }
    if (type == "tmpfs") {
      if (target.empty()) {
        error(ins.line, "RUN --mount=type=tmpfs needs a target");
        return false;
      }
      step.tmpfs.push_back(target);
      return true;
    }
    if (type == "cache") return cache(ins, kv, target, step);
    if (type == "bind") {
      for (auto& [key, v] : kv)
        if (key != "type" && key != "target" && key != "source" && key != "src" && key != "from" &&
            key != "rw" && key != "readwrite" && key != "readonly" && key != "ro") {
          error(ins.line, "RUN --mount=type=bind does not support " + key +
                              " (supported: source, target, from, rw)");
          return false;
        }
      if (target.empty()) {
        error(ins.line, "RUN --mount=type=bind needs a target");
        return false;
      }
      bind_mount b;
      b.target = target;
      b.source = kv.count("source") ? kv["source"] : kv.count("src") ? kv["src"] : "";
      auto first = b.source.find_first_not_of('/');
      b.source = first == std::string::npos ? "" : b.source.substr(first);
      if (b.source == ".") b.source.clear();
      for (auto key : {"rw", "readwrite"})
        if (kv.count(key)) {
          auto v = lower(kv[key]);
          b.writable = !(v == "false" || v == "0");
        }
      if (kv.count("from")) {
        auto from = find_stage(lower(kv["from"]));
        if (from >= 0) {
          b.from_stage = from;
          current().deps.insert(from);
        } else if (auto ref = parse_image_ref(kv["from"]); ref) {
          b.image = kv["from"];  // an image: pulled like a FROM, its rootfs bound
        } else {
          error(ins.line, "RUN --mount=type=bind,from=" + kv["from"] +
                              " names no earlier stage and is no image reference (" +
                              ref.error().message + ")");
          return false;
        }
      } else if (context_.empty()) {
        error(ins.line,
              "RUN --mount=type=bind reads the build context, but the request has none "
              "(builder.source.context)");
        return false;
      } else {
        b.context = context_;
      }
      step.binds.push_back(std::move(b));
      return true;
    }
    if (type == "ssh") {
      error(ins.line,
            "RUN --mount=type=ssh forwards an SSH agent, and nullspace builds have no agent "
            "socket to forward: pass the key as a build secret (RUN --mount=type=secret,id=…) "
            "or clone over HTTPS with a token secret");
      return false;
    }
    error(ins.line,
          "RUN --mount=type=" + type + " is not supported (supported: secret, cache, tmpfs, bind)");
    return false;
  }

  // RUN --mount=type=cache: a dir kept between the tenant's builds.
  bool cache(const syn::instruction& ins, std::map<std::string, std::string>& kv,
             const std::string& target, build_step& step) {
    auto where = "RUN --mount=type=cache";
    for (auto& [key, v] : kv) {
      if (key == "from" || key == "source" || key == "src") {
        error(ins.line, std::string(where) + " does not support " + key +
                            " (seeding a cache from a stage or image): the cache starts empty "
                            "and keeps what the builds write");
        return false;
      }
      if (key != "type" && key != "id" && key != "target" && key != "sharing" && key != "mode" &&
          key != "uid" && key != "gid" && key != "ro" && key != "readonly" && key != "rw" &&
          key != "readwrite") {
        error(ins.line, std::string(where) + " does not support " + key +
                            " (supported: id, target, sharing, mode, uid, gid, ro)");
        return false;
      }
    }
    if (target.empty()) {
      error(ins.line, std::string(where) + " needs a target");
      return false;
    }
    cache_mount c;
    c.target = target;
    c.id = kv.count("id") && !kv["id"].empty() ? kv["id"] : target;
    if (kv.count("sharing")) {
      c.sharing = lower(kv["sharing"]);
      if (c.sharing != "shared" && c.sharing != "locked" && c.sharing != "private") {
        error(ins.line,
              std::string(where) + ",sharing=" + kv["sharing"] + ": use shared, locked or private");
        return false;
      }
    }
    for (auto key : {"ro", "readonly"})
      if (kv.count(key)) {
        auto v = lower(kv[key]);
        c.readonly = !(v == "false" || v == "0");
      }
    for (auto key : {"rw", "readwrite"})
      if (kv.count(key)) {
        auto v = lower(kv[key]);
        c.readonly = v == "false" || v == "0";
      }
    auto number = [&](const char* key, int base, uint32_t max, uint32_t& out) {
      if (!kv.count(key)) return true;
      auto& v = kv[key];
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out, base);
      if (!v.empty() && ec == std::errc{} && p == v.data() + v.size() && out <= max) return true;
      error(ins.line, std::string(where) + "," + key + "=" + v + ": " +
                          (base == 8 ? "an octal mode such as 0755" : "a numeric id"));
      return false;
    };
    if (!number("mode", 8, 07777, c.mode) || !number("uid", 10, 0xfffffffe, c.uid) ||
        !number("gid", 10, 0xfffffffe, c.gid))
      return false;
    step.caches.push_back(std::move(c));
    return true;
  }

  void copy(const syn::instruction& ins) {
    bool add = ins.keyword == "ADD";
    std::string_view rest = ins.args;
    auto flags = syn::take_flags(rest);
    build_step proto;
    proto.type = step_type::copy;
    proto.chown = "0:0";
    std::string checksum;
    for (auto& f : flags) {
      if (f.name == "from" && !add) {
        auto w = words(ins, f.value, false);
        if (!w) return;
        auto from = find_stage(lower((*w)[0]));
        if (from >= 0) {
          proto.from_stage = from;
          current().deps.insert(from);
        } else if (auto ref = parse_image_ref((*w)[0]); ref) {
          proto.image = (*w)[0];  // an image: pulled like a FROM, then copied out of
        } else {
          return error(ins.line, "COPY --from=" + f.value +
                                     " names no earlier stage and is no image reference (" +
                                     ref.error().message + ")");
        }
      } else if (f.name == "chown") {
        auto w = words(ins, f.value, false);
        if (!w) return;
        proto.chown = (*w)[0];
      } else if (f.name == "chmod") {
        auto w = words(ins, f.value, false);
        if (!w) return;
        auto& m = (*w)[0];
        if (!valid_chmod(m))
          return error(ins.line, ins.keyword +
                                     " --chmod takes an octal mode such as 0755 or a symbolic "
                                     "one such as u+x or a=rwX, got '" +
                                     m + "'");
        if (octal_chmod(m)) {
          char text[8];
          std::snprintf(text, sizeof text, "%04o", apply_chmod(m, 0, false));
          proto.chmod = text;
        } else {
          proto.chmod = m;  // symbolic: applied to each copied file's own mode
        }
      } else if (f.name == "link") {
        // Only changes how BuildKit stores the layer, not what it holds.
      } else if (add && f.name == "checksum") {
        auto w = words(ins, f.value, false);
        if (!w) return;
        auto& sum = (*w)[0];
        bool hex = sum.size() == 7 + 64 && sum.starts_with("sha256:") &&
                   std::all_of(sum.begin() + 7, sum.end(), [](char c) {
                     return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                   });
        if (!hex)
          return error(ins.line,
                       "ADD --checksum takes sha256:<64 lowercase hex digits>, got '" + sum + "'");
        checksum = sum;
      } else {
        return error(ins.line,
                     ins.keyword + " does not take the flag --" + f.name + " (supported: " +
                         (add ? "--chown, --chmod, --link" : "--from, --chown, --chmod, --link") +
                         ")");
      }
    }
    auto text = std::string(rest);
    std::vector<std::string> paths;
    if (auto json = syn::exec_form(text)) {
      for (auto& p : *json) {
        auto w = words(ins, p, false);
        if (!w) return;
        paths.push_back((*w)[0]);
      }
    } else {
      auto w = words(ins, text);
      if (!w) return;
      paths = std::move(*w);
    }
    if (paths.size() < 2)
      return error(ins.line, ins.keyword + " needs a source and a destination: " + ins.keyword +
                                 " <src>... <dest>");
    auto dest = paths.back();
    paths.pop_back();
    if (paths.size() > 1 && !dest.ends_with('/'))
      return error(ins.line, ins.keyword +
                                 " with several sources needs a destination directory ending "
                                 "in /, got " +
                                 dest);
    // Heredoc sources (COPY <<EOF /path) are files the Dockerfile holds.
    std::vector<const syn::heredoc*> inline_sources(paths.size(), nullptr);
    size_t next_heredoc = 0;
    bool reads_context = false;
    for (size_t i = 0; i < paths.size(); ++i) {
      syn::heredoc h;
      if (next_heredoc < ins.heredocs.size() && syn::heredoc_marker(paths[i], h) &&
          h.name == ins.heredocs[next_heredoc].name)
        inline_sources[i] = &ins.heredocs[next_heredoc++];
      else if (!add || !(paths[i].starts_with("http://") || paths[i].starts_with("https://")))
        reads_context = true;
    }
    if (next_heredoc < ins.heredocs.size())
      return error(ins.line, ins.keyword + " heredoc " + ins.heredocs[next_heredoc].marker +
                                 " is not a source of the copy");
    if (reads_context && proto.from_stage < 0 && proto.image.empty() && context_.empty())
      return error(ins.line, ins.keyword +
                                 " reads the build context, but the request has none "
                                 "(builder.source.context)");
    for (size_t i = 0; i < paths.size(); ++i) {
      const auto& src = paths[i];
      if (auto* h = inline_sources[i]) {
        auto step = proto;
        step.from_stage = -1;
        step.image.clear();
        std::string content = h->content;
        if (h->expand) {
          std::string problem;
          auto expanded = syn::expand_text(content, vars(), doc_.escape, problem);
          if (!expanded) return error(ins.line, ins.keyword + " heredoc: " + problem);
          content = std::move(*expanded);
        }
        step.inline_files.emplace_back(h->name, std::move(content));
        step.src = h->name;
        step.dest = dest;
        current().steps.push_back(std::move(step));
        continue;
      }
      bool is_url = src.starts_with("http://") || src.starts_with("https://");
      if (add && (src.starts_with("git@") || src.starts_with("git://") ||
                  (is_url && src.ends_with(".git"))))
        return error(ins.line,
                     "ADD of a git repository is not supported: use a git_clone step of the "
                     "build request, or RUN git clone");
      if (add && !is_url && src.find("://") != std::string::npos)
        return error(ins.line, "ADD takes http:// and https:// URLs only, got " + src);
      if (add && is_url && url_for_messages(src) != src)
        // Refused rather than redacted: the Dockerfile is stored (and shown) as
        // written, so the credential would be kept with the build.
        return error(ins.line,
                     "ADD " + url_for_messages(src) +
                         ": a URL with credentials would be stored with the build's Dockerfile; "
                         "pass the credential as a build secret and download it in a RUN step "
                         "(RUN --mount=type=secret,id=token curl -H \"Authorization: Bearer "
                         "$(cat /run/secrets/token)\" -o … <url>)");
      if (add && is_url) {
        auto step = proto;
        step.url = src;
        step.checksum = checksum;
        step.src = url_file_name(src);
        if (dest.ends_with('/') && step.src.empty())
          return error(ins.line, "ADD " + url_for_messages(src) +
                                     ": the URL names no file; give a destination file path "
                                     "instead of a directory");
        if (step.src.empty()) step.src = "download";
        step.dest = dest;
        out_.downloads.push_back(ins.line);
        current().steps.push_back(std::move(step));
        continue;
      }
      if (!checksum.empty())
        return error(ins.line, "ADD --checksum verifies URL downloads; " + src + " is not a URL");
      auto step = proto;
      step.extract = add;  // a local tar archive is unpacked, as Docker does
      // "/x" names x from the root of the context or the stage.
      auto first = src.find_first_not_of('/');
      step.src = first == std::string::npos ? "." : src.substr(first);
      step.dest = dest;
      if (proto.from_stage < 0 && proto.image.empty()) step.context = context_;
      current().steps.push_back(std::move(step));
    }
  }

  void workdir(const syn::instruction& ins) {
    auto w = words(ins, ins.args, false);
    if (!w) return;
    if ((*w)[0].empty()) return error(ins.line, "WORKDIR needs a path");
    current().config.workdir = joined_path(current().config.workdir, (*w)[0]);
    build_step step;
    step.type = step_type::workdir;
    step.path = current().config.workdir;
    current().steps.push_back(std::move(step));
  }

  void user(const syn::instruction& ins) {
    auto w = words(ins, ins.args, false);
    if (!w) return;
    if ((*w)[0].empty()) return error(ins.line, "USER needs a user: USER <name|uid>[:<group|gid>]");
    build_step step;
    step.type = step_type::user;
    step.user = (*w)[0];
    current().steps.push_back(std::move(step));
  }

  void set_label(const std::string& key, const std::string& value) {
    auto& labels = current().config.labels;
    std::erase_if(labels, [&](auto& l) { return l.first == key; });
    labels.emplace_back(key, value);
  }

  void label(const syn::instruction& ins) {
    std::string_view text = ins.args;
    auto first_space = text.find_first_of(" \t");
    auto first_eq = text.find('=');
    if (!text.empty() && (first_eq == std::string_view::npos || first_eq > first_space)) {
      // Legacy form: LABEL key value with spaces
      if (first_space == std::string_view::npos)
        return error(ins.line, "LABEL needs a value: LABEL key=value");
      auto key = words(ins, text.substr(0, first_space), false);
      auto value = key ? words(ins, text.substr(first_space + 1), false) : std::nullopt;
      if (!value) return;
      if ((*key)[0].empty()) return error(ins.line, "LABEL needs a key: LABEL key=value");
      return set_label((*key)[0], (*value)[0]);
    }
    auto w = words(ins, ins.args);
    if (!w) return;
    if (w->empty()) return error(ins.line, "LABEL needs key=value pairs");
    for (auto& word : *w) {
      auto eq = word.find('=');
      if (eq == std::string::npos || eq == 0)
        return error(ins.line, "LABEL takes key=value pairs, got '" + word + "'");
      set_label(word.substr(0, eq), word.substr(eq + 1));
    }
  }

  void expose(const syn::instruction& ins) {
    auto w = words(ins, ins.args);
    if (!w) return;
    if (w->empty()) return error(ins.line, "EXPOSE needs a port: EXPOSE 8000[/tcp|/udp]");
    for (auto& word : *w) {
      auto slash = word.find('/');
      auto port = word.substr(0, slash);
      auto proto = slash == std::string::npos ? "tcp" : lower(word.substr(slash + 1));
      uint32_t n = 0;
      auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
      if (ec != std::errc{} || p != port.data() + port.size() || n == 0 || n > 65535 ||
          (proto != "tcp" && proto != "udp"))
        return error(ins.line, "EXPOSE takes ports such as 8000 or 53/udp, got '" + word + "'");
      auto text = std::to_string(n) + "/" + proto;
      auto& ports = current().config.ports;
      if (std::find(ports.begin(), ports.end(), text) == ports.end()) ports.push_back(text);
    }
  }

  void command(const syn::instruction& ins) {
    std::vector<std::string> argv;
    bool shell_form = false;
    if (auto json = syn::exec_form(ins.args)) {
      argv = std::move(*json);
    } else {
      if (ins.args.empty()) return error(ins.line, ins.keyword + " needs a command");
      argv = current().config.shell;
      argv.push_back(ins.args);
      shell_form = true;
    }
    auto& c = current().config;
    if (ins.keyword == "CMD") {
      c.cmd = std::move(argv);
      current().cmd_set = true;
      return;
    }
    c.entrypoint = std::move(argv);
    c.entrypoint_set = true;
    c.entrypoint_shell = shell_form;
    if (!current().cmd_set) c.cmd.clear();  // an ENTRYPOINT drops the CMD it builds on
  }

  void volume(const syn::instruction& ins) {
    std::vector<std::string> paths;
    if (auto json = syn::exec_form(ins.args)) {
      paths = std::move(*json);
    } else {
      auto w = words(ins, ins.args);
      if (!w) return;
      paths = std::move(*w);
    }
    if (paths.empty() || std::any_of(paths.begin(), paths.end(), [](auto& p) { return p.empty(); }))
      return error(ins.line, "VOLUME needs a path: VOLUME /data");
    auto& volumes = current().config.volumes;
    std::string listed;
    for (auto& p : paths) {
      auto path = joined_path(current().config.workdir, p);
      if (std::find(volumes.begin(), volumes.end(), path) == volumes.end()) volumes.push_back(path);
      listed += (listed.empty() ? "" : ", ") + path;
    }
    out_.warnings.push_back("line " + std::to_string(ins.line) + ": VOLUME " + listed +
                            " is recorded in the template config; a machine keeps one root "
                            "filesystem, so it is an ordinary directory there (what the build "
                            "leaves in it is kept)");
  }

  void stop_signal(const syn::instruction& ins) {
    auto w = words(ins, ins.args, false);
    if (!w) return;
    auto sig = normalized_signal((*w)[0]);
    if (sig.empty())
      return error(ins.line, "STOPSIGNAL takes a signal name or number (SIGINT, QUIT, 9), got '" +
                                 (*w)[0] + "'");
    current().config.stop_signal = sig;
  }

  void healthcheck(const syn::instruction& ins) {
    std::string_view rest = ins.args;
    auto flags = syn::take_flags(rest);
    auto first = rest.substr(0, rest.find_first_of(" \t"));
    auto kind = lower(std::string(first));
    auto& c = current().config;
    if (kind == "none") {
      if (!flags.empty() || rest.size() != first.size())
        return error(ins.line, "HEALTHCHECK NONE takes no options or arguments");
      c.healthcheck = {};
      c.healthcheck_deadline_ms = 0;
      return;
    }
    if (kind != "cmd")
      return error(ins.line,
                   "HEALTHCHECK takes CMD <command> or NONE: HEALTHCHECK [--interval=30s "
                   "--timeout=30s --start-period=0s --retries=3] CMD <command>");
    ready_check check;
    check.type = ready_type::command;
    for (auto& f : flags) {
      if (f.name == "retries") {
        uint32_t n = 0;
        auto [p, ec] = std::from_chars(f.value.data(), f.value.data() + f.value.size(), n);
        if (ec != std::errc{} || p != f.value.data() + f.value.size() || n == 0)
          return error(ins.line,
                       "HEALTHCHECK --retries takes a positive number, got '" + f.value + "'");
        check.retries = n;
        continue;
      }
      if (f.name != "interval" && f.name != "timeout" && f.name != "start-period" &&
          f.name != "start-interval")
        return error(ins.line, "HEALTHCHECK does not take the flag --" + f.name +
                                   " (supported: --interval, --timeout, --start-period, "
                                   "--start-interval, --retries)");
      auto ms = duration_ms(f.value);
      if (!ms || *ms > 24ull * 3600 * 1000)
        return error(ins.line, "HEALTHCHECK --" + f.name +
                                   " takes a duration such as 30s, 1m30s or 500ms, got '" +
                                   f.value + "'");
      auto v = static_cast<uint32_t>(*ms);
      if (f.name == "interval") check.interval_ms = v;
      if (f.name == "timeout") check.timeout_ms = v;
      if (f.name == "start-period") check.start_period_ms = v;
      // --start-interval: probes run every 250 ms until ready anyway.
    }
    auto command = rest.substr(first.size());
    while (!command.empty() && (command.front() == ' ' || command.front() == '\t'))
      command.remove_prefix(1);
    if (command.empty()) return error(ins.line, "HEALTHCHECK CMD needs a command");
    if (auto json = syn::exec_form(command)) {
      if (json->empty()) return error(ins.line, "HEALTHCHECK CMD [] needs a command");
      check.cmd = shell_line(*json);
    } else {
      check.cmd = std::string(command);
    }
    // Docker's defaults, kept in the check: its probes are killed after the
    // timeout and `retries` counted failures fail it (runtime/sandbox/probe_tally.hpp).
    if (!check.interval_ms) check.interval_ms = 30000;
    if (!check.timeout_ms) check.timeout_ms = 30000;
    if (!check.retries) check.retries = 3;
    uint64_t per_probe = uint64_t{check.interval_ms} + check.timeout_ms;
    // A backstop only: by then the retries have failed it.
    auto deadline = check.start_period_ms + (check.retries + 1) * per_probe + deadline_slack_ms;
    c.healthcheck = std::move(check);
    c.healthcheck_deadline_ms = static_cast<uint32_t>(std::min<uint64_t>(deadline, UINT32_MAX));
  }

  void onbuild(const syn::instruction& ins) {
    auto t = ins.args;
    auto keyword = t.substr(0, t.find_first_of(" \t"));
    for (auto& c : keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (keyword.empty()) return error(ins.line, "ONBUILD needs an instruction: ONBUILD RUN make");
    if (keyword == "ONBUILD" || keyword == "FROM" || keyword == "MAINTAINER")
      return error(ins.line, "ONBUILD " + keyword + " is not allowed (as in Docker)");
    current().onbuild.push_back(keyword + t.substr(keyword.size()));
    out_.warnings.push_back("line " + std::to_string(ins.line) + ": ONBUILD " + keyword +
                            " is recorded in the template config (onbuild): it runs first in "
                            "builds from this template");
  }

  void shell(const syn::instruction& ins) {
    auto json = syn::exec_form(ins.args);
    if (!json || json->empty())
      return error(ins.line, "SHELL takes the JSON form: SHELL [\"/bin/bash\", \"-c\"]");
    current().config.shell = std::move(*json);
  }

  void finish(int32_t last_stage) {
    // The stages the last one needs, then their steps in file order.
    std::set<int32_t> needed;
    std::vector<int32_t> todo{last_stage};
    while (!todo.empty()) {
      auto i = todo.back();
      todo.pop_back();
      if (!needed.insert(i).second) continue;
      for (auto d : stages_[static_cast<size_t>(i)].deps) todo.push_back(d);
    }
    for (auto& s : stages_) {
      if (!needed.count(s.index)) continue;
      out_.steps.insert(out_.steps.end(), s.steps.begin(), s.steps.end());
      out_.secret_mounts.insert(out_.secret_mounts.end(), s.secrets.begin(), s.secrets.end());
    }
    auto& last = stages_[static_cast<size_t>(last_stage)].config;
    std::vector<std::string> argv;
    if (last.entrypoint_set && !last.entrypoint.empty()) {
      argv = last.entrypoint;
      if (!last.entrypoint_shell) argv.insert(argv.end(), last.cmd.begin(), last.cmd.end());
    } else {
      argv = last.cmd;
    }
    if (!argv.empty()) out_.start_cmd = shell_line(argv);
    out_.labels = last.labels;
    out_.exposed_ports = last.ports;
    out_.volumes = last.volumes;
    out_.stop_signal = last.stop_signal;
    out_.healthcheck = last.healthcheck;
    out_.healthcheck_deadline_ms = last.healthcheck_deadline_ms;
    out_.onbuild = stages_[static_cast<size_t>(last_stage)].onbuild;
  }

  const syn::document& doc_;
  const std::string& context_;
  const dockerfile_options& options_;
  const std::string& base_workdir_;
  dockerfile_program& out_;
  std::set<std::string> declared_;  // every ARG name
  std::vector<stage> stages_;
  std::map<std::string, std::optional<std::string>> global_args_;
};

}  // namespace

bool secret_like_name(std::string_view name) {
  std::string up(name);
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (auto word : {"TOKEN", "PASSWORD", "SECRET", "KEY"})
    if (up.find(word) != std::string::npos) return true;
  return false;
}

dockerfile_program parse_dockerfile(std::string_view text, const std::string& context,
                                    const dockerfile_options& options,
                                    const std::string& base_workdir) {
  dockerfile_program out;
  auto doc = syn::split(text);
  lowering(doc, context, options, base_workdir, out).run();
  if (!out.errors.empty() || !out.target_error.empty()) {
    out.steps.clear();
    out.start_cmd.clear();
  }
  return out;
}

std::string complete_image_env(std::string_view value,
                               const std::vector<std::pair<std::string, std::string>>& env) {
  return syn::decoded(value, [&](std::string_view name) {
    for (auto it = env.rbegin(); it != env.rend(); ++it)
      if (it->first == name) return it->second;
    return std::string();
  });
}

}  // namespace nullspace::runtime

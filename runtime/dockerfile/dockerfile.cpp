#include "runtime/dockerfile/dockerfile.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>
#include <set>

#include "runtime/request/image_ref.hpp"

namespace nullspace::runtime {
namespace {

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
};

struct stage {
  std::string name;
  int32_t index = 0;
  std::vector<build_step> steps;
  std::set<int32_t> deps;
  image_config config;
  std::map<std::string, std::string> args;  // ARGs in scope (encoded values)
  bool cmd_set = false;                     // CMD given in this stage (ENTRYPOINT keeps it)
  std::vector<secret_mount> secrets;
};

class lowering {
 public:
  lowering(const syn::document& doc, const std::string& context, dockerfile_program& out)
      : doc_(doc), context_(context), out_(out) {}

  void run() {
    for (auto& e : doc_.errors) out_.errors.push_back(e);
    if (!doc_.syntax.empty() && doc_.syntax.find("docker/dockerfile") == std::string::npos)
      out_.warnings.push_back("the syntax directive " + doc_.syntax +
                              " is ignored: nullspace parses Dockerfiles with its own frontend");
    for (auto& ins : doc_.instructions) instruction(ins);
    if (stages_.empty() && out_.errors.empty()) error(1, "the Dockerfile has no FROM instruction");
    if (!out_.errors.empty()) return;
    finish();
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
          k == "MAINTAINER")
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
    if (k == "HEALTHCHECK")
      return error(ins.line,
                   "HEALTHCHECK is not supported: use the build's ready check (builder.ready), "
                   "which the build waits for and machines reuse");
    if (k == "VOLUME")
      return error(ins.line,
                   "VOLUME is not supported: a template has one root filesystem; remove the line "
                   "(the directory is kept in the image if a step creates it)");
    if (k == "STOPSIGNAL" || k == "ONBUILD")
      return error(ins.line, k + " is not supported by nullspace's Dockerfile frontend");
    error(ins.line, "unknown instruction " + k);
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
    } else if (lower(image) != "scratch") {
      if (auto ref = parse_image_ref(image); !ref)
        return error(ins.line, "FROM " + image + ": " + ref.error().message);
      step.image = image;
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
    auto text = std::string(rest);
    if (text.starts_with("<<"))
      return error(ins.line,
                   "heredocs (RUN <<EOF) are not supported: put the script in the build context "
                   "and COPY it, or join the commands with &&");
    if (text.empty()) return error(ins.line, "RUN needs a command");
    if (auto argv = syn::exec_form(text)) {
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
    if (type == "cache" || type == "tmpfs") {
      if (target.empty()) {
        error(ins.line, "RUN --mount=type=" + type + " needs a target");
        return false;
      }
      if (type == "cache")
        out_.warnings.push_back("line " + std::to_string(ins.line) +
                                ": RUN --mount=type=cache is an empty tmpfs at " + target +
                                " for this step; its contents are not kept between builds");
      step.tmpfs.push_back(target);
      return true;
    }
    error(ins.line, "RUN --mount=type=" + type +
                        " is not supported (supported: secret, cache, tmpfs); COPY files in "
                        "instead of bind-mounting them");
    return false;
  }

  void copy(const syn::instruction& ins) {
    bool add = ins.keyword == "ADD";
    std::string_view rest = ins.args;
    auto flags = syn::take_flags(rest);
    build_step proto;
    proto.type = step_type::copy;
    proto.chown = "0:0";
    for (auto& f : flags) {
      if (f.name == "from" && !add) {
        auto w = words(ins, f.value, false);
        if (!w) return;
        auto from = find_stage(lower((*w)[0]));
        if (from < 0)
          return error(ins.line, "COPY --from=" + f.value +
                                     " names no earlier stage (copying out of an image is not "
                                     "supported: add FROM <image> AS <name> and copy from that)");
        proto.from_stage = from;
        current().deps.insert(from);
      } else if (f.name == "chown") {
        auto w = words(ins, f.value, false);
        if (!w) return;
        proto.chown = (*w)[0];
      } else if (f.name == "link") {
        // Only changes how BuildKit stores the layer, not what it holds.
      } else {
        return error(ins.line, ins.keyword + " does not take the flag --" + f.name +
                                   " (supported: " +
                                   (add ? "--chown, --link" : "--from, --chown, --link") + ")");
      }
    }
    auto text = std::string(rest);
    if (text.starts_with("<<"))
      return error(ins.line, "heredocs (" + ins.keyword + " <<EOF) are not supported");
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
    if (proto.from_stage < 0 && context_.empty())
      return error(ins.line, ins.keyword +
                                 " reads the build context, but the request has none "
                                 "(builder.source.context)");
    for (auto& src : paths) {
      if (add) {
        if (src.find("://") != std::string::npos || src.starts_with("git@"))
          return error(ins.line,
                       "ADD of a URL is not supported: use RUN with curl or git, or "
                       "put the file in the build context");
        for (auto ext :
             {".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst"})
          if (src.ends_with(ext))
            return error(ins.line, "ADD of an archive (" + src +
                                       ") would unpack it, which is not supported: use COPY and "
                                       "RUN tar");
      }
      auto step = proto;
      // "/x" names x from the root of the context or the stage.
      auto first = src.find_first_not_of('/');
      step.src = first == std::string::npos ? "." : src.substr(first);
      step.dest = dest;
      if (proto.from_stage < 0) step.context = context_;
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

  void shell(const syn::instruction& ins) {
    auto json = syn::exec_form(ins.args);
    if (!json || json->empty())
      return error(ins.line, "SHELL takes the JSON form: SHELL [\"/bin/bash\", \"-c\"]");
    current().config.shell = std::move(*json);
  }

  void finish() {
    // The stages the last one needs, then their steps in file order.
    std::set<int32_t> needed;
    std::vector<int32_t> todo{stages_.back().index};
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
    auto& last = stages_.back().config;
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
  }

  const syn::document& doc_;
  const std::string& context_;
  dockerfile_program& out_;
  std::vector<stage> stages_;
  std::map<std::string, std::optional<std::string>> global_args_;
};

}  // namespace

dockerfile_program parse_dockerfile(std::string_view text, const std::string& context) {
  dockerfile_program out;
  auto doc = syn::split(text);
  lowering(doc, context, out).run();
  if (!out.errors.empty()) {
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

#include "runtime/plan/request_parser.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <set>

#include "runtime/dockerfile/dockerfile.hpp"
#include "runtime/request/image_ref.hpp"
#include "runtime/request/template_ref.hpp"
#include "storage/common/json_syntax.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace::runtime {
namespace {

namespace dom = simdjson::dom;
using simdjson::SUCCESS;

using json::max_quoted_bytes;
constexpr size_t max_json_depth = json::max_depth;
constexpr size_t max_reported = 100;  // errors, and separately warnings
// Secrets shorter than this are not searched for in messages: every sentence
// would contain them, and messages never echo secret fields in the first place.
constexpr size_t min_redacted_bytes = 4;
constexpr std::string_view redacted = "***";

// ---------------------------------------------------------------------------
// Character rules of the contract.

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool alnum(char c) {
  return lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

// [A-Za-z_][A-Za-z0-9_]*
bool valid_env_name(std::string_view s) {
  if (s.empty() || (s[0] >= '0' && s[0] <= '9')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return alnum(c) || c == '_'; });
}

// [A-Za-z0-9_.-]{1,max}
bool id_chars(std::string_view s, size_t max) {
  if (s.empty() || s.size() > max) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return alnum(c) || c == '_' || c == '.' || c == '-'; });
}

bool valid_secret_id(std::string_view s) {
  return id_chars(s, 64);
}

bool valid_context_id(std::string_view s) {
  return s.size() > 3 && s.substr(0, 3) == "bc_" && id_chars(s.substr(3), 125);
}

// name · namespace/name · name:tag · namespace/name:tag · namespace/name@tb_…
bool valid_template_ref(std::string_view s) {
  return split_template_ref(s).has_value();
}

// A word handed to a tool (package, image, git url/ref, user): no spaces or control
// characters, and no leading '-' that a tool would read as an option.
bool valid_word(std::string_view s) {
  if (s.empty() || s[0] == '-') return false;
  return std::none_of(s.begin(), s.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7F;
  });
}

bool has_dotdot_component(std::string_view path) {
  while (!path.empty()) {
    auto slash = path.find('/');
    if (path.substr(0, slash) == "..") return true;
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return false;
}

std::string type_name(dom::element el) {
  switch (el.type()) {
    case dom::element_type::ARRAY:
      return "an array";
    case dom::element_type::OBJECT:
      return "an object";
    case dom::element_type::INT64:
    case dom::element_type::UINT64:
      return "an integer";
    case dom::element_type::DOUBLE:
      return "a number with a fraction or exponent";
    case dom::element_type::STRING:
      return "a string";
    case dom::element_type::BOOL:
      return "a boolean";
    case dom::element_type::NULL_VALUE:
      return "null";
  }
  return "an unknown value";
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  for (auto pos = s.find(what); pos != std::string::npos; pos = s.find(what, pos + with.size()))
    s.replace(pos, what.size(), with);
}

// ---------------------------------------------------------------------------
// The members of one JSON object, checked for unknown and duplicate keys.
class fields {
 public:
  fields(std::string path, std::vector<std::pair<std::string_view, dom::element>> members)
      : path_(std::move(path)), members_(std::move(members)) {}

  // The value of `key`, if present and not null (null means "not given").
  std::optional<dom::element> get(std::string_view key) const {
    for (auto& [k, v] : members_)
      if (k == key) return v.is_null() ? std::nullopt : std::optional(v);
    return std::nullopt;
  }
  std::string path(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

 private:
  std::string path_;
  std::vector<std::pair<std::string_view, dom::element>> members_;
};

struct string_rule {
  bool required = false;
  bool nonempty = false;
  bool secret = false;  // never echoed; may hold NUL; limited by max_secret_bytes
};

// Walks the DOM, filling the IR and recording every problem it finds.
class reader {
 public:
  reader(const platform_limits& lim, const parse_options& opts, parse_outcome& out)
      : lim_(lim), opts_(opts), out_(out) {}

  build_request request(dom::object root);
  void redact_messages();

 private:
  // A hostile body could otherwise turn 1 MiB of tiny mistakes into a far
  // larger response; past the cap one last entry says so.
  void fail(std::string field, std::string message) {
    if (out_.errors.size() < max_reported)
      out_.errors.push_back(
          make_error(errc::invalid_argument, std::move(message), std::move(field)));
    else if (out_.errors.size() == max_reported)
      out_.errors.push_back(make_error(
          errc::invalid_argument,
          "too many problems; only the first " + std::to_string(max_reported) + " are reported"));
  }
  void warn(std::string message) {
    if (out_.warnings.size() < max_reported)
      out_.warnings.push_back(std::move(message));
    else if (out_.warnings.size() == max_reported)
      out_.warnings.push_back("too many warnings; only the first " + std::to_string(max_reported) +
                              " are reported");
  }
  std::string clip(std::string_view s) const;
  std::string quote(std::string_view s) const { return "'" + clip(s) + "'"; }
  void collect_secret_strings(dom::object root);

  fields open(dom::object obj, std::string path, std::initializer_list<std::string_view> known);
  std::optional<dom::object> object_at(dom::element el, const std::string& path);
  std::optional<dom::object> object_field(const fields& f, std::string_view key, bool required);
  std::optional<dom::array> array_at(dom::element el, const std::string& path, size_t max_items,
                                     const char* limit_name);
  std::optional<std::string> string_at(dom::element el, const std::string& path, string_rule rule);
  std::optional<std::string> string_field(const fields& f, std::string_view key,
                                          string_rule rule = {});
  std::optional<std::vector<std::string>> string_list(const fields& f, std::string_view key,
                                                      bool required);
  std::optional<bool> bool_field(const fields& f, std::string_view key);
  std::optional<uint32_t> uint_field(const fields& f, std::string_view key, uint64_t lo,
                                     uint64_t hi);
  template <class E>
  std::optional<E> enum_field(const fields& f, std::string_view key, bool required,
                              std::initializer_list<std::pair<std::string_view, E>> choices);
  std::optional<env_list> env_map(const fields& f, std::string_view key, bool required);
  std::optional<std::string> checked(std::optional<std::string> v, const std::string& path,
                                     bool (*rule)(std::string_view), std::string_view what);

  bool source(build_source& src, dom::object obj);
  void step(build_step& st, dom::element el, const std::string& path);
  void ready(ready_check& r, dom::object obj);
  // What the section readers learned, for the rules that span sections.
  struct facts {
    bool source_ok = false;                        // builder.source is complete and valid
    std::optional<build_backend> backend;          // build_backend as given and valid
    bool backend_invalid = false;                  // build_backend was given but is not valid
    bool secrets_given = false;                    // build_secrets is a non-empty array
    bool ids_complete = true;                      // every build_secrets id was read
    std::vector<secret_mount> dockerfile_secrets;  // the Dockerfile's RUN secret mounts
    std::vector<size_t> dockerfile_downloads;      // lines of its ADD <url>s
  };
  void builder(build_request& req, dom::object obj, facts& fx);
  void secrets(build_request& req, const fields& top, bool& ids_complete);
  void cross_checks(build_request& req, const facts& fx);

  const platform_limits& lim_;
  const parse_options& opts_;
  parse_outcome& out_;
  std::vector<std::string> secret_strings_;  // every secret value/password in the input
};

// User text made safe to echo: cut to max_quoted_bytes, control characters
// replaced, and withheld entirely if a secret overlaps the part shown. Only that
// part plus one secret's length is searched, so a long text costs little.
std::string reader::clip(std::string_view s) const {
  for (auto& secret : secret_strings_)
    if (s.substr(0, max_quoted_bytes + secret.size() - 1).find(secret) != std::string_view::npos)
      return std::string(redacted);
  std::string text(s.substr(0, max_quoted_bytes + 1));
  bool cut = text.size() > max_quoted_bytes;
  if (cut) {
    size_t n = max_quoted_bytes;
    while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;  // UTF-8 boundary
    text.resize(n);
  }
  for (auto& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  return cut ? text + "…" : text;
}

// Secret values are known before anything is validated, so no message built
// along the way can echo one, even when a user pasted it into another field.
void reader::collect_secret_strings(dom::object root) {
  auto add_all = [&](dom::element obj_el, std::string_view key) {
    dom::object obj;
    if (obj_el.get(obj) != SUCCESS) return;
    for (auto kv : obj) {
      std::string_view v;
      if (kv.key == key && kv.value.get(v) == SUCCESS && v.size() >= min_redacted_bytes)
        secret_strings_.emplace_back(v);
    }
  };
  dom::array list;
  if (root["build_secrets"].get(list) == SUCCESS)
    for (auto item : list) add_all(item, "value");
  dom::element auth;
  if (root.at_pointer("/builder/source/auth").get(auth) == SUCCESS) add_all(auth, "password");
  // Longest first, so a secret containing another is replaced whole.
  std::sort(secret_strings_.begin(), secret_strings_.end(),
            [](auto& a, auto& b) { return a.size() > b.size(); });
}

void reader::redact_messages() {
  for (auto& secret : secret_strings_) {
    for (auto& e : out_.errors) {
      replace_all(e.message, secret, redacted);
      replace_all(e.field, secret, redacted);
    }
    for (auto& w : out_.warnings) replace_all(w, secret, redacted);
  }
}

fields reader::open(dom::object obj, std::string path,
                    std::initializer_list<std::string_view> known) {
  std::vector<std::pair<std::string_view, dom::element>> members;
  for (auto kv : obj) {
    auto prefix = path.empty() ? std::string{} : path + ".";
    if (std::find(known.begin(), known.end(), kv.key) == known.end()) {
      warn("unknown field '" + prefix + clip(kv.key) + "' ignored");
      continue;
    }
    bool dup =
        std::any_of(members.begin(), members.end(), [&](auto& m) { return m.first == kv.key; });
    if (dup) {
      fail(prefix + std::string(kv.key),
           "field '" + prefix + clip(kv.key) + "' is given more than once");
      continue;
    }
    members.emplace_back(kv.key, kv.value);
  }
  return fields(std::move(path), std::move(members));
}

std::optional<dom::object> reader::object_at(dom::element el, const std::string& path) {
  dom::object obj;
  if (el.get(obj) == SUCCESS) return obj;
  fail(path, path + " must be an object, got " + type_name(el));
  return std::nullopt;
}

std::optional<dom::object> reader::object_field(const fields& f, std::string_view key,
                                                bool required) {
  auto el = f.get(key);
  if (!el) {
    if (required) fail(f.path(key), f.path(key) + " is required");
    return std::nullopt;
  }
  return object_at(*el, f.path(key));
}

std::optional<dom::array> reader::array_at(dom::element el, const std::string& path,
                                           size_t max_items, const char* limit_name) {
  dom::array arr;
  if (el.get(arr) != SUCCESS) {
    fail(path, path + " must be an array, got " + type_name(el));
    return std::nullopt;
  }
  if (arr.size() > max_items) {
    fail(path, path + " has " + std::to_string(arr.size()) + " " + limit_name + "; the limit is " +
                   std::to_string(max_items));
    return std::nullopt;
  }
  return arr;
}

std::optional<std::string> reader::string_at(dom::element el, const std::string& path,
                                             string_rule rule) {
  std::string_view v;
  if (el.get(v) != SUCCESS) {
    fail(path, path + " must be a string, got " + type_name(el));
    return std::nullopt;
  }
  bool ok = true;
  if (rule.secret) {
    if (v == redacted && opts_.allow_redacted_secrets) return std::string(v);
    if (v.size() > lim_.max_secret_bytes) {
      fail(path, path + " must be at most " + std::to_string(lim_.max_secret_bytes) + " bytes");
      ok = false;
    }
  } else {
    if (v.size() > lim_.max_string_bytes) {
      fail(path, path + " is " + std::to_string(v.size()) + " bytes; the limit is " +
                     std::to_string(lim_.max_string_bytes));
      ok = false;
    }
    if (v.find('\0') != std::string_view::npos) {
      fail(path, path + " must not contain NUL characters");
      ok = false;
    }
  }
  if (rule.nonempty && v.empty()) {
    fail(path, path + " must not be empty");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return std::string(v);
}

std::optional<std::string> reader::string_field(const fields& f, std::string_view key,
                                                string_rule rule) {
  auto el = f.get(key);
  if (!el) {
    if (rule.required) fail(f.path(key), f.path(key) + " is required");
    return std::nullopt;
  }
  return string_at(*el, f.path(key), rule);
}

// Applies a character rule to an already-read string; `what` completes
// "<path> must be <what>".
std::optional<std::string> reader::checked(std::optional<std::string> v, const std::string& path,
                                           bool (*rule)(std::string_view), std::string_view what) {
  if (!v || rule(*v)) return v;
  fail(path, path + " must be " + std::string(what) + ", got " + quote(*v));
  return std::nullopt;
}

std::optional<std::vector<std::string>> reader::string_list(const fields& f, std::string_view key,
                                                            bool required) {
  auto el = f.get(key);
  auto path = f.path(key);
  if (!el) {
    if (required) fail(path, path + " is required");
    return std::nullopt;
  }
  auto arr = array_at(*el, path, lim_.max_list_items, "items");
  if (!arr) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  size_t i = 0;
  for (auto item : *arr) {
    auto s = string_at(item, path + "[" + std::to_string(i++) + "]", {.nonempty = true});
    if (s)
      out.push_back(std::move(*s));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  if (required && out.empty()) {
    fail(path, path + " must not be empty");
    return std::nullopt;
  }
  return out;
}

std::optional<bool> reader::bool_field(const fields& f, std::string_view key) {
  auto el = f.get(key);
  if (!el) return std::nullopt;
  bool b;
  if (el->get(b) == SUCCESS) return b;
  fail(f.path(key), f.path(key) + " must be a boolean, got " + type_name(*el));
  return std::nullopt;
}

std::optional<uint32_t> reader::uint_field(const fields& f, std::string_view key, uint64_t lo,
                                           uint64_t hi) {
  auto el = f.get(key);
  if (!el) return std::nullopt;
  auto path = f.path(key);
  auto range = "between " + std::to_string(lo) + " and " + std::to_string(hi);
  if (el->is<int64_t>() || el->is<uint64_t>()) {
    int64_t neg = 0;
    uint64_t v = 0;
    if (el->get(neg) == SUCCESS && neg < 0) {
      fail(path, path + " must be " + range + ", got " + std::to_string(neg));
      return std::nullopt;
    }
    if (el->get(v) == SUCCESS && v >= lo && v <= hi) return static_cast<uint32_t>(v);
    fail(path, path + " must be " + range + ", got " + std::to_string(v));
    return std::nullopt;
  }
  fail(path, path + " must be an integer " + range + ", got " + type_name(*el));
  return std::nullopt;
}

template <class E>
std::optional<E> reader::enum_field(const fields& f, std::string_view key, bool required,
                                    std::initializer_list<std::pair<std::string_view, E>> choices) {
  auto s = string_field(f, key, {.required = required});
  if (!s) return std::nullopt;
  for (auto& [name, value] : choices)
    if (*s == name) return value;
  std::string names;
  for (auto& c : choices) names += (names.empty() ? "" : ", ") + std::string(c.first);
  fail(f.path(key), f.path(key) + " must be one of " + names + "; got " + quote(*s));
  return std::nullopt;
}

std::optional<env_list> reader::env_map(const fields& f, std::string_view key, bool required) {
  auto path = f.path(key);
  auto obj = object_field(f, key, required);
  if (!obj) return std::nullopt;
  if (obj->size() > lim_.max_list_items) {
    fail(path, path + " has " + std::to_string(obj->size()) + " variables; the limit is " +
                   std::to_string(lim_.max_list_items));
    return std::nullopt;
  }
  env_list out;
  bool ok = true;
  for (auto kv : *obj) {
    if (!valid_env_name(kv.key) || kv.key.size() > lim_.max_string_bytes) {
      fail(path, path + " has an invalid variable name " + quote(kv.key) +
                     ": names must match [A-Za-z_][A-Za-z0-9_]*");
      ok = false;
      continue;
    }
    auto vpath = path + "." + std::string(kv.key);
    if (std::any_of(out.begin(), out.end(), [&](auto& e) { return e.first == kv.key; })) {
      fail(vpath, "variable " + quote(kv.key) + " is given more than once in " + path);
      ok = false;
      continue;
    }
    auto v = string_at(kv.value, vpath, {});
    if (v)
      out.emplace_back(kv.key, std::move(*v));
    else
      ok = false;
  }
  if (!ok) return std::nullopt;
  if (required && out.empty()) {
    fail(path, path + " must set at least one variable");
    return std::nullopt;
  }
  return out;
}

// ---------------------------------------------------------------------------
// The request, section by section.

// The value of obj["type"] if it is a string (for choosing the known fields
// before the object is opened; the type itself is validated afterwards).
std::string_view peek_type(dom::object obj) {
  std::string_view t;
  if (obj["type"].get(t) != SUCCESS) return {};
  return t;
}

bool reader::source(build_source& src, dom::object obj) {
  const std::string path = "builder.source";
  auto t = peek_type(obj);
  auto f = t == "python_image" ? open(obj, path, {"type", "version"})
           : t == "image"      ? open(obj, path, {"type", "image", "auth"})
           : t == "dockerfile" ? open(obj, path, {"type", "content", "context"})
           : t == "template"
               ? open(obj, path, {"type", "ref"})
               : open(obj, path, {"type", "version", "image", "auth", "content", "context", "ref"});
  auto type = enum_field<source_type>(f, "type", true,
                                      {{"python_image", source_type::python_image},
                                       {"image", source_type::image},
                                       {"dockerfile", source_type::dockerfile},
                                       {"template", source_type::template_ref}});
  if (!type) return false;
  src.type = *type;
  auto errors_before = out_.errors.size();
  switch (*type) {
    case source_type::python_image:
      if (auto v = checked(
              string_field(f, "version", {.required = true}), f.path("version"),
              [](std::string_view s) { return id_chars(s, 64); },
              "a version such as 3.11 ([A-Za-z0-9_.-]{1,64})"))
        src.version = *v;
      break;
    case source_type::image:
      if (auto v =
              checked(string_field(f, "image", {.required = true}), f.path("image"), valid_word,
                      "an image reference without spaces that does not start with '-'")) {
        if (auto ref = parse_image_ref(*v); !ref)
          fail(f.path("image"), ref.error().message);
        else
          src.image = *v;
      }
      if (auto auth = object_field(f, "auth", false)) {
        auto af = open(*auth, f.path("auth"), {"username", "password"});
        auto user = string_field(af, "username", {.required = true, .nonempty = true});
        auto pass =
            string_field(af, "password", {.required = true, .nonempty = true, .secret = true});
        if (user && pass) src.auth = registry_auth{std::move(*user), std::move(*pass)};
      }
      break;
    case source_type::dockerfile:
      if (auto v = string_field(f, "content", {.required = true, .nonempty = true}))
        src.dockerfile = *v;
      if (auto v = string_field(f, "context"); v && !v->empty()) {
        if (valid_context_id(*v))
          src.context = *v;
        else
          fail(f.path("context"),
               f.path("context") + " must be a build context id (bc_…), got " + quote(*v));
      }
      break;
    case source_type::template_ref:
      if (auto v =
              checked(string_field(f, "ref", {.required = true}), f.path("ref"), valid_template_ref,
                      "a template ref (name, namespace/name, name:tag, namespace/name:tag "
                      "or namespace/name@tb_…)"))
        src.ref = *v;
      break;
  }
  return out_.errors.size() == errors_before;
}

void reader::step(build_step& st, dom::element el, const std::string& path) {
  auto obj = object_at(el, path);
  if (!obj) return;
  auto t = peek_type(*obj);
  auto f = t == "apt_install" || t == "pip_install" ? open(*obj, path, {"type", "packages"})
           : t == "npm_install" ? open(*obj, path, {"type", "packages", "global"})
           : t == "run"         ? open(*obj, path, {"type", "cmd", "secrets"})
           : t == "copy"        ? open(*obj, path, {"type", "src", "dest", "context"})
           : t == "git_clone"   ? open(*obj, path, {"type", "url", "dest", "ref"})
           : t == "env"         ? open(*obj, path, {"type", "envs"})
           : t == "workdir"     ? open(*obj, path, {"type", "path"})
           : t == "user"        ? open(*obj, path, {"type", "name"})
                                : open(*obj, path,
                                       {"type", "packages", "global", "cmd", "secrets", "src", "dest",
                                        "context", "url", "ref", "envs", "path", "name"});
  auto type = enum_field<step_type>(f, "type", true,
                                    {{"apt_install", step_type::apt_install},
                                     {"pip_install", step_type::pip_install},
                                     {"npm_install", step_type::npm_install},
                                     {"run", step_type::run},
                                     {"copy", step_type::copy},
                                     {"git_clone", step_type::git_clone},
                                     {"env", step_type::env},
                                     {"workdir", step_type::workdir},
                                     {"user", step_type::user}});
  if (!type) return;
  st.type = *type;
  const string_rule required{.required = true, .nonempty = true};
  switch (*type) {
    case step_type::apt_install:
    case step_type::pip_install:
    case step_type::npm_install:
      if (auto list = string_list(f, "packages", true)) {
        for (size_t i = 0; i < list->size(); ++i)
          if (!valid_word((*list)[i]))
            fail(f.path("packages") + "[" + std::to_string(i) + "]",
                 f.path("packages") + "[" + std::to_string(i) + "] must be a package name " +
                     "without spaces that does not start with '-', got " + quote((*list)[i]));
        st.packages = std::move(*list);
      }
      if (*type == step_type::npm_install)
        if (auto g = bool_field(f, "global")) st.global = *g;
      break;
    case step_type::run:
      if (auto v = string_field(f, "cmd", required)) st.cmd = *v;
      if (auto ids = string_list(f, "secrets", false)) {
        for (size_t i = 0; i < ids->size(); ++i) {
          auto ipath = f.path("secrets") + "[" + std::to_string(i) + "]";
          auto& id = (*ids)[i];
          if (!valid_secret_id(id))
            fail(ipath, ipath + " must be a secret id ([A-Za-z0-9_.-]{1,64}), got " + quote(id));
          else if (std::find(ids->begin(), ids->begin() + static_cast<long>(i), id) !=
                   ids->begin() + static_cast<long>(i))
            fail(ipath, "secret id " + quote(id) + " is listed twice in " + f.path("secrets"));
        }
        st.secrets = std::move(*ids);
      }
      break;
    case step_type::copy:
      if (auto v = string_field(f, "src", required)) {
        if (has_dotdot_component(*v))
          fail(f.path("src"),
               f.path("src") + " must stay inside the build context (no '..'), got " + quote(*v));
        st.src = *v;
      }
      if (auto v = string_field(f, "dest", required)) st.dest = *v;
      if (auto v = string_field(f, "context"); v && !v->empty()) {
        if (valid_context_id(*v))
          st.context = *v;
        else
          fail(f.path("context"),
               f.path("context") + " must be a build context id (bc_…), got " + quote(*v));
      }
      break;
    case step_type::git_clone:
      if (auto v = checked(string_field(f, "url", required), f.path("url"), valid_word,
                           "a repository URL without spaces that does not start with '-'"))
        st.url = *v;
      if (auto v = string_field(f, "dest", required)) st.dest = *v;
      if (auto v = string_field(f, "ref"); v && !v->empty())
        if (auto r = checked(v, f.path("ref"), valid_word,
                             "a branch, tag or commit without spaces that does not start with '-'"))
          st.ref = *r;
      break;
    case step_type::env:
      if (auto envs = env_map(f, "envs", true)) st.envs = std::move(*envs);
      break;
    case step_type::workdir:
      if (auto v = string_field(f, "path", required)) st.path = *v;
      break;
    case step_type::user:
      if (auto v = checked(
              string_field(f, "name", required), f.path("name"),
              [](std::string_view s) {
                return valid_word(s) && std::all_of(s.begin(), s.end(), [](char c) {
                         return alnum(c) || c == '_' || c == '.' || c == '-' || c == ':';
                       });
              },
              "a user name or uid[:gid] ([A-Za-z0-9_.:-], not starting with '-')"))
        st.user = *v;
      break;
    case step_type::from:  // only Dockerfiles make these; the type list above excludes it
      break;
  }
}

void reader::ready(ready_check& r, dom::object obj) {
  const std::string path = "builder.ready";
  auto t = peek_type(obj);
  auto f = t == "port"      ? open(obj, path, {"type", "port"})
           : t == "url"     ? open(obj, path, {"type", "url"})
           : t == "file"    ? open(obj, path, {"type", "path"})
           : t == "command" ? open(obj, path, {"type", "cmd"})
                            : open(obj, path, {"type", "port", "url", "path", "cmd"});
  auto type = enum_field<ready_type>(f, "type", true,
                                     {{"port", ready_type::port},
                                      {"url", ready_type::url},
                                      {"file", ready_type::file},
                                      {"command", ready_type::command}});
  if (!type) return;
  r.type = *type;
  const string_rule required{.required = true, .nonempty = true};
  switch (*type) {
    case ready_type::port:
      if (auto p = uint_field(f, "port", 1, 65535))
        r.port = *p;
      else if (!f.get("port"))
        fail(f.path("port"), f.path("port") + " is required");
      break;
    case ready_type::url:
      if (auto v = checked(
              string_field(f, "url", required), f.path("url"),
              [](std::string_view s) {
                return valid_word(s) &&
                       (s.substr(0, 7) == "http://" || s.substr(0, 8) == "https://");
              },
              "an http:// or https:// URL"))
        r.url = *v;
      break;
    case ready_type::file:
      if (auto v = string_field(f, "path", required)) r.path = *v;
      break;
    case ready_type::command:
      if (auto v = string_field(f, "cmd", required)) r.cmd = *v;
      break;
    case ready_type::none:
      break;
  }
}

void reader::builder(build_request& req, dom::object obj, facts& fx) {
  auto f = open(obj, "builder",
                {"source", "steps", "runtime_envs", "start_cmd", "ready", "ready_timeout_ms"});
  if (auto src = object_field(f, "source", true)) fx.source_ok = source(req.source, *src);
  std::string dockerfile_start_cmd;
  bool dockerfile_healthcheck = false;
  if (fx.source_ok && req.source.type == source_type::dockerfile) {
    auto prog =
        parse_dockerfile(req.source.dockerfile, req.source.context, {req.build_args, req.target});
    for (auto& e : prog.errors)
      fail("builder.source.content",
           "Dockerfile line " + std::to_string(e.line) + ": " + e.message);
    if (!prog.target_error.empty()) fail("target", prog.target_error);
    fx.dockerfile_downloads = std::move(prog.downloads);
    for (auto& w : prog.warnings) warn("Dockerfile: " + w);
    dockerfile_start_cmd = prog.start_cmd;
    dockerfile_healthcheck = prog.healthcheck.type != ready_type::none;
    fx.dockerfile_secrets = std::move(prog.secret_mounts);
  }
  if (auto el = f.get("steps")) {
    if (auto arr = array_at(*el, f.path("steps"), lim_.max_steps, "steps")) {
      size_t i = 0;
      for (auto item : *arr) {
        build_step st;
        auto path = f.path("steps") + "[" + std::to_string(i++) + "]";
        auto errors_before = out_.errors.size();
        step(st, item, path);
        // A copy reads from a build context: its own, else the Dockerfile's.
        if (st.type == step_type::copy && st.context.empty() &&
            out_.errors.size() == errors_before) {
          if (!req.source.context.empty())
            st.context = req.source.context;
          else
            fail(path + ".context", path +
                                        ".context is required: upload the files with POST "
                                        "/v1/build-contexts and pass the returned id (bc_…)");
        }
        req.steps.push_back(std::move(st));
      }
    }
  }
  if (auto envs = env_map(f, "runtime_envs", false)) req.runtime_envs = std::move(*envs);
  if (auto v = string_field(f, "start_cmd")) req.start_cmd = *v;
  if (auto r = object_field(f, "ready", false)) ready(req.ready, *r);
  if (auto v = uint_field(f, "ready_timeout_ms", 1, lim_.max_ready_timeout_ms))
    req.ready_timeout_ms = *v;
  if (req.ready.type != ready_type::none && req.start_cmd.empty() && dockerfile_start_cmd.empty())
    fail(f.path("ready"), f.path("ready") +
                              " needs builder.start_cmd (or a Dockerfile CMD/ENTRYPOINT): the "
                              "check waits for what the start command starts");
  if (dockerfile_healthcheck && req.ready.type != ready_type::none)
    warn("Dockerfile: HEALTHCHECK is not used: builder.ready is the template's ready check");
  else if (dockerfile_healthcheck && req.start_cmd.empty() && dockerfile_start_cmd.empty())
    warn(
        "Dockerfile: HEALTHCHECK is not used: the template has no start command (CMD, "
        "ENTRYPOINT or builder.start_cmd) for it to check");
  else if (dockerfile_healthcheck)
    warn(
        "Dockerfile: HEALTHCHECK becomes the template's ready check (a command check; the build "
        "and every machine wait for it)");
}

void reader::secrets(build_request& req, const fields& top, bool& ids_complete) {
  auto el = top.get("build_secrets");
  if (!el) return;
  auto arr = array_at(*el, "build_secrets", lim_.max_list_items, "secrets");
  if (!arr) {
    ids_complete = false;
    return;
  }
  std::set<std::string> seen;
  size_t i = 0;
  for (auto item : *arr) {
    auto path = "build_secrets[" + std::to_string(i++) + "]";
    auto obj = object_at(item, path);
    if (!obj) {
      ids_complete = false;
      continue;
    }
    auto f = open(*obj, path, {"id", "value", "source"});
    auto id = checked(string_field(f, "id", {.required = true}), f.path("id"), valid_secret_id,
                      "a secret id ([A-Za-z0-9_.-]{1,64})");
    if (!id) {
      ids_complete = false;
    } else if (!seen.insert(*id).second) {
      fail(f.path("id"), "secret id " + quote(*id) + " is given more than once in build_secrets");
      id.reset();
    }
    auto value = string_field(f, "value", {.required = true, .nonempty = true, .secret = true});
    if (value && *value == redacted && !opts_.allow_redacted_secrets)
      warn(f.path("value") + " looks like a redacted placeholder; the build will use it literally");
    auto source = enum_field<std::string_view>(
        f, "source", false, {{"value", "value"}, {"env", "env"}, {"file", "file"}});
    if (id && value)
      req.secrets.push_back(
          build_secret{std::move(*id), std::move(*value), std::string(source.value_or("value"))});
  }
}

void reader::cross_checks(build_request& req, const facts& fx) {
  bool dockerfile = fx.source_ok && req.source.type == source_type::dockerfile;
  req.backend = fx.backend.value_or(dockerfile ? build_backend::buildkit : build_backend::native);
  if (dockerfile && fx.backend == build_backend::native) {
    fail("build_backend",
         "Dockerfile builds use BuildKit: build_backend \"native\" is rejected for Dockerfile "
         "input; omit build_backend or use \"buildkit\"");
  } else if (!fx.backend_invalid && fx.source_ok && req.backend == build_backend::native &&
             fx.secrets_given) {
    fail("build_secrets",
         "native builds reject build secrets; build secrets need build_backend \"buildkit\"");
  }

  std::set<std::string> supplied;
  for (auto& s : req.secrets) supplied.insert(s.id);
  std::set<std::string> used;
  // With an unreadable build_secrets entry the supplied set is partial: then
  // only the problems in build_secrets itself are reported.
  for (size_t i = 0; i < req.steps.size(); ++i)
    for (size_t j = 0; j < req.steps[i].secrets.size(); ++j) {
      auto& id = req.steps[i].secrets[j];
      used.insert(id);
      if (!fx.ids_complete || supplied.count(id) || !valid_secret_id(id)) continue;
      auto step = "builder.steps[" + std::to_string(i) + "]";
      auto msg = "secret " + quote(id) + " used by " + step + " is not supplied in build_secrets";
      if (req.backend == build_backend::native)
        msg +=
            "; note that native builds reject build secrets, so steps that use secrets need "
            "build_backend \"buildkit\"";
      fail(step + ".secrets[" + std::to_string(j) + "]", std::move(msg));
    }
  if (dockerfile) {
    std::set<std::string> reported;
    for (auto& m : fx.dockerfile_secrets) {
      used.insert(m.id);
      if (!fx.ids_complete || !m.required || supplied.count(m.id) || !reported.insert(m.id).second)
        continue;
      fail("builder.source.content",
           "the Dockerfile mounts secret " + quote(m.id) +
               " (RUN --mount=type=secret) but build_secrets does not supply it; supply it or "
               "add required=false to the mount");
    }
  }
  if (dockerfile && !req.internet_access)
    for (auto line : fx.dockerfile_downloads)
      fail("builder.source.content",
           "Dockerfile line " + std::to_string(line) +
               ": ADD of a URL downloads it at build time, but internet_access is false; put the "
               "file in the build context, or build with internet access");
  for (size_t i = 0; i < req.secrets.size(); ++i)
    if (!used.count(req.secrets[i].id))
      warn("build secret " + quote(req.secrets[i].id) +
           " is not used by any step or RUN --mount=type=secret");
}

build_request reader::request(dom::object root) {
  collect_secret_strings(root);
  build_request req;
  auto top = open(
      root, "",
      {"name", "namespace", "tags", "builder", "cpu_count", "memory_mb", "disk_mb",
       "internet_access", "build_backend", "build_secrets", "skip_cache", "build_args", "target"});
  const char* name_rule = "a name matching [a-z0-9][a-z0-9._-]{0,62}";
  if (auto v =
          checked(string_field(top, "name", {.required = true}), "name", valid_name, name_rule))
    req.name = *v;
  if (auto v = string_field(top, "namespace"); v && !v->empty())
    if (auto ns = checked(v, "namespace", valid_name, name_rule)) req.namespace_name = *ns;
  if (auto tags = string_list(top, "tags", false)) {
    for (size_t i = 0; i < tags->size(); ++i) {
      auto path = "tags[" + std::to_string(i) + "]";
      auto& tag = (*tags)[i];
      if (!valid_name(tag))
        fail(path, path + " must be a tag matching [a-z0-9][a-z0-9._-]{0,62}, got " + quote(tag));
      else if (std::find(tags->begin(), tags->begin() + static_cast<long>(i), tag) !=
               tags->begin() + static_cast<long>(i))
        fail(path, "tag " + quote(tag) + " is listed more than once");
    }
    req.tags = std::move(*tags);
  }

  // Before the builder: its Dockerfile is read with them.
  if (auto args = env_map(top, "build_args", false)) {
    req.build_args = std::move(*args);
    for (auto& [k, v] : req.build_args)
      if (secret_like_name(k))
        warn("build arg " + quote(k) +
             " looks like a secret: build args are stored in the build definition and are part "
             "of cache keys; pass it in build_secrets and read it with RUN "
             "--mount=type=secret,id=" +
             clip(k) + " instead");
  }
  if (auto v = string_field(top, "target"); v && !v->empty()) req.target = *v;

  facts fx;
  if (auto b = object_field(top, "builder", true)) builder(req, *b, fx);
  if (fx.source_ok && req.source.type != source_type::dockerfile) {
    if (!req.build_args.empty())
      fail("build_args", "build_args apply to Dockerfile sources (their ARG instructions) only");
    if (!req.target.empty())
      fail("target", "target names a stage of a Dockerfile: it applies to Dockerfile sources only");
  }

  // Defaults are clamped into the configured limits, so a platform with a
  // smaller maximum still accepts a request that leaves the field out.
  auto clamp = [](uint32_t v, uint32_t lo, uint32_t hi) { return std::max(lo, std::min(v, hi)); };
  req.cpu_count = clamp(req.cpu_count, lim_.min_cpu_count, lim_.max_cpu_count);
  req.memory_mb = clamp(req.memory_mb, lim_.min_memory_mb, lim_.max_memory_mb);
  if (auto v = uint_field(top, "cpu_count", lim_.min_cpu_count, lim_.max_cpu_count))
    req.cpu_count = *v;
  if (auto v = uint_field(top, "memory_mb", lim_.min_memory_mb, lim_.max_memory_mb))
    req.memory_mb = *v;
  if (auto v = uint_field(top, "disk_mb", lim_.min_disk_mb, lim_.max_disk_mb)) req.disk_mb = *v;
  if (auto v = bool_field(top, "internet_access")) req.internet_access = *v;
  fx.backend = enum_field<build_backend>(
      top, "build_backend", false,
      {{"native", build_backend::native}, {"buildkit", build_backend::buildkit}});
  fx.backend_invalid = !fx.backend && top.get("build_backend");
  secrets(req, top, fx.ids_complete);
  if (auto v = bool_field(top, "skip_cache")) req.skip_cache = *v;

  dom::array given;
  if (auto el = top.get("build_secrets"); el && el->get(given) == SUCCESS)
    fx.secrets_given = given.size() > 0;
  cross_checks(req, fx);
  return req;
}

void write_source(json::writer& w, const build_source& src) {
  w.begin_object().field("type", to_string(src.type));
  switch (src.type) {
    case source_type::python_image:
      w.field("version", src.version);
      break;
    case source_type::image:
      w.field("image", src.image);
      if (src.auth)
        w.key("auth")
            .begin_object()
            .field("username", src.auth->username)
            .field("password", redacted)
            .end_object();
      break;
    case source_type::dockerfile:
      w.field("content", src.dockerfile);
      if (!src.context.empty()) w.field("context", src.context);
      break;
    case source_type::template_ref:
      w.field("ref", src.ref);
      break;
  }
  w.end_object();
}

void write_envs(json::writer& w, const env_list& envs) {
  w.begin_object();
  for (auto& [k, v] : envs) w.field(k, v);
  w.end_object();
}

}  // namespace

parse_outcome parse_build_request(std::string_view json, const platform_limits& limits,
                                  const parse_options& opts) {
  parse_outcome out;
  if (json.size() > limits.max_request_bytes) {
    out.errors.push_back(make_error(errc::payload_too_large,
                                    "the request body is " + std::to_string(json.size()) +
                                        " bytes; the limit is " +
                                        std::to_string(limits.max_request_bytes) + " bytes"));
    return out;
  }
  dom::parser parser;
  dom::element root;
  auto code = parser.allocate(std::max<size_t>(json.size(), 64), max_json_depth);
  if (code == SUCCESS) code = parser.parse(simdjson::padded_string(json)).get(root);
  if (code != SUCCESS) {
    out.errors.push_back(json::malformed_json_error(json, code == simdjson::MEMALLOC));
    return out;
  }
  dom::object obj;
  if (root.get(obj) != SUCCESS) {
    out.errors.push_back(make_error(errc::invalid_argument,
                                    "the request must be a JSON object, got " + type_name(root)));
    return out;
  }
  reader r(limits, opts, out);
  auto req = r.request(obj);
  r.redact_messages();
  if (out.errors.empty()) out.request = std::move(req);
  return out;
}

std::string sanitized_definition_json(const build_request& req) {
  json::writer w;
  w.begin_object().field("name", req.name);
  if (!req.namespace_name.empty()) w.field("namespace", req.namespace_name);
  w.key("tags").begin_array();
  for (auto& t : req.tags) w.value(t);
  w.end_array();

  w.key("builder").begin_object();
  w.key("source");
  write_source(w, req.source);
  w.key("steps").begin_array();
  for (auto& s : req.steps) w.raw(canonical_step_json(s));
  w.end_array();
  w.key("runtime_envs");
  write_envs(w, req.runtime_envs);
  w.field("start_cmd", req.start_cmd);
  if (req.ready.type != ready_type::none) w.field_raw("ready", ready_check_json(req.ready));
  w.field("ready_timeout_ms", req.ready_timeout_ms);
  w.end_object();

  w.field("cpu_count", req.cpu_count).field("memory_mb", req.memory_mb);
  if (req.disk_mb != 0) w.field("disk_mb", req.disk_mb);  // 0 = default headroom
  w.field("internet_access", req.internet_access);
  w.field("build_backend", to_string(req.backend));
  w.key("build_secrets").begin_array();
  for (auto& s : req.secrets)
    w.begin_object()
        .field("id", s.id)
        .field("source", s.source.empty() ? "value" : s.source)
        .field("value", redacted)
        .end_object();
  w.end_array();
  w.field("skip_cache", req.skip_cache);
  if (!req.build_args.empty()) {
    w.key("build_args");
    write_envs(w, req.build_args);
  }
  if (!req.target.empty()) w.field("target", req.target);
  w.end_object();
  return std::move(w).str();
}

bool lost_registry_password(const build_request& req) {
  return req.source.auth && req.source.auth->password == redacted;
}

std::vector<std::string> required_secret_ids(const build_request& req) {
  std::vector<std::string> ids;
  for (auto& s : req.secrets) ids.push_back(s.id);
  for (auto& step : req.steps) ids.insert(ids.end(), step.secrets.begin(), step.secrets.end());
  if (req.source.type == source_type::dockerfile)
    for (auto& m :
         parse_dockerfile(req.source.dockerfile, req.source.context, {req.build_args, req.target})
             .secret_mounts)
      if (m.required) ids.push_back(m.id);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  return ids;
}

error request_error(parse_outcome&& p) {
  auto first = p.errors.front();
  first.details = std::move(p.errors);
  return first;
}

bool is_malformed_json(const parse_outcome& p) {
  return p.errors.size() == 1 && p.errors.front().message.starts_with("malformed JSON");
}

}  // namespace nullspace::runtime

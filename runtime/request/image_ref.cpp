#include "runtime/request/image_ref.hpp"

#include <algorithm>
#include <cctype>

namespace nullspace::runtime {
namespace {

bool lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
bool hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

// One path component: [a-z0-9]+ joined by '.', '_', '__' or runs of '-'.
bool valid_component(std::string_view s) {
  if (s.empty() || !lower_alnum(s.front()) || !lower_alnum(s.back())) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (lower_alnum(c) || c == '-') continue;
    if (c != '.' && c != '_') return false;
    // A separator stands between alphanumerics ("__" counts as one).
    bool double_underscore = c == '_' && s[i + 1] == '_';
    size_t next = i + (double_underscore ? 2 : 1);
    if (!lower_alnum(s[i - 1]) || !lower_alnum(s[next])) return false;
    i = next - 1;
  }
  return true;
}

// [\w][\w.-]{0,127}
bool valid_tag(std::string_view s) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (s.empty() || s.size() > 128 || !word(s.front())) return false;
  return std::all_of(s.begin(), s.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

// host[:port] with host a DNS name or an [IPv6] literal.
bool valid_registry(std::string_view s) {
  std::string_view host = s, port;
  if (s.starts_with('[')) {
    auto close = s.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    auto inside = s.substr(1, close - 1);
    if (!std::all_of(inside.begin(), inside.end(), [](char c) {
          return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
        }))
      return false;
    auto rest = s.substr(close + 1);
    if (!rest.empty() && !rest.starts_with(':')) return false;
    port = rest.empty() ? rest : rest.substr(1);
    if (!rest.empty() && port.empty()) return false;
  } else {
    if (auto colon = s.find(':'); colon != std::string_view::npos) {
      host = s.substr(0, colon);
      port = s.substr(colon + 1);
      if (port.empty()) return false;
    }
    if (host.empty()) return false;
    for (size_t i = 0; i < host.size(); ++i) {
      char c = host[i];
      bool alnum = std::isalnum(static_cast<unsigned char>(c));
      if (alnum) continue;
      if ((c != '-' && c != '.') || i == 0 || i + 1 == host.size()) return false;
    }
  }
  return port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

error bad(std::string_view text, const std::string& why) {
  return make_error(errc::invalid_argument,
                    "image reference \"" + std::string(text) + "\" is invalid: " + why,
                    "builder.source.image");
}

}  // namespace

std::string image_ref::str() const {
  auto s = registry + "/" + repository;
  if (!tag.empty()) s += ":" + tag;
  if (!digest.empty()) s += "@" + digest;
  return s;
}

result<image_ref> parse_image_ref(std::string_view text) {
  if (text.empty()) return bad(text, "it is empty");
  if (text.size() > 512) return bad(text, "it is longer than 512 characters");
  image_ref ref;
  std::string_view rest = text;

  if (auto at = rest.find('@'); at != std::string_view::npos) {
    auto digest = rest.substr(at + 1);
    if (!digest.starts_with("sha256:"))
      return bad(text, "only sha256 digests (@sha256:<64 hex digits>) are supported");
    auto hexpart = digest.substr(7);
    if (hexpart.size() != 64 || !std::all_of(hexpart.begin(), hexpart.end(), hex))
      return bad(text, "a digest is sha256: and 64 lowercase hex digits");
    ref.digest = std::string(digest);
    rest = rest.substr(0, at);
  }

  // The registry: a first component that looks like a host.
  if (auto slash = rest.find('/'); slash != std::string_view::npos) {
    auto first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
      if (!valid_registry(first))
        return bad(text, "\"" + std::string(first) + "\" is not a host[:port]");
      ref.registry = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (ref.registry.empty() || ref.registry == "index.docker.io" ||
      ref.registry == "registry-1.docker.io")
    ref.registry = docker_hub;

  // The tag: after a ':' in the last component.
  auto last_slash = rest.rfind('/');
  auto colon = rest.find(':', last_slash == std::string_view::npos ? 0 : last_slash);
  if (colon != std::string_view::npos) {
    auto tag = rest.substr(colon + 1);
    if (!valid_tag(tag))
      return bad(text, "a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'");
    ref.tag = std::string(tag);
    rest = rest.substr(0, colon);
  } else if (ref.digest.empty()) {
    ref.tag = "latest";
  }

  if (rest.empty()) return bad(text, "it names no repository");
  size_t start = 0;
  while (start <= rest.size()) {
    auto end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    if (!valid_component(rest.substr(start, end - start)))
      return bad(text,
                 "repository path components are lowercase letters and digits, separated by "
                 "'.', '_', '__' or '-'");
    start = end + 1;
  }
  ref.repository = std::string(rest);
  if (ref.registry == docker_hub && ref.repository.find('/') == std::string::npos)
    ref.repository = "library/" + ref.repository;
  // The limit holds for the reference with its defaults filled in too, so every
  // accepted ref prints (str()) to one this accepts again (found by tests/fuzz/fuzz_refs).
  if (auto full = ref.str(); full.size() > 512)
    return bad(text, "with its defaults filled in (" + std::to_string(full.size()) +
                         " characters) it is longer than 512 characters");
  return ref;
}

bool is_loopback_registry(std::string_view registry) {
  std::string_view host = registry;
  if (registry.starts_with('[')) {
    host = registry.substr(0, registry.find(']') + 1);
  } else if (auto colon = registry.find(':'); colon != std::string_view::npos) {
    host = registry.substr(0, colon);
  }
  if (host == "localhost" || host == "[::1]") return true;
  if (!host.starts_with("127.")) return false;
  // 127.a.b.c, all digits: not a DNS name such as 127.example.com.
  int dots = 0;
  for (char c : host) {
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
  }
  return dots == 3;
}

}  // namespace nullspace::runtime

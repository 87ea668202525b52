#include "runtime/request/path_glob.hpp"

namespace nullspace::runtime {
namespace {

// A `[...]` class at the start of `p` (just after '['): whether `c` is in it,
// and how long the class is (0 if it never closes: then '[' is literal).
size_t match_class(std::string_view p, char c, bool& in) {
  size_t i = 0;
  bool negate = i < p.size() && (p[i] == '!' || p[i] == '^');
  if (negate) ++i;
  bool found = false;
  bool first = true;
  while (i < p.size() && (p[i] != ']' || first)) {
    first = false;
    char lo = p[i];
    if (lo == '\\' && i + 1 < p.size()) lo = p[++i];
    char hi = lo;
    if (i + 2 < p.size() && p[i + 1] == '-' && p[i + 2] != ']') {
      hi = p[i + 2];
      if (hi == '\\' && i + 3 < p.size()) hi = p[(i += 1) + 2];
      i += 2;
    }
    if (lo <= c && c <= hi) found = true;
    ++i;
  }
  if (i >= p.size()) return 0;
  in = found != negate;
  return i + 1;  // past ']'
}

bool match_from(std::string_view p, std::string_view s) {
  while (!p.empty()) {
    if (p.starts_with("**")) {
      auto rest = p.substr(
          p.find_first_not_of('*') == std::string_view::npos ? p.size() : p.find_first_not_of('*'));
      if (rest.empty()) return true;
      if (rest.front() == '/') {
        // "**/x": x here, or after any '/'.
        auto after = rest.substr(1);
        if (match_from(after, s)) return true;
        for (size_t i = 0; i < s.size(); ++i)
          if (s[i] == '/' && match_from(after, s.substr(i + 1))) return true;
        return false;
      }
      for (size_t i = 0; i <= s.size(); ++i)
        if (match_from(rest, s.substr(i))) return true;
      return false;
    }
    char c = p.front();
    if (c == '*') {
      auto rest = p.substr(1);
      for (size_t i = 0; i <= s.size(); ++i) {
        if (match_from(rest, s.substr(i))) return true;
        if (i < s.size() && s[i] == '/') return false;
      }
      return false;
    }
    if (s.empty()) return false;
    if (c == '?') {
      if (s.front() == '/') return false;
      p.remove_prefix(1);
    } else if (c == '[') {
      bool in = false;
      auto len = match_class(p.substr(1), s.front(), in);
      if (len == 0) {  // an unclosed '[' is an ordinary character
        if (s.front() != '[') return false;
        p.remove_prefix(1);
      } else {
        if (!in || s.front() == '/') return false;
        p.remove_prefix(1 + len);
      }
    } else {
      if (c == '\\' && p.size() > 1) {
        p.remove_prefix(1);
        c = p.front();
      }
      if (s.front() != c) return false;
      p.remove_prefix(1);
    }
    s.remove_prefix(1);
  }
  return s.empty();
}

// "./a//b/" -> "a/b"; a leading '/' means the context root.
std::string clean(std::string_view p) {
  std::string out;
  while (!p.empty()) {
    auto slash = p.find('/');
    auto part = p.substr(0, slash);
    if (part == "..") {
      auto cut = out.rfind('/');
      out.resize(cut == std::string::npos ? 0 : cut);
    } else if (!part.empty() && part != ".") {
      if (!out.empty()) out += '/';
      out += part;
    }
    if (slash == std::string_view::npos) break;
    p.remove_prefix(slash + 1);
  }
  return out;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view path) {
  return match_from(pattern, path);
}

bool has_glob(std::string_view s) {
  return s.find_first_of("*?[") != std::string_view::npos;
}

dockerignore::dockerignore(std::string_view text) {
  while (!text.empty()) {
    auto nl = text.find('\n');
    auto line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    rule r;
    if (line.front() == '!') {
      r.include = true;
      line.remove_prefix(1);
    }
    r.pattern = clean(line);
    if (!r.pattern.empty()) rules_.push_back(std::move(r));
  }
}

bool dockerignore::ignores(std::string_view path) const {
  bool ignored = false;
  for (auto& r : rules_) {
    // The path itself or any parent directory of it.
    bool hit = glob_match(r.pattern, path);
    for (size_t i = 0; !hit && i < path.size(); ++i)
      if (path[i] == '/') hit = glob_match(r.pattern, path.substr(0, i));
    if (hit) ignored = !r.include;
  }
  return ignored;
}

}  // namespace nullspace::runtime

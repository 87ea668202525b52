#include "runtime/dockerfile/dockerfile_syntax.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>

namespace nullspace::runtime::dockerfile_syntax {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view ltrim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view rtrim(std::string_view s) {
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string_view trim(std::string_view s) {
  return rtrim(ltrim(s));
}

bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "# name=value" at the top of the file.
bool directive(std::string_view line, std::string& name, std::string& value) {
  auto t = trim(line);
  if (!t.starts_with('#')) return false;
  t = ltrim(t.substr(1));
  size_t n = 0;
  while (n < t.size() && (is_name_char(t[n]))) ++n;
  if (n == 0) return false;
  auto rest = ltrim(t.substr(n));
  if (!rest.starts_with('=')) return false;
  name = lower(t.substr(0, n));
  value = std::string(trim(rest.substr(1)));
  return true;
}

// The whitespace-separated words of `s`, quotes kept but respected (a quoted
// "<<x" is no marker).
std::vector<std::string_view> raw_words(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) break;
    size_t start = i;
    char quote = 0;
    while (i < s.size() && (quote || !is_space(s[i]))) {
      if (quote) {
        if (s[i] == quote) quote = 0;
      } else if (s[i] == '"' || s[i] == '\'') {
        quote = s[i];
      }
      ++i;
    }
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

bool emit(document& d, std::string_view text, size_t line) {
  auto t = trim(text);
  if (t.empty()) return false;
  size_t n = 0;
  while (n < t.size() && !is_space(t[n])) ++n;
  instruction ins;
  ins.line = line;
  ins.keyword = std::string(t.substr(0, n));
  for (auto& c : ins.keyword) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  ins.args = std::string(trim(t.substr(n)));
  if (ins.keyword == "RUN" || ins.keyword == "COPY" || ins.keyword == "ADD") {
    for (auto w : raw_words(ins.args)) {
      heredoc h;
      // A redirect such as 3<<EOF is a heredoc of the shell's too.
      auto digits = w.find_first_not_of("0123456789");
      if (digits != std::string_view::npos && heredoc_marker(w.substr(digits), h))
        ins.heredocs.push_back(std::move(h));
    }
  }
  bool wants_heredocs = !ins.heredocs.empty();
  d.instructions.push_back(std::move(ins));
  return wants_heredocs;
}

// Expands variable references while reading words; see words().
class expander {
 public:
  expander(const variables& vars, char escape, std::string& error)
      : vars_(vars), escape_(escape), error_(error) {}

  // A literal character of the word.
  void literal(std::string& w, char c) const {
    w.push_back(c);
    if (c == '$' && vars_.keep_unknown) w.push_back('$');
  }

  // At text[i] == '$': appends the expansion and returns the index after it.
  std::optional<size_t> dollar(std::string_view text, size_t i, std::string& w) const {
    if (i + 1 < text.size() && text[i + 1] == '{') return braced(text, i, w);
    if (i + 1 < text.size() && is_name_start(text[i + 1])) {
      size_t j = i + 1;
      while (j < text.size() && is_name_char(text[j])) ++j;
      value(std::string(text.substr(i + 1, j - i - 1)), w);
      return j;
    }
    literal(w, '$');
    return i + 1;
  }

 private:
  // The encoded value (see variables) of `name`, decoded unless keep_unknown.
  void value(const std::string& name, std::string& w) const {
    auto it = vars_.values.find(name);
    if (it == vars_.values.end()) {
      if (vars_.keep_unknown) w += "${" + name + "}";
      return;
    }
    if (vars_.keep_unknown) {
      w += it->second;
      return;
    }
    w += decoded(it->second);
  }

  bool is_set(const std::string& name, bool nonempty) const {
    auto it = vars_.values.find(name);
    if (it == vars_.values.end()) return false;
    return !nonempty || !it->second.empty();
  }

  std::optional<size_t> braced(std::string_view text, size_t i, std::string& w) const {
    size_t depth = 0, j = i + 2;
    for (; j < text.size(); ++j) {
      if (text[j] == '{') ++depth;
      if (text[j] == '}') {
        if (depth == 0) break;
        --depth;
      }
    }
    if (j >= text.size()) {
      error_ = "missing '}' in " + std::string(text.substr(i));
      return std::nullopt;
    }
    auto body = text.substr(i + 2, j - i - 2);
    size_t n = 0;
    while (n < body.size() && is_name_char(body[n])) ++n;
    auto name = std::string(body.substr(0, n));
    auto op = body.substr(n);
    if (name.empty() || !is_name_start(name[0])) {
      error_ = "bad substitution ${" + std::string(body) + "}";
      return std::nullopt;
    }
    if (op.empty()) {
      value(name, w);
      return j + 1;
    }
    bool colon = op.starts_with(':');
    if (colon) op.remove_prefix(1);
    if (op.empty() || (op[0] != '-' && op[0] != '+' && op[0] != '?')) {
      error_ = "unsupported substitution ${" + std::string(body) +
               "}: use ${NAME}, ${NAME:-default}, ${NAME:+alternative} or ${NAME:?message}";
      return std::nullopt;
    }
    char kind = op[0];
    std::string word_error;
    auto word = words(op.substr(1), vars_, escape_, false, word_error);
    if (!word) {
      error_ = word_error;
      return std::nullopt;
    }
    auto alt = word->empty() ? std::string() : (*word)[0];
    bool set = is_set(name, colon);
    if (kind == '-') {
      if (set)
        value(name, w);
      else
        w += alt;
    } else if (kind == '+') {
      if (set) w += alt;
    } else if (!set) {
      error_ = name + ": " + (alt.empty() ? "is not set" : alt);
      return std::nullopt;
    } else {
      value(name, w);
    }
    return j + 1;
  }

  const variables& vars_;
  char escape_;
  std::string& error_;
};

}  // namespace

bool heredoc_marker(std::string_view w, heredoc& out) {
  if (!w.starts_with("<<")) return false;
  auto rest = w.substr(2);
  bool chomp = rest.starts_with('-');
  if (chomp) rest.remove_prefix(1);
  bool quoted = false;
  if (rest.size() >= 2 && (rest.front() == '"' || rest.front() == '\'') &&
      rest.back() == rest.front()) {
    rest = rest.substr(1, rest.size() - 2);
    quoted = true;
  }
  if (rest.empty() || rest == "." || rest == ".." ||
      !std::all_of(rest.begin(), rest.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
      }))
    return false;
  out.name = std::string(rest);
  out.expand = !quoted;
  out.chomp = chomp;
  out.marker = std::string(w);
  return true;
}

std::string decoded(std::string_view v,
                    const std::function<std::string(std::string_view)>& lookup) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '$' && i + 1 < v.size() && v[i + 1] == '$') {
      out.push_back('$');
      ++i;
    } else if (v[i] == '$' && i + 1 < v.size() && v[i + 1] == '{') {
      auto close = v.find('}', i);
      if (close == std::string_view::npos) {
        out.append(v.substr(i));
        break;
      }
      if (lookup) out += lookup(v.substr(i + 2, close - i - 2));
      i = close;
    } else {
      out.push_back(v[i]);
    }
  }
  return out;
}

std::string encoded(std::string_view plain) {
  std::string out;
  for (char c : plain) {
    out.push_back(c);
    if (c == '$') out.push_back('$');
  }
  return out;
}

document split(std::string_view text) {
  document d;
  bool directives = true;
  std::string current;
  size_t current_line = 0;
  bool continued = false;
  size_t lineno = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    auto line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (directives) {
      std::string name, value;
      if (directive(line, name, value) &&
          (name == "syntax" || name == "escape" || name == "check")) {
        if (name == "escape") {
          if (value != "\\" && value != "`")
            d.errors.push_back(
                {lineno, "the escape directive must be \\ or `, got '" + value + "'"});
          else
            d.escape = value[0];
        } else if (name == "syntax") {
          d.syntax = value;
        }
        continue;
      }
      directives = false;
    }
    auto left = ltrim(line);
    if (left.starts_with('#')) continue;  // a comment, also between continued lines
    if (left.empty()) continue;           // blank lines, also between continued lines
    if (!continued) {
      current.clear();
      current_line = lineno;
    }
    auto right = rtrim(line);
    if (right.back() == d.escape) {
      right.remove_suffix(1);
      current.append(right);
      continued = true;
      continue;
    }
    current.append(line);
    continued = false;
    if (!emit(d, current, current_line)) continue;
    // The lines that follow are the heredocs' bodies, one after the other.
    auto& ins = d.instructions.back();
    for (auto& h : ins.heredocs) {
      bool closed = false;
      while (pos < text.size()) {
        auto end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        auto body = text.substr(pos, end - pos);
        pos = end + 1;
        ++lineno;
        if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
        ins.raw_heredocs.append(body).append("\n");
        auto cmp = body;
        if (h.chomp)
          while (cmp.starts_with('\t')) cmp.remove_prefix(1);
        if (cmp == h.name) {
          closed = true;
          break;
        }
        h.content.append(cmp).append("\n");
      }
      if (!closed) {
        d.errors.push_back({ins.line, "the heredoc " + h.marker + " has no closing line '" +
                                          h.name + "' (it must stand alone on a line)"});
        break;
      }
    }
  }
  if (continued) emit(d, current, current_line);
  return d;
}

std::optional<std::vector<std::string>> words(std::string_view text, const variables& vars,
                                              char escape, bool split_words, std::string& error) {
  expander ex(vars, escape, error);
  std::vector<std::string> out;
  std::string w;
  bool have = false;
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (split_words && is_space(c)) {
      if (have) out.push_back(std::move(w));
      w.clear();
      have = false;
      ++i;
      continue;
    }
    have = true;
    if (c == escape) {
      if (i + 1 < text.size()) {
        ex.literal(w, text[i + 1]);
        i += 2;
      } else {
        ex.literal(w, c);
        ++i;
      }
    } else if (c == '\'') {
      auto close = text.find('\'', i + 1);
      if (close == std::string_view::npos) {
        error = "unterminated single quote in " + std::string(text);
        return std::nullopt;
      }
      for (size_t j = i + 1; j < close; ++j) ex.literal(w, text[j]);
      i = close + 1;
    } else if (c == '"') {
      size_t j = i + 1;
      for (;;) {
        if (j >= text.size()) {
          error = "unterminated double quote in " + std::string(text);
          return std::nullopt;
        }
        char d = text[j];
        if (d == '"') break;
        if (d == escape && j + 1 < text.size() &&
            (text[j + 1] == '"' || text[j + 1] == '$' || text[j + 1] == escape)) {
          ex.literal(w, text[j + 1]);
          j += 2;
        } else if (d == '$') {
          auto next = ex.dollar(text, j, w);
          if (!next) return std::nullopt;
          j = *next;
        } else {
          ex.literal(w, d);
          ++j;
        }
      }
      i = j + 1;
    } else if (c == '$') {
      auto next = ex.dollar(text, i, w);
      if (!next) return std::nullopt;
      i = *next;
    } else {
      ex.literal(w, c);
      ++i;
    }
  }
  if (have || !split_words) out.push_back(std::move(w));
  return out;
}

std::optional<std::string> expand_text(std::string_view text, const variables& vars, char escape,
                                       std::string& error) {
  expander ex(vars, escape, error);
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == escape && i + 1 < text.size() && text[i + 1] == '$') {
      ex.literal(out, '$');
      i += 2;
    } else if (text[i] == '$') {
      auto next = ex.dollar(text, i, out);
      if (!next) return std::nullopt;
      i = *next;
    } else {
      ex.literal(out, text[i]);
      ++i;
    }
  }
  return out;
}

std::optional<std::vector<std::string>> exec_form(std::string_view args) {
  auto t = trim(args);
  if (!t.starts_with('[')) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::padded_string json(t);
  simdjson::dom::array arr;
  if (parser.parse(json).get(arr) != simdjson::SUCCESS) return std::nullopt;
  std::vector<std::string> out;
  for (auto item : arr) {
    std::string_view s;
    if (item.get(s) != simdjson::SUCCESS) return std::nullopt;
    out.emplace_back(s);
  }
  return out;
}

std::vector<flag> take_flags(std::string_view& args) {
  std::vector<flag> out;
  for (;;) {
    args = ltrim(args);
    if (!args.starts_with("--")) return out;
    size_t n = 0;
    while (n < args.size() && !is_space(args[n])) ++n;
    auto token = args.substr(2, n - 2);
    args.remove_prefix(n);
    flag f;
    auto eq = token.find('=');
    f.name = std::string(token.substr(0, eq));
    if (eq != std::string_view::npos) {
      auto v = token.substr(eq + 1);
      if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
        v = v.substr(1, v.size() - 2);
      f.value = std::string(v);
      f.has_value = true;
    }
    out.push_back(std::move(f));
  }
}

}  // namespace nullspace::runtime::dockerfile_syntax

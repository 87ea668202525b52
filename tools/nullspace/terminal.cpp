#include "tools/nullspace/terminal.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "storage/common/json_writer.hpp"

namespace nullspace::cli {
namespace {

bool is_tty(int fd) {
  if (!::isatty(fd)) return false;
  const char* term = std::getenv("TERM");
  return !(term && std::string_view(term) == "dumb");
}

void write_all(FILE* f, std::string_view s) {
  std::fwrite(s.data(), 1, s.size(), f);
  std::fflush(f);
}

}  // namespace

terminal& terminal::get() {
  static terminal t;
  return t;
}

terminal::terminal() : stdout_tty_(is_tty(1)), stderr_tty_(is_tty(2)) {}

void terminal::add_secret(std::string_view value) {
  if (value.empty()) return;
  auto add = [this](std::string s) {
    if (!s.empty() && std::find(needles_.begin(), needles_.end(), s) == needles_.end())
      needles_.push_back(std::move(s));
  };
  add(std::string(value));
  // As it appears inside a JSON string (quotes, backslashes, control bytes).
  std::string quoted;
  json::append_quoted(quoted, value);
  add(quoted.substr(1, quoted.size() - 2));
  // Longest first, so that a secret containing another is replaced whole.
  std::sort(needles_.begin(), needles_.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

std::string terminal::redact(std::string_view text) const {
  std::string s(text);
  for (auto& n : needles_) {
    size_t pos = 0;
    while ((pos = s.find(n, pos)) != std::string::npos) {
      s.replace(pos, n.size(), "***");
      pos += 3;
    }
  }
  return s;
}

void terminal::out(std::string_view text) {
  write_all(stdout, redact(text));
}

void terminal::err(std::string_view text) {
  write_all(stderr, redact(text));
}

}  // namespace nullspace::cli

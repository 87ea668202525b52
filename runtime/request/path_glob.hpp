// Shell-style path patterns, as Docker matches COPY sources and .dockerignore
// lines: `*` (any run of characters except '/'), `?` (one character except
// '/'), `[...]` (a class; `[!...]` or `[^...]` negates; ranges a-z), `\x` (x
// literally) and `**` (any run of characters, '/' included; `**/` also matches
// no directory at all). Paths and patterns are relative, '/'-separated.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace nullspace::runtime {

// True if `pattern` matches all of `path`.
bool glob_match(std::string_view pattern, std::string_view path);

// True if `s` contains a pattern character (* ? [): COPY treats it as a pattern.
bool has_glob(std::string_view s);

// A .dockerignore file: which context paths the build does not see.
class dockerignore {
 public:
  dockerignore() = default;
  // Lines of the file: `#` comments, blank lines skipped, `!` re-includes.
  explicit dockerignore(std::string_view text);

  bool empty() const { return rules_.empty(); }
  // True if `path` (relative, normalized) is ignored: the last rule that matches
  // it or one of its parent directories decides.
  bool ignores(std::string_view path) const;

 private:
  struct rule {
    std::string pattern;
    bool include = false;  // a `!` line
  };
  std::vector<rule> rules_;
};

}  // namespace nullspace::runtime

// The text layer of the Dockerfile frontend: parser directives, comments and
// line continuations, then the words of one instruction with quotes and
// variable references ($X, ${X}, ${X:-default}, ${X:+alt}) worked out the way
// Docker does. runtime/dockerfile/dockerfile.hpp gives the instructions their meaning.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nullspace::runtime::dockerfile_syntax {

struct problem {
  size_t line = 0;  // 1-based
  std::string message;
};

// A heredoc of RUN, COPY or ADD (BuildKit's dockerfile 1.4 syntax): the lines
// after the instruction up to `name` alone on a line.
struct heredoc {
  std::string name;     // the delimiter: EOF, or a file name for COPY (<<app.conf)
  std::string content;  // each line with its "\n"; `<<-` lines without leading tabs
  bool expand = true;   // an unquoted delimiter: variables expand (COPY)
  bool chomp = false;   // `<<-`
  std::string marker;   // as written: <<EOF, <<-"EOF"
};

struct instruction {
  size_t line = 0;                // where it starts (1-based)
  std::string keyword;            // upper case, e.g. "RUN"
  std::string args;               // the rest, continuations joined, trimmed
  std::vector<heredoc> heredocs;  // in the order their markers appear in args
  std::string raw_heredocs;       // every heredoc as written (lines + delimiter), for a shell
};

struct document {
  std::vector<instruction> instructions;
  char escape = '\\';
  std::string syntax;  // the `# syntax=` directive, if any
  std::vector<problem> errors;
};

document split(std::string_view text);

// Whether `word` (one word of an instruction, quotes kept) is a heredoc marker
// (<<EOF, <<-EOF, <<"EOF", <<'EOF'); fills name, expand, chomp.
bool heredoc_marker(std::string_view word, heredoc& out);

// Variables visible to an instruction. A name missing from `values` expands to
// "", unless `keep_unknown` is set: then it stays as ${NAME} and a literal '$'
// becomes "$$" (for ENV values completed from the image env at build time).
struct variables {
  std::map<std::string, std::string> values;
  bool keep_unknown = false;
};

// A variables value as plain text: "$$" is '$', "${NAME}" is lookup(NAME)
// ("" without a lookup). And plain text as a value ('$' -> "$$").
std::string decoded(std::string_view value,
                    const std::function<std::string(std::string_view)>& lookup = {});
std::string encoded(std::string_view plain);

// The words of `text` (split at unquoted whitespace when `split_words`, else
// one word), quotes removed, escapes and variables resolved. nullopt with
// `error` set for an unterminated quote or a bad ${...}.
std::optional<std::vector<std::string>> words(std::string_view text, const variables& vars,
                                              char escape, bool split_words, std::string& error);

// `text` with its variable references expanded and nothing else touched
// (quotes stay): a COPY heredoc's content. An escaped \$ is a '$'.
std::optional<std::string> expand_text(std::string_view text, const variables& vars, char escape,
                                       std::string& error);

// The JSON array form of RUN/CMD/ENTRYPOINT/SHELL (`["a", "b"]`), or nullopt if
// `args` is not a JSON array of strings (then it is the shell form).
std::optional<std::vector<std::string>> exec_form(std::string_view args);

// Leading `--name=value` / `--name` flags of an instruction, and the rest.
struct flag {
  std::string name;  // without "--"
  std::string value;
  bool has_value = false;
};
std::vector<flag> take_flags(std::string_view& args);

}  // namespace nullspace::runtime::dockerfile_syntax

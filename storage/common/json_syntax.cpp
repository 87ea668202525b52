// Where a body stops being JSON (storage/common/json_syntax.hpp).
#include "storage/common/json_syntax.hpp"

#include "storage/common/json_writer.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace nullspace::json {
namespace {

// ---------------------------------------------------------------------------
// Malformed JSON. simdjson reports only an error code, so on failure a small
// strict recursive-descent scanner finds the byte offset (and, for a problem
// inside one string or number, the JSON path). It runs only on the error path.

struct syntax_problem {
  size_t offset = 0;
  std::string reason;
  std::string path;  // set when the problem is inside one value
};

class syntax_locator {
 public:
  explicit syntax_locator(std::string_view s) : s_(s) {}

  std::optional<syntax_problem> run() {
    skip_ws();
    if (pos_ == s_.size()) {
      fail(s_.empty() ? "the body is empty" : "the body holds only whitespace");
      return problem_;
    }
    if (!value(1)) return problem_;
    skip_ws();
    if (pos_ != s_.size()) {
      fail("unexpected content after the JSON value");
      return problem_;
    }
    return std::nullopt;
  }

 private:
  bool fail(std::string reason, bool in_value = false) {
    problem_.offset = pos_;
    problem_.reason = std::move(reason);
    if (in_value) {
      for (auto& seg : path_) problem_.path += seg;
      if (!problem_.path.empty() && problem_.path[0] == '.') problem_.path.erase(0, 1);
    }
    return false;
  }
  bool eof() const { return pos_ >= s_.size(); }
  bool end_of_input() { return fail("unexpected end of input"); }
  void skip_ws() {
    while (!eof() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r'))
      ++pos_;
  }

  bool value(size_t depth) {
    if (eof()) return end_of_input();
    char c = s_[pos_];
    if (c == '{' || c == '[') {
      if (depth > max_depth)
        return fail("nested deeper than " + std::to_string(max_depth) + " levels");
      return c == '{' ? object(depth) : array(depth);
    }
    if (c == '"') return string();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    for (std::string_view lit : {"true", "false", "null"})
      if (c == lit[0]) {
        if (s_.substr(pos_, lit.size()) != lit)
          return fail("invalid literal, expected " + std::string(lit));
        pos_ += lit.size();
        return true;
      }
    return fail("expected a JSON value");
  }

  bool object(size_t depth) {
    ++pos_;
    skip_ws();
    if (!eof() && s_[pos_] == '}') return ++pos_, true;
    while (true) {
      skip_ws();
      if (eof()) return end_of_input();
      if (s_[pos_] != '"') return fail("expected a string key");
      auto start = pos_ + 1;
      if (!string()) return false;
      auto key = s_.substr(start, std::min(pos_ - 1 - start, max_quoted_bytes));
      skip_ws();
      if (eof()) return end_of_input();
      if (s_[pos_] != ':') return fail("expected ':' after an object key");
      ++pos_;
      skip_ws();
      path_.push_back("." + std::string(key));
      if (!value(depth + 1)) return false;
      path_.pop_back();
      skip_ws();
      if (eof()) return end_of_input();
      if (s_[pos_] == '}') return ++pos_, true;
      if (s_[pos_] != ',') return fail("expected ',' or '}'");
      ++pos_;
    }
  }

  bool array(size_t depth) {
    ++pos_;
    skip_ws();
    if (!eof() && s_[pos_] == ']') return ++pos_, true;
    for (size_t i = 0;; ++i) {
      skip_ws();
      path_.push_back("[" + std::to_string(i) + "]");
      if (!value(depth + 1)) return false;
      path_.pop_back();
      skip_ws();
      if (eof()) return end_of_input();
      if (s_[pos_] == ']') return ++pos_, true;
      if (s_[pos_] != ',') return fail("expected ',' or ']'");
      ++pos_;
    }
  }

  // Four hex digits at pos_ (just after "\u"), or -1.
  long hex4() const {
    if (pos_ + 4 > s_.size()) return -1;
    long v = 0;
    for (size_t i = 0; i < 4; ++i) {
      char c = s_[pos_ + i];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }

  bool string() {
    ++pos_;  // opening quote
    while (true) {
      if (eof()) return fail("unterminated string");
      auto c = static_cast<unsigned char>(s_[pos_]);
      if (c == '"') return ++pos_, true;
      if (c == '\\') {
        if (!escape()) return false;
      } else if (c < 0x20) {
        return fail("unescaped control character in a string", true);
      } else if (c >= 0x80) {
        size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
        if (n == 0 || pos_ + n > s_.size() || !json::valid_utf8(s_.substr(pos_, n)))
          return fail("invalid UTF-8 in a string", true);
        pos_ += n;
      } else {
        ++pos_;
      }
    }
  }

  bool escape() {
    ++pos_;  // backslash
    if (eof()) return fail("unterminated string");
    char e = s_[pos_];
    if (std::string_view("\"\\/bfnrt").find(e) != std::string_view::npos) return ++pos_, true;
    if (e != 'u') return fail("invalid escape sequence in a string", true);
    ++pos_;
    long cp = hex4();
    if (cp < 0) return fail("invalid \\u escape in a string", true);
    pos_ += 4;
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("unpaired UTF-16 surrogate in a string", true);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (s_.substr(pos_, 2) != "\\u") return fail("unpaired UTF-16 surrogate in a string", true);
      pos_ += 2;
      long low = hex4();
      if (low < 0xDC00 || low > 0xDFFF) return fail("unpaired UTF-16 surrogate in a string", true);
      pos_ += 4;
    }
    return true;
  }

  bool number() {
    auto start = pos_;
    auto digits = [&] {
      auto from = pos_;
      while (!eof() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    auto invalid = [&] {
      pos_ = start;
      return fail("invalid number", true);
    };
    bool negative = s_[pos_] == '-';
    if (negative) ++pos_;
    if (eof()) return end_of_input();
    if (s_[pos_] == '0') {
      ++pos_;
      if (!eof() && s_[pos_] >= '0' && s_[pos_] <= '9') return invalid();  // leading zero
    } else if (!digits()) {
      return invalid();
    }
    bool integer = true;
    if (!eof() && s_[pos_] == '.') {
      ++pos_;
      integer = false;
      if (!digits()) return invalid();
    }
    if (!eof() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      ++pos_;
      integer = false;
      if (!eof() && (s_[pos_] == '+' || s_[pos_] == '-')) ++pos_;
      if (!digits()) return invalid();
    }
    // simdjson refuses integers outside int64/uint64 and numbers that overflow a double.
    std::string text(s_.substr(start, pos_ - start));
    bool out_of_range;
    if (integer) {
      errno = 0;
      if (negative)
        (void)std::strtoll(text.c_str(), nullptr, 10);
      else
        (void)std::strtoull(text.c_str(), nullptr, 10);
      out_of_range = errno == ERANGE;
    } else {
      out_of_range = std::isinf(std::strtod(text.c_str(), nullptr));
    }
    if (out_of_range) {
      pos_ = start;
      return fail("number out of range", true);
    }
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::vector<std::string> path_;  // ".key" and "[i]" segments down to the current value
  syntax_problem problem_;
};

}  // namespace

error malformed_json_error(std::string_view json, bool out_of_memory) {
  if (out_of_memory) return make_error(errc::internal, "out of memory while parsing the request");
  if (auto p = syntax_locator(json).run()) {
    auto msg = "malformed JSON at byte offset " + std::to_string(p->offset) + ": " + p->reason;
    if (!p->path.empty()) msg += " (in " + p->path + ")";
    return make_error(errc::invalid_argument, std::move(msg), std::move(p->path));
  }
  // Not expected: the locator accepts exactly what simdjson accepts (see the tests).
  return make_error(errc::invalid_argument, "malformed JSON");
}

}  // namespace nullspace::json

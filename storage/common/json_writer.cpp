#include "storage/common/json_writer.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace nullspace::json {
namespace {

// Length of the UTF-8 sequence starting at s[i], or 0 if it is malformed.
size_t utf8_sequence_length(std::string_view s, size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  size_t len;
  uint32_t min;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    len = 2, min = 0x80, cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    len = 3, min = 0x800, cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    len = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Reject overlong forms, surrogates and values past U+10FFFF.
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

}  // namespace

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto n = utf8_sequence_length(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

namespace {

// Bytes copied as they are: printable ASCII other than the quote and the backslash.
constexpr bool plain_byte(unsigned char c) {
  return c >= 0x20 && c < 0x7F && c != '"' && c != '\\';
}

}  // namespace

void append_quoted(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out.push_back('"');
  for (size_t i = 0; i < s.size();) {
    // Most text is plain: copy each run of it with one append.
    size_t run = i;
    while (run < s.size() && plain_byte(static_cast<unsigned char>(s[run]))) ++run;
    if (run > i) {
      out.append(s.data() + i, run - i);
      i = run;
      if (i == s.size()) break;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      auto n = utf8_sequence_length(s, i);
      if (n == 0) {
        out += "\xEF\xBF\xBD";  // U+FFFD for a malformed byte
        ++i;
      } else {
        out.append(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:  // the other control characters and DEL
        out += "\\u00";
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 0xF]);
    }
    ++i;
  }
  out.push_back('"');
}

void writer::open() {
  if (depth_ < inline_levels)
    has_element_bits_ &= ~(uint64_t{1} << depth_);
  else
    deeper_.push_back(false);
  ++depth_;
}

void writer::close() {
  if (depth_ == 0) return;
  --depth_;
  if (depth_ >= inline_levels) deeper_.pop_back();
}

void writer::before_value() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ == 0) return;
  size_t top = depth_ - 1;
  bool had;
  if (top < inline_levels) {
    had = (has_element_bits_ >> top) & 1;
    has_element_bits_ |= uint64_t{1} << top;
  } else {
    had = deeper_.back();
    deeper_.back() = true;
  }
  if (had) out_.push_back(',');
}

writer& writer::begin_object() {
  before_value();
  out_.push_back('{');
  open();
  return *this;
}

writer& writer::end_object() {
  out_.push_back('}');
  close();
  return *this;
}

writer& writer::begin_array() {
  before_value();
  out_.push_back('[');
  open();
  return *this;
}

writer& writer::end_array() {
  out_.push_back(']');
  close();
  return *this;
}

writer& writer::key(std::string_view k) {
  before_value();
  append_quoted(out_, k);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

writer& writer::value(std::string_view s) {
  before_value();
  append_quoted(out_, s);
  return *this;
}

writer& writer::value(bool b) {
  before_value();
  out_ += b ? "true" : "false";
  return *this;
}

namespace {

// An integer's decimal digits, without the temporary string std::to_string makes.
template <class Int>
void append_integer(std::string& out, Int n) {
  char buf[24];  // 20 digits and a sign at most
  out.append(buf, static_cast<size_t>(std::to_chars(buf, buf + sizeof buf, n).ptr - buf));
}

}  // namespace

writer& writer::value(int64_t n) {
  before_value();
  append_integer(out_, n);
  return *this;
}

writer& writer::value(uint64_t n) {
  before_value();
  append_integer(out_, n);
  return *this;
}

writer& writer::value(double d) {
  before_value();
  if (!std::isfinite(d)) {
    out_ += "null";  // JSON has no NaN/Inf
    return *this;
  }
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", d);
  out_.append(buf, static_cast<size_t>(n));
  return *this;
}

writer& writer::null() {
  before_value();
  out_ += "null";
  return *this;
}

writer& writer::raw(std::string_view encoded) {
  before_value();
  out_.append(encoded);
  return *this;
}

}  // namespace nullspace::json

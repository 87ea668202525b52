#include "storage/common/log_fields.hpp"

#include <charconv>
#include <cmath>

namespace nullspace::logging {
namespace {

bool control(unsigned char c) {
  return c < 0x20 || c == 0x7f;
}

bool key_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool bare_char(unsigned char c) {
  return !control(c) && c != ' ' && c != '"' && c != '=' && c != '\\';
}

bool reads_as_literal(std::string_view s) {
  return s == "true" || s == "false" || is_json_number(s);
}

bool can_be_bare(std::string_view s) {
  if (s.empty() || reads_as_literal(s)) return false;
  for (unsigned char c : s)
    if (!bare_char(c)) return false;
  return true;
}

void append_quoted(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
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
      default:
        if (control(c)) {
          out += "\\x";
          out.push_back(hex[c >> 4]);
          out.push_back(hex[c & 0xf]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

template <class T>
void append_number(std::string& out, T v) {
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads a quoted string at `in[i]` (the opening quote) into `out`; false if
// it is malformed. Leaves `i` after the closing quote.
bool read_quoted(std::string_view in, size_t& i, std::string& out) {
  if (i >= in.size() || in[i] != '"') return false;
  for (++i; i < in.size(); ++i) {
    char c = in[i];
    if (c == '"') {
      ++i;
      return true;
    }
    if (c != '\\') {
      out.push_back(c);
      continue;
    }
    if (++i >= in.size()) return false;
    switch (in[i]) {
      case '"':
      case '\\':
        out.push_back(in[i]);
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'x': {
        if (i + 2 >= in.size()) return false;
        int hi = hex_value(in[i + 1]), lo = hex_value(in[i + 2]);
        if (hi < 0 || lo < 0) return false;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        break;
      }
      default:
        return false;
    }
  }
  return false;
}

bool reserved_key(std::string_view k) {
  return k == "msg" || k == "ts" || k == "level" || k == "logger";
}

}  // namespace

bool is_json_number(std::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    size_t start = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (i < s.size() && s[i] == '0')
    ++i;
  else if (!digits())
    return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

void append_string_value(std::string& out, std::string_view value) {
  if (can_be_bare(value))
    out.append(value);
  else
    append_quoted(out, value);
}

void field::append_to(std::string& out) const {
  out.push_back(' ');
  out.append(key_);
  out.push_back('=');
  switch (kind_) {
    case kind::string:
      append_string_value(out, text_);
      break;
    case kind::signed_number:
      append_number(out, signed_);
      break;
    case kind::unsigned_number:
      append_number(out, unsigned_);
      break;
    case kind::real:
      if (std::isfinite(real_))
        append_number(out, real_);
      else
        append_quoted(out, std::isnan(real_) ? "nan" : real_ > 0 ? "inf" : "-inf");
      break;
    case kind::boolean:
      out += unsigned_ ? "true" : "false";
      break;
  }
}

std::string encode_fields(std::string_view message, std::initializer_list<field> fields) {
  std::string out = "msg=";
  append_quoted(out, message);
  for (auto& f : fields) f.append_to(out);
  return out;
}

std::optional<decoded_fields> decode_fields(std::string_view payload) {
  constexpr std::string_view lead = "msg=";
  if (!payload.starts_with(lead)) return std::nullopt;
  decoded_fields out;
  size_t i = lead.size();
  if (!read_quoted(payload, i, out.message)) return std::nullopt;
  while (i < payload.size()) {
    if (payload[i++] != ' ') return std::nullopt;
    size_t key_start = i;
    while (i < payload.size() && key_char(static_cast<unsigned char>(payload[i]))) ++i;
    auto key = payload.substr(key_start, i - key_start);
    if (key.empty() || i >= payload.size() || payload[i++] != '=') return std::nullopt;
    if (reserved_key(key)) return std::nullopt;
    for (auto& [k, v] : out.fields)
      if (k == key) return std::nullopt;
    decoded_fields::value v;
    if (i < payload.size() && payload[i] == '"') {
      if (!read_quoted(payload, i, v.text)) return std::nullopt;
    } else {
      size_t start = i;
      while (i < payload.size() && bare_char(static_cast<unsigned char>(payload[i]))) ++i;
      v.text = payload.substr(start, i - start);
      if (v.text.empty()) return std::nullopt;
      if (v.text == "true" || v.text == "false")
        v.type = decoded_fields::value::kind::boolean;
      else if (is_json_number(v.text))
        v.type = decoded_fields::value::kind::number;
    }
    out.fields.emplace_back(std::string(key), std::move(v));
  }
  return out;
}

}  // namespace nullspace::logging

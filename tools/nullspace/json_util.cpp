#include "tools/nullspace/json_util.hpp"

#include "storage/common/json_writer.hpp"
#include "tools/nullspace/cli_error.hpp"

namespace nullspace::cli::js {

document::document(std::string_view text) : parser_(std::make_unique<simdjson::dom::parser>()) {
  if (parser_->parse(text.data(), text.size()).get(root_) != simdjson::SUCCESS)
    throw cli_error(exit_failed,
                    "the server's answer is not JSON: " + std::string(text.substr(0, 200)));
}

element document::operator[](std::string_view key) const {
  auto v = get(root_, key);
  return v ? *v : element();
}

std::optional<element> get(element e, std::string_view key) {
  simdjson::dom::object o;
  if (e.get(o) != simdjson::SUCCESS) return std::nullopt;
  element v;
  if (o[key].get(v) != simdjson::SUCCESS) return std::nullopt;
  return v;
}

std::string str(element e, std::string_view key, std::string dflt) {
  auto v = get(e, key);
  std::string_view s;
  if (v && v->get(s) == simdjson::SUCCESS) return std::string(s);
  return dflt;
}

int64_t num(element e, std::string_view key, int64_t dflt) {
  auto v = get(e, key);
  int64_t n;
  if (v && v->get(n) == simdjson::SUCCESS) return n;
  return dflt;
}

bool boolean(element e, std::string_view key, bool dflt) {
  auto v = get(e, key);
  bool b;
  if (v && v->get(b) == simdjson::SUCCESS) return b;
  return dflt;
}

bool is_null_or_missing(element e, std::string_view key) {
  auto v = get(e, key);
  return !v || v->is_null();
}

std::vector<std::string> strings(element e, std::string_view key) {
  std::vector<std::string> out;
  for (auto item : items(e, key)) {
    std::string_view s;
    if (item.get(s) == simdjson::SUCCESS) out.emplace_back(s);
  }
  return out;
}

std::vector<element> items(element e, std::string_view key) {
  std::vector<element> out;
  auto v = get(e, key);
  simdjson::dom::array a;
  if (v && v->get(a) == simdjson::SUCCESS)
    for (auto item : a) out.push_back(item);
  return out;
}

std::string compact(element e) {
  return simdjson::minify(e);
}

namespace {

void pretty_into(std::string& out, element e, int depth) {
  auto indent = [&](int d) {
    out.push_back('\n');
    out.append(static_cast<size_t>(d) * 2, ' ');
  };
  switch (e.type()) {
    case simdjson::dom::element_type::OBJECT: {
      simdjson::dom::object o;
      if (e.get(o) != simdjson::SUCCESS) return;
      if (o.size() == 0) {
        out += "{}";
        return;
      }
      out.push_back('{');
      bool first = true;
      for (auto [k, v] : o) {
        if (!first) out.push_back(',');
        first = false;
        indent(depth + 1);
        json::append_quoted(out, k);
        out += ": ";
        pretty_into(out, v, depth + 1);
      }
      indent(depth);
      out.push_back('}');
      return;
    }
    case simdjson::dom::element_type::ARRAY: {
      simdjson::dom::array a;
      if (e.get(a) != simdjson::SUCCESS) return;
      if (a.size() == 0) {
        out += "[]";
        return;
      }
      out.push_back('[');
      bool first = true;
      for (auto v : a) {
        if (!first) out.push_back(',');
        first = false;
        indent(depth + 1);
        pretty_into(out, v, depth + 1);
      }
      indent(depth);
      out.push_back(']');
      return;
    }
    default:
      out += simdjson::minify(e);
  }
}

}  // namespace

std::string pretty(element e) {
  std::string out;
  pretty_into(out, e, 0);
  return out;
}

std::string pretty(std::string_view json_text) {
  document d(json_text);
  return pretty(d.root());
}

}  // namespace nullspace::cli::js

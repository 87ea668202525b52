#include "api/json_body.hpp"

#include <algorithm>
#include <cctype>
#include <cstdint>

#include "storage/common/json_syntax.hpp"

namespace nullspace::api {

result<simdjson::dom::object> parse_object_body(simdjson::dom::parser& parser,
                                                const std::string& body, bool empty_ok) {
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (!empty_ok)
      return make_error(errc::invalid_argument, "the request needs a JSON body", "body");
    static const std::string empty_object = "{}";
    simdjson::dom::object o;
    if (parser.parse(empty_object).get(o) != simdjson::SUCCESS)
      return make_error(errc::internal, "cannot parse an empty object");
    return o;
  }
  simdjson::dom::element el;
  if (parser.parse(body).get(el) != simdjson::SUCCESS) return json::malformed_json_error(body);
  simdjson::dom::object o;
  if (el.get(o) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, "the body must be a JSON object", "body");
  // A member given twice could be read either way: refused, as build requests are.
  std::set<std::string_view> seen;
  for (auto kv : o)
    if (!seen.insert(kv.key).second)
      return make_error(errc::invalid_argument,
                        "field '" + std::string(kv.key) + "' is given more than once",
                        std::string(kv.key));
  return o;
}

result<std::optional<std::string>> optional_string(simdjson::dom::object o, std::string_view key) {
  simdjson::dom::element el;
  if (o[key].get(el) != simdjson::SUCCESS || el.is_null()) return std::optional<std::string>{};
  std::string_view v;
  if (el.get(v) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, std::string(key) + " must be a string",
                      std::string(key));
  return std::optional<std::string>{std::string(v)};
}

result<std::optional<std::vector<std::string>>> optional_strings(simdjson::dom::object o,
                                                                 std::string_view key) {
  using out_t = std::optional<std::vector<std::string>>;
  simdjson::dom::element el;
  if (o[key].get(el) != simdjson::SUCCESS || el.is_null()) return out_t{};
  simdjson::dom::array a;
  if (el.get(a) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, std::string(key) + " must be an array of strings",
                      std::string(key));
  std::vector<std::string> out;
  size_t i = 0;
  for (auto item : a) {
    std::string_view v;
    if (item.get(v) != simdjson::SUCCESS)
      return make_error(errc::invalid_argument, std::string(key) + " must hold only strings",
                        std::string(key) + "[" + std::to_string(i) + "]");
    out.emplace_back(v);
    ++i;
  }
  return out_t{std::move(out)};
}

result<void> only_known(simdjson::dom::object o, const std::set<std::string_view>& known,
                        std::string_view what) {
  for (auto kv : o)
    if (!known.count(kv.key))
      return make_error(errc::invalid_argument,
                        "unknown field " + std::string(kv.key) + " in " + std::string(what),
                        std::string(kv.key));
  return {};
}

result<std::optional<uint64_t>> optional_u64(simdjson::dom::object o, std::string_view key) {
  simdjson::dom::element el;
  if (o[key].get(el) != simdjson::SUCCESS || el.is_null()) return std::optional<uint64_t>{};
  uint64_t v = 0;
  if (el.get(v) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, std::string(key) + " must be a non-negative integer",
                      std::string(key));
  return std::optional<uint64_t>{v};
}

result<std::optional<uint32_t>> optional_u32(simdjson::dom::object o, std::string_view key) {
  auto v = optional_u64(o, key);
  if (!v) return v.error();
  if (!*v) return std::optional<uint32_t>{};
  if (**v > UINT32_MAX)
    return make_error(errc::invalid_argument, std::string(key) + " is too large", std::string(key));
  return std::optional<uint32_t>{static_cast<uint32_t>(**v)};
}

result<std::optional<bool>> optional_bool(simdjson::dom::object o, std::string_view key) {
  simdjson::dom::element el;
  if (o[key].get(el) != simdjson::SUCCESS || el.is_null()) return std::optional<bool>{};
  bool v = false;
  if (el.get(v) != simdjson::SUCCESS)
    return make_error(errc::invalid_argument, std::string(key) + " must be true or false",
                      std::string(key));
  return std::optional<bool>{v};
}

bool content_type_is(std::string_view header, std::string_view expected) {
  if (header.empty()) return true;
  auto semi = header.find(';');
  auto main = header.substr(0, semi);
  while (!main.empty() && main.back() == ' ') main.remove_suffix(1);
  return main.size() == expected.size() &&
         std::equal(main.begin(), main.end(), expected.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) == b;
         });
}

}  // namespace nullspace::api

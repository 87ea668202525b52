#include <simdjson.h>
#include <catch2/catch.hpp>

#include "storage/common/json_writer.hpp"

using namespace nullspace;

TEST_CASE("json writer escapes control characters and quotes", "[json]") {
  std::string out;
  json::append_quoted(out, std::string_view("a\"b\\c\nd\x01\x7f", 9));
  CHECK(out == "\"a\\\"b\\\\c\\nd\\u0001\\u007f\"");
}

TEST_CASE("json writer replaces invalid UTF-8 so output always parses", "[json]") {
  std::string bad = "ok \xff\xfe and \xc3\xa9 and \xe2\x82";  // invalid, valid é, truncated
  CHECK_FALSE(json::valid_utf8(bad));
  json::writer w;
  w.begin_object().field("m", bad).end_object();
  simdjson::dom::parser p;
  simdjson::dom::element el;
  REQUIRE(p.parse(w.str()).get(el) == simdjson::SUCCESS);
  std::string_view m = el["m"];
  CHECK(json::valid_utf8(m));
  CHECK(m.find("\xc3\xa9") != std::string_view::npos);  // valid text is kept
}

TEST_CASE("json writer places commas in nested containers", "[json]") {
  json::writer w;
  w.begin_object();
  w.field("a", 1).key("b").begin_array().value("x").value(true).null().end_array();
  w.key("c").begin_object().field("d", uint64_t{18446744073709551615ull}).end_object();
  w.end_object();
  CHECK(w.str() == R"({"a":1,"b":["x",true,null],"c":{"d":18446744073709551615}})");
}

#include <simdjson.h>
#include <catch2/catch.hpp>

#include <cstdio>
#include <ctime>

#include "storage/common/json_writer.hpp"
#include "storage/common/time_format.hpp"

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

TEST_CASE("json writer places commas past the levels it keeps in one word", "[json]") {
  // 70 levels: [1,[1,[1,…[1,2]…],2],2] — each level's second element after its child.
  constexpr int levels = 70;
  json::writer w;
  std::string expected;
  for (int i = 0; i < levels; ++i) {
    w.begin_array().value(1);
    expected += i == 0 ? "[1" : ",[1";
  }
  for (int i = 0; i < levels; ++i) {
    w.value(2).end_array();
    expected += ",2]";
  }
  CHECK(w.str() == expected);
  simdjson::dom::parser p;
  simdjson::dom::element el;
  CHECK(p.parse(w.str()).get(el) == simdjson::SUCCESS);
}

TEST_CASE("json writer round-trips every ASCII byte between plain runs", "[json]") {
  simdjson::dom::parser p;
  for (int b = 0; b < 0x80; ++b) {
    std::string s = "plain text ";
    s.push_back(static_cast<char>(b));
    s += " more plain text";
    json::writer w;
    w.begin_object().field("m", s).field("n", int64_t{INT64_MIN}).end_object();
    simdjson::dom::element el;
    REQUIRE(p.parse(w.str()).get(el) == simdjson::SUCCESS);
    CHECK(std::string_view(el["m"]) == s);
    CHECK(int64_t(el["n"]) == INT64_MIN);
  }
}

TEST_CASE("timestamps are RFC 3339 UTC with milliseconds, as gmtime reads them", "[json]") {
  CHECK(storage::rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(storage::rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(storage::rfc3339_ms(951782400007) == "2000-02-29T00:00:00.007Z");      // a leap day
  CHECK(storage::rfc3339_ms(253402300800000) == "10000-01-01T00:00:00.000Z");  // past 4 digits
  // A sweep over 1970-2100 in uneven steps, against the C library.
  for (int64_t ms = 0; ms < 4102444800000; ms += 4099999997) {
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char want[64];
    std::snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    CHECK(storage::rfc3339_ms(ms) == want);
  }
}

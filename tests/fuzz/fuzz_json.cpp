// The JSON reader: request bodies through simdjson (api/json_body.hpp), stored
// records' field readers (storage/common/json_reader.hpp) and the locator of
// malformed JSON (storage/common/json_syntax.hpp). Invariants: the locator
// finds a problem exactly when simdjson (at the request depth limit) refuses
// the text, at an offset inside it; every string read back out, written with
// our JSON writer and read again, is the same string.
#include <simdjson.h>

#include "api/json_body.hpp"
#include "fuzz_check.hpp"
#include "storage/common/json_reader.hpp"
#include "storage/common/json_syntax.hpp"
#include "storage/common/json_writer.hpp"

using namespace nullspace;
using namespace nullspace::api;

namespace {

simdjson::dom::parser& request_parser() {
  static simdjson::dom::parser p = [] {
    simdjson::dom::parser x;
    FUZZ_CHECK(x.allocate(64 * 1024, json::max_depth) == simdjson::SUCCESS);
    return x;
  }();
  return p;
}

void round_trip(std::string_view v) {
  json::writer w;
  w.begin_object().field("v", v).end_object();
  auto text = std::move(w).str();
  static simdjson::dom::parser parser;
  simdjson::dom::object o;
  FUZZ_CHECK(parser.parse(text).get(o) == simdjson::SUCCESS);
  std::string_view back;
  FUZZ_CHECK(o["v"].get(back) == simdjson::SUCCESS && back == v);
}

void read_members(simdjson::dom::object o) {
  for (auto kv : o) {
    round_trip(kv.key);
    std::string key(kv.key);
    if (auto s = optional_string(o, key); s && *s) round_trip(**s);
    if (auto a = optional_strings(o, key); a && *a)
      for (auto& s : **a) round_trip(s);
    if (auto n = optional_u32(o, key); n && *n) FUZZ_CHECK(**n <= UINT32_MAX);
    (void)optional_u64(o, key);
    (void)optional_bool(o, key);
    round_trip(storage::jr::str(o, key));
    (void)storage::jr::i64(o, key);
    (void)storage::jr::u64(o, key);
    (void)storage::jr::boolean(o, key);
    for (auto& s : storage::jr::strings(o, key)) round_trip(s);
    (void)storage::jr::raw(o, key);
  }
  (void)only_known(o, {"name", "cmd"}, "a fuzz body");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string body(fuzz::text(data, size));
  simdjson::dom::element el;
  auto code = request_parser().parse(body).get(el);
  auto located = json::malformed_json_error(body);
  if (code == simdjson::SUCCESS) {
    FUZZ_CHECK(located.message == "malformed JSON");  // the locator found nothing wrong
  } else if (code != simdjson::MEMALLOC) {
    FUZZ_CHECK(located.message.starts_with("malformed JSON at byte offset "));
    auto offset = std::stoull(located.message.substr(30));
    FUZZ_CHECK(offset <= body.size());
  }
  auto o = parse_object_body(request_parser(), body, size % 2 == 0);
  if (!o) {
    FUZZ_CHECK(o.error().code == errc::invalid_argument && !o.error().message.empty());
    return 0;
  }
  read_members(*o);
  return 0;
}

// Operator logs: one logger per subsystem, levels per logger from a spec, the
// text and JSON formats, build and tenant on every line about a build, and
// nullspaced's --log-level / --log-format (flag, environment, config file).
#include <simdjson.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "nullspace/engine.hpp"
#include "nullspace/logging.hpp"
#include "storage/common/log_fields.hpp"
#include "storage/common/log_levels.hpp"
#include "storage/common/logging.hpp"
#include "tests/api_fixture.hpp"
#include "tests/child_process.hpp"
#include "tests/log_capture.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;
using logging::subsystem;

namespace {

// Every logger back at info when a test that changes levels ends.
struct default_levels {
  ~default_levels() { (void)logging::set_levels("info"); }
};

spdlog::level::level_enum level_of(subsystem s) {
  return logging::logger_of(s)->level();
}

bool has_line(const std::vector<std::string>& lines, std::string_view needle) {
  for (auto& l : lines)
    if (l.find(needle) != std::string::npos) return true;
  return false;
}

// A JSON log line's top-level members: strings as they are, anything else
// as its JSON text; nothing if the line is not one JSON object.
std::optional<std::map<std::string, std::string>> json_members(const std::string& line) {
  simdjson::dom::parser parser;
  simdjson::dom::object object;
  if (parser.parse(simdjson::padded_string(line)).get(object)) return std::nullopt;
  std::map<std::string, std::string> out;
  for (auto [key, value] : object) {
    std::string_view s;
    out[std::string(key)] =
        value.get(s) == simdjson::SUCCESS ? std::string(s) : simdjson::to_string(value);
  }
  return out;
}

bool member_is(const std::map<std::string, std::string>& m, const std::string& key,
               const std::string& value) {
  auto it = m.find(key);
  return it != m.end() && it->second == value;
}

}  // namespace

TEST_CASE("a level spec sets a default and levels per logger", "[logging]") {
  auto bare = logging::parse_level_spec("debug");
  REQUIRE(bare.ok());
  CHECK(bare->level_of(subsystem::http) == spdlog::level::debug);
  CHECK(bare->level_of(subsystem::store) == spdlog::level::debug);

  auto mixed = logging::parse_level_spec("info,http=debug,store=warn");
  REQUIRE(mixed.ok());
  CHECK(mixed->level_of(subsystem::http) == spdlog::level::debug);
  CHECK(mixed->level_of(subsystem::store) == spdlog::level::warn);
  CHECK(mixed->level_of(subsystem::build) == spdlog::level::info);

  // No bare level: the others are at info. Spaces and upper case are fine,
  // and a later entry for the same logger wins.
  auto named = logging::parse_level_spec(" machine = TRACE , pool=off,error , pool=critical");
  REQUIRE(named.ok());
  CHECK(named->level_of(subsystem::machine) == spdlog::level::trace);
  CHECK(named->level_of(subsystem::pool) == spdlog::level::critical);
  CHECK(named->level_of(subsystem::hub) == spdlog::level::err);
  CHECK(logging::parse_level_spec("registry=warning")->level_of(subsystem::registry) ==
        spdlog::level::warn);
  CHECK(logging::parse_level_spec("http=debug")->level_of(subsystem::engine) ==
        spdlog::level::info);
}

TEST_CASE("a bad level spec is an error naming what is wrong, and changes nothing", "[logging]") {
  default_levels restore;
  REQUIRE(logging::set_levels("warn,http=debug").ok());

  struct bad {
    std::string spec;
    std::vector<std::string> named;
  };
  for (auto& b : std::vector<bad>{
           {"", {"empty"}},
           {"   ", {"empty"}},
           {"loud", {"unknown level \"loud\"", "Levels: trace, debug"}},
           {"htp=debug", {"unknown logger \"htp\"", "Loggers: store, hub, build"}},
           {"http=", {"unknown level \"\""}},
           {"=debug", {"unknown logger \"\""}},
           {"info,,http=debug", {"empty entry"}},
           {"info,", {"empty entry"}},
           {"htp=loud,store=debug,nope=x",
            {"unknown logger \"htp\"", "unknown level \"loud\"", "unknown logger \"nope\"",
             "unknown level \"x\""}},
       }) {
    INFO(b.spec);
    auto parsed = logging::parse_level_spec(b.spec);
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().code == errc::invalid_argument);
    for (auto& n : b.named) CHECK_THAT(parsed.error().message, Catch::Contains(n));
    // The public call says the same and leaves every level as it was.
    auto set = set_log_levels(b.spec);
    REQUIRE_FALSE(set.ok());
    CHECK(set.error().message == parsed.error().message);
    CHECK(level_of(subsystem::http) == spdlog::level::debug);
    CHECK(level_of(subsystem::store) == spdlog::level::warn);
  }
}

TEST_CASE("levels per logger filter what each logger writes", "[logging]") {
  default_levels restore;
  log_capture logs;
  REQUIRE(set_log_levels("warn,http=debug,store=error").ok());
  logging::http.debug("http debug is on");
  logging::build.info("build info is off");
  logging::build.warn("build warn is on");
  logging::store.warn("store warn is off");
  logging::store.error("store error is on");
  logging::engine.debug("engine debug is off");
  auto lines = logs.lines();
  INFO(logs.text());
  CHECK(has_line(lines, "level=debug logger=http msg=\"http debug is on\""));
  CHECK(has_line(lines, "level=warning logger=build msg=\"build warn is on\""));
  CHECK(has_line(lines, "level=error logger=store msg=\"store error is on\""));
  CHECK_FALSE(has_line(lines, "is off"));

  // Applying a spec names the whole state: the others go back to info.
  REQUIRE(set_log_levels("http=warn").ok());
  CHECK(level_of(subsystem::http) == spdlog::level::warn);
  CHECK(level_of(subsystem::store) == spdlog::level::info);
  CHECK(level_of(subsystem::build) == spdlog::level::info);
}

TEST_CASE("fields are encoded as key=value and decoded back exactly", "[logging]") {
  const std::string nasty = "say \"hi\"\\ there\nnext line\r\ttab \x01 bell=\x7f \xff\xc3\x28 é";
  auto payload = logging::encode_fields(nasty, {{"build", "tb_0123"},
                                                {"text", nasty},
                                                {"empty", ""},
                                                {"number_like", "42"},
                                                {"bool_like", "true"},
                                                {"count", 7},
                                                {"delta", -3},
                                                {"ms", 0.25},
                                                {"ok", false}});
  INFO(payload);
  // One line; plain values bare, the others quoted.
  CHECK(payload.find('\n') == std::string::npos);
  CHECK(payload.find('\r') == std::string::npos);
  CHECK(payload.find(" build=tb_0123 ") != std::string::npos);
  CHECK(payload.find(" number_like=\"42\" bool_like=\"true\" count=7 delta=-3 ms=0.25 ok=false") !=
        std::string::npos);
  auto decoded = logging::decode_fields(payload);
  REQUIRE(decoded);
  CHECK(decoded->message == nasty);
  REQUIRE(decoded->fields.size() == 9);
  using kind = logging::decoded_fields::value::kind;
  auto check = [&](size_t i, std::string key, std::string text, kind type) {
    CHECK(decoded->fields[i].first == key);
    CHECK(decoded->fields[i].second.text == text);
    CHECK(decoded->fields[i].second.type == type);
  };
  check(1, "text", nasty, kind::string);
  check(2, "empty", "", kind::string);
  check(3, "number_like", "42", kind::string);
  check(4, "bool_like", "true", kind::string);
  check(5, "count", "7", kind::number);
  check(6, "delta", "-3", kind::number);
  check(7, "ms", "0.25", kind::number);
  check(8, "ok", "false", kind::boolean);

  // Not ours: a plain spdlog payload, a repeated key, a key of the line itself.
  CHECK_FALSE(logging::decode_fields("build tb_1 failed"));
  CHECK_FALSE(logging::decode_fields("msg=\"x\" a=1 a=2"));
  CHECK_FALSE(logging::decode_fields("msg=\"x\" level=debug"));
  CHECK_FALSE(logging::decode_fields("msg=\"unterminated"));
}

TEST_CASE("json lines are valid JSON with the line's fields as keys", "[logging]") {
  log_capture logs(logging::log_format::json);
  const std::string nasty = "quote \" backslash \\ newline \n cr \r tab \t ctl \x01 del \x7f";
  const std::string bad_utf8 = "bad \xff\xfe utf-8 \xc3\x28 end";
  logging::build.info(nasty, {{"build", "tb_json"},
                              {"tenant", "acme"},
                              {"error", bad_utf8},
                              {"slots", 4u},
                              {"ms", 1.5},
                              {"cached", true}});
  // A plain spdlog call on one of ours: the whole payload is the message.
  logging::logger_of(subsystem::hub)->warn("plain {} text with \"quotes\"", 3);
  auto lines = logs.lines();
  REQUIRE(lines.size() == 2);
  for (auto& l : lines) {
    INFO(l);
    CHECK(l.find('\n') == std::string::npos);
    CHECK(json_members(l));
  }
  auto ours = *json_members(lines[0]);
  CHECK(ours.count("ts"));
  CHECK(ours["ts"].ends_with("Z"));
  CHECK(member_is(ours, "level", "info"));
  CHECK(member_is(ours, "logger", "build"));
  CHECK(member_is(ours, "msg", nasty));
  CHECK(member_is(ours, "build", "tb_json"));
  CHECK(member_is(ours, "tenant", "acme"));
  CHECK(member_is(ours, "error", "bad \xEF\xBF\xBD\xEF\xBF\xBD utf-8 \xEF\xBF\xBD( end"));
  CHECK(member_is(ours, "slots", "4"));
  CHECK(member_is(ours, "ms", "1.5"));
  CHECK(member_is(ours, "cached", "true"));
  auto plain = *json_members(lines[1]);
  CHECK(member_is(plain, "logger", "hub"));
  CHECK(member_is(plain, "level", "warning"));
  CHECK(member_is(plain, "msg", "plain 3 text with \"quotes\""));
}

TEST_CASE("text lines are one key=value line each, whatever the message holds", "[logging]") {
  log_capture logs;
  logging::registry.info("two\nlines", {{"tenant", "a b"}});
  logging::logger_of(subsystem::hub)->info("plain\nspdlog");
  auto lines = logs.lines();
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].starts_with("ts="));
  CHECK(lines[0].ends_with(" level=info logger=registry msg=\"two\\nlines\" tenant=\"a b\""));
  CHECK(lines[1].ends_with(" level=info logger=hub msg=\"plain\\nspdlog\""));
}

TEST_CASE("a build's lines carry its build id and tenant", "[logging]") {
  test::temp_dir dir;
  log_capture text;
  log_capture json(logging::log_format::json);
  std::string id;
  {
    engine_options o;
    o.data_dir = dir.sub("data");
    o.isolation_mode = isolation::host;
    auto eng = engine::open(o);
    REQUIRE(eng.ok());
    auto b = eng.value()->submit(run_request({"exit 3"}), as_tenant("acme"));
    REQUIRE(b.ok());
    id = b->record.id;
    auto done = eng.value()->wait_until_terminal(as_build_id(id), std::chrono::minutes(2),
                                                 as_tenant("acme"));
    REQUIRE(done.ok());
    REQUIRE(done->record.status == build_status::error);
  }
  INFO(text.text());
  CHECK(has_line(text.lines(), "level=info logger=build msg=\"build failed\" build=" + id +
                                   " tenant=acme code=step_failed"));
  bool found = false;
  for (auto& l : json.lines()) {
    auto m = json_members(l);
    REQUIRE(m);
    if (member_is(*m, "msg", "build failed"))
      found = member_is(*m, "build", id) && member_is(*m, "tenant", "acme") &&
              member_is(*m, "code", "step_failed") && member_is(*m, "logger", "build");
  }
  CHECK(found);
}

TEST_CASE("nullspaced: --log-format json and --log-level by flag, environment or config file",
          "[logging]") {
  temp_dir dir;
  const char* bin = std::getenv("NULLSPACE_DAEMON");
  REQUIRE(bin);
  write_file(dir.sub("conf.toml"), "log-format = \"json\"\nlog-level = \"http=debug\"\n");
  struct way {
    std::string name;
    std::vector<std::string> args, env;
  };
  std::vector<way> ways{
      {"flags", {"--log-format", "json", "--log-level", "http=debug"}, {}},
      {"environment", {}, {"NULLSPACE_LOG_FORMAT=json", "NULLSPACE_LOG_LEVEL=http=debug"}},
      {"config file", {"--config", dir.sub("conf.toml")}, {}},
  };
  for (auto& w : ways) {
    DYNAMIC_SECTION(w.name) {
      std::vector<std::string> argv{bin,
                                    "--listen",
                                    "127.0.0.1:0",
                                    "--isolation",
                                    "host",
                                    "--data-dir",
                                    dir.sub("data-" + w.name)};
      argv.insert(argv.end(), w.args.begin(), w.args.end());
      auto err_file = dir.sub(w.name + ".err");
      child_process d(argv, {.env = w.env,
                             .unset = {"NULLSPACE_LOG_FORMAT", "NULLSPACE_LOG_LEVEL"},
                             .stderr_file = err_file});
      auto port = listening_port(d);
      REQUIRE(port != 0);
      http_connection c(port);
      c.send_request("POST", "/v1/builds", run_request({"exit 3"}),
                     {{"Content-Type", "application/json"}});
      auto r = c.read_response();
      REQUIRE(r.status == 202);
      auto id = json_str(r.body, "build.id");
      wait_terminal(port, id);
      CHECK(d.terminate() == 0);

      auto log = read_file(err_file);
      INFO(log);
      std::vector<std::map<std::string, std::string>> lines;
      size_t start = 0;
      for (size_t nl; (nl = log.find('\n', start)) != std::string::npos; start = nl + 1) {
        auto m = json_members(log.substr(start, nl - start));
        CHECK(m);  // every line is one JSON object
        if (m) lines.push_back(*m);
      }
      CHECK(start == log.size());  // and the last one ended with its newline
      auto any = [&](auto pred) { return std::any_of(lines.begin(), lines.end(), pred); };
      CHECK(any([](auto& m) {
        return member_is(m, "logger", "daemon") && member_is(m, "msg", "ready") &&
               member_is(m, "isolation", "host");
      }));
      // The http debug line of the status request, naming the build.
      CHECK(any([&](auto& m) {
        return member_is(m, "logger", "http") && member_is(m, "level", "debug") &&
               member_is(m, "msg", "request") && member_is(m, "method", "GET") &&
               member_is(m, "route", "/v1/builds/{id}") && member_is(m, "status", "200") &&
               member_is(m, "build", id) && member_is(m, "tenant", "default");
      }));
      CHECK(any([&](auto& m) {
        return member_is(m, "logger", "build") && member_is(m, "msg", "build failed") &&
               member_is(m, "build", id) && member_is(m, "tenant", "default");
      }));
      // Only http is at debug.
      CHECK_FALSE(any([](auto& m) {
        return member_is(m, "level", "debug") && !member_is(m, "logger", "http");
      }));
    }
  }
}

TEST_CASE("nullspaced refuses an unknown logger or level, naming it", "[logging]") {
  temp_dir dir;
  const char* bin = std::getenv("NULLSPACE_DAEMON");
  REQUIRE(bin);
  child_process d({bin, "--listen", "127.0.0.1:0", "--data-dir", dir.sub("data"), "--log-level",
                   "info,htp=debug,store=loud"});
  CHECK(d.finish() != 0);
  CHECK(d.out().find("listening on") == std::string::npos);
  CHECK_THAT(d.err(), Catch::Contains("unknown logger \"htp\"") &&
                          Catch::Contains("unknown level \"loud\""));
  child_process f(
      {bin, "--listen", "127.0.0.1:0", "--data-dir", dir.sub("data"), "--log-format", "yaml"});
  CHECK(f.finish() != 0);
  CHECK_THAT(f.err(), Catch::Contains("--log-format"));
}

TEST_CASE("an embedder's own spdlog logger gets its subsystem's lines", "[logging]") {
  temp_dir dir;
  const char* bin = std::getenv("NULLSPACE_EMBEDDER_LOGGING");
  REQUIRE(bin);
  child_process p({bin, dir.sub("data")});
  REQUIRE(p.finish() == 0);
  INFO(p.out() << "--- stderr:\n" << p.err());
  // Its logger, its pattern: the engine's line, with the build and tenant.
  CHECK_THAT(p.out(), Catch::Contains("build|info|msg=\"build failed\" build=tb_") &&
                          Catch::Contains(" tenant=acme code=step_failed"));
  CHECK_THAT(p.out(), Catch::Contains("default logger untouched") &&
                          Catch::Contains("build logger still the embedder's") &&
                          Catch::Contains("set_log_levels reached it"));
  // Nothing of the build's on the engine's own stderr sink.
  CHECK(p.err().find("logger=build") == std::string::npos);
}

TEST_CASE("API keys and secret values never reach the operator log, even at trace",
          "[logging][secrets]") {
  temp_dir dir;
  const char* bin = std::getenv("NULLSPACE_DAEMON");
  REQUIRE(bin);
  const std::string key = "logging-test-key-0123456789abcdef";
  const std::string canary = "CANARY-logging-5e1f-never-logged";
  write_file(dir.sub("keys"), key + " acme\n");
  const http_headers auth{{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}};
  for (auto format : {"text", "json"}) {
    DYNAMIC_SECTION(format) {
      auto err_file = dir.sub(std::string(format) + ".err");
      child_process d({bin, "--listen", "127.0.0.1:0", "--isolation", "host", "--data-dir",
                       dir.sub(std::string("data-") + format), "--api-keys", dir.sub("keys"),
                       "--log-level", "trace", "--log-format", format},
                      {.unset = {"NULLSPACE_API_KEYS"}, .stderr_file = err_file});
      auto port = listening_port(d);
      REQUIRE(port != 0);
      // The step prints the secret and fails; the request body and headers hold it and the key.
      http_connection c(port);
      c.send_request("POST", "/v1/builds",
                     R"({"name":"secretive","build_backend":"buildkit",)"
                     R"("builder":{"source":{"type":"python_image","version":"3.11"},)"
                     R"("steps":[{"type":"run","cmd":"cat $NULLSPACE_SECRETS_DIR/tok; exit 4",)"
                     R"("secrets":["tok"]}]},"build_secrets":[{"id":"tok","value":")" +
                         canary + R"(","source":"env"}]})",
                     auth);
      auto r = c.read_response();
      INFO(r.body);
      REQUIRE(r.status == 202);
      auto id = json_str(r.body, "build.id");
      CHECK(json_str(wait_terminal(port, id, auth), "build.status") == "error");
      CHECK(http_get(port, "/v1/builds/" + id, {{"Authorization", "Bearer " + canary}}).status ==
            401);
      CHECK(d.terminate() == 0);
      auto log = read_file(err_file);
      INFO(log);
      CHECK(log.find("build failed") != std::string::npos);  // the build's lines are there
      CHECK(log.find(key) == std::string::npos);
      CHECK(log.find(canary) == std::string::npos);
    }
  }
}

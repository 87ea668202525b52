// The build request contract (API.md, "Build request"): parsing into the IR,
// every validation rule, secret hygiene of messages and the sanitized definition.
#include <simdjson.h>
#include <catch2/catch.hpp>

#include <random>

#include "runtime/dockerfile/dockerfile.hpp"
#include "runtime/plan/request_parser.hpp"
#include "runtime/request/image_ref.hpp"

using namespace nullspace;
using namespace nullspace::runtime;

namespace {

const std::string canary = "CANARY-s3cr3t-XYZ";
const std::string registry_canary = "REGISTRY-pa55w0rd-QRS";

// Every step kind, an image source with registry auth, every top-level field.
const std::string full_request = R"({
  "name": "my-template", "namespace": "acme", "tags": ["stable", "v1.2"],
  "builder": {
    "source": {"type": "image", "image": "registry.example/ns/img:tag",
               "auth": {"username": "robot", "password": "hunter22"}},
    "steps": [
      {"type": "apt_install", "packages": ["git", "curl"]},
      {"type": "pip_install", "packages": ["pytest"]},
      {"type": "npm_install", "packages": ["typescript"], "global": true},
      {"type": "run", "cmd": "make install", "secrets": ["npm_token"]},
      {"type": "copy", "src": "app/", "dest": "/srv/app", "context": "bc_0123abcd"},
      {"type": "git_clone", "url": "https://example.com/x.git", "dest": "/src", "ref": "main"},
      {"type": "env", "envs": {"K": "V", "PATH_EXTRA": "/opt/bin"}},
      {"type": "workdir", "path": "/srv/app"},
      {"type": "user", "name": "app"}
    ],
    "runtime_envs": {"APP_ENV": "demo"},
    "start_cmd": "uvicorn app:app --port 8000",
    "ready": {"type": "port", "port": 8000},
    "ready_timeout_ms": 30000
  },
  "cpu_count": 4, "memory_mb": 2048, "disk_mb": 4096, "internet_access": false,
  "build_backend": "buildkit",
  "build_secrets": [{"id": "npm_token", "value": "tok-123", "source": "env"}],
  "skip_cache": true
})";

build_request expected_full() {
  build_request r;
  r.name = "my-template";
  r.namespace_name = "acme";
  r.tags = {"stable", "v1.2"};
  r.source.type = source_type::image;
  r.source.image = "registry.example/ns/img:tag";
  r.source.auth = registry_auth{"robot", "hunter22"};
  auto add = [&](step_type t) -> build_step& {
    r.steps.emplace_back();
    r.steps.back().type = t;
    return r.steps.back();
  };
  add(step_type::apt_install).packages = {"git", "curl"};
  add(step_type::pip_install).packages = {"pytest"};
  auto& npm = add(step_type::npm_install);
  npm.packages = {"typescript"};
  npm.global = true;
  auto& run = add(step_type::run);
  run.cmd = "make install";
  run.secrets = {"npm_token"};
  auto& copy = add(step_type::copy);
  copy.src = "app/";
  copy.dest = "/srv/app";
  copy.context = "bc_0123abcd";
  auto& git = add(step_type::git_clone);
  git.url = "https://example.com/x.git";
  git.dest = "/src";
  git.ref = "main";
  add(step_type::env).envs = {{"K", "V"}, {"PATH_EXTRA", "/opt/bin"}};
  add(step_type::workdir).path = "/srv/app";
  add(step_type::user).user = "app";
  r.runtime_envs = {{"APP_ENV", "demo"}};
  r.start_cmd = "uvicorn app:app --port 8000";
  r.ready.type = ready_type::port;
  r.ready.port = 8000;
  r.ready_timeout_ms = 30000;
  r.cpu_count = 4;
  r.memory_mb = 2048;
  r.disk_mb = 4096;
  r.internet_access = false;
  r.backend = build_backend::buildkit;
  r.secrets = {{"npm_token", "tok-123", "env"}};
  r.skip_cache = true;
  return r;
}

// A valid request with a python_image source, the given steps and extra top-level fields.
std::string with(std::string_view steps, std::string_view extra = "") {
  std::string out =
      R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},"steps":)";
  out += steps;
  out += "}";
  if (!extra.empty()) out += "," + std::string(extra);
  return out + "}";
}

// A valid request with the given source object and extra top-level fields.
std::string with_source(std::string_view source, std::string_view extra = "") {
  std::string out = R"({"name":"demo","builder":{"source":)";
  out += source;
  out += "}";
  if (!extra.empty()) out += "," + std::string(extra);
  return out + "}";
}

build_request parse_ok(std::string_view json, parse_options opts = {}) {
  auto r = parse_build_request(json, platform_limits{}, opts);
  for (auto& e : r.errors) INFO(e.field + ": " + e.message);
  REQUIRE(r.errors.empty());
  REQUIRE(r.request);
  return *r.request;
}

bool has_error(const parse_outcome& r, const std::string& field, const std::string& fragment) {
  for (auto& e : r.errors)
    if (e.field == field && e.message.find(fragment) != std::string::npos) return true;
  return false;
}

std::string describe(const parse_outcome& r) {
  std::string out;
  for (auto& e : r.errors) out += "[" + e.field + "] " + e.message + "\n";
  return out;
}

struct bad_case {
  std::string json;
  std::string field;
  std::string fragment;
  errc code = errc::invalid_argument;
};

void check_cases(const std::vector<bad_case>& cases, const platform_limits& limits = {}) {
  for (auto& c : cases) {
    INFO(c.json.substr(0, 300));
    auto r = parse_build_request(c.json, limits);
    INFO(describe(r));
    CHECK_FALSE(r.request);
    REQUIRE_FALSE(r.errors.empty());
    CHECK(has_error(r, c.field, c.fragment));
    for (auto& e : r.errors) CHECK(e.code == c.code);
  }
}

}  // namespace

TEST_CASE("a full request with every step kind parses to the expected IR", "[parser]") {
  auto r = parse_build_request(full_request, platform_limits{});
  INFO(describe(r));
  REQUIRE(r.request);
  CHECK(r.warnings.empty());
  auto want = expected_full();
  CHECK(r.request->steps == want.steps);
  CHECK(r.request->source == want.source);
  CHECK(*r.request == want);
}

TEST_CASE("every source kind parses, with its default backend", "[parser]") {
  auto py = parse_ok(with_source(R"({"type":"python_image","version":"3.12"})"));
  CHECK(py.source.type == source_type::python_image);
  CHECK(py.source.version == "3.12");
  CHECK(py.backend == build_backend::native);

  auto img = parse_ok(with_source(R"({"type":"image","image":"debian:12"})"));
  CHECK(img.source.type == source_type::image);
  CHECK(img.source.image == "debian:12");
  CHECK_FALSE(img.source.auth);
  CHECK(img.backend == build_backend::native);

  auto df = parse_ok(with_source(
      R"({"type":"dockerfile","content":"FROM debian:12\nRUN true","context":"bc_x1"})"));
  CHECK(df.source.type == source_type::dockerfile);
  CHECK(df.source.dockerfile == "FROM debian:12\nRUN true");
  CHECK(df.source.context == "bc_x1");
  CHECK(df.backend == build_backend::buildkit);  // Dockerfile input defaults to BuildKit

  for (auto ref : {"base", "acme/base", "base:stable", "acme/base:stable", "acme/base@tb_01HX9"}) {
    auto t = parse_ok(with_source(R"({"type":"template","ref":")" + std::string(ref) + "\"}"));
    CHECK(t.source.type == source_type::template_ref);
    CHECK(t.source.ref == ref);
  }

  auto bk = parse_ok(
      with_source(R"({"type":"python_image","version":"3.11"})", R"("build_backend":"buildkit")"));
  CHECK(bk.backend == build_backend::buildkit);
}

TEST_CASE("defaults apply when optional fields are omitted or null", "[parser]") {
  auto r = parse_ok(R"({"name":"demo","namespace":null,"builder":{"source":{"type":"python_image",
      "version":"3.11"},"ready":null},"disk_mb":null})");
  build_request d;
  CHECK(r.namespace_name.empty());
  CHECK(r.steps.empty());
  CHECK(r.ready.type == ready_type::none);
  CHECK(r.cpu_count == d.cpu_count);
  CHECK(r.memory_mb == d.memory_mb);
  CHECK(r.disk_mb == 0);
  CHECK(r.internet_access);
  CHECK_FALSE(r.skip_cache);
  CHECK(r.ready_timeout_ms == d.ready_timeout_ms);

  // A platform whose limits exclude the built-in defaults still accepts the omission.
  platform_limits small;
  small.max_memory_mb = 512;
  small.max_cpu_count = 1;
  auto s = parse_build_request(with("[]"), small);
  REQUIRE(s.request);
  CHECK(s.request->memory_mb == 512);
  CHECK(s.request->cpu_count == 1);
}

TEST_CASE("the body size, JSON syntax and top-level type are checked first", "[parser]") {
  platform_limits small;
  small.max_request_bytes = 64;
  auto big = parse_build_request(with("[]"), small);
  REQUIRE(big.errors.size() == 1);
  CHECK(big.errors[0].code == errc::payload_too_large);
  CHECK(big.errors[0].field.empty());

  check_cases({
      {R"({"name": "x", "builder": )", "", "byte offset 25"},  // truncated: offset = length
      {R"({"name" "x"})", "", "byte offset 8: expected ':'"},
      {R"({"name": "x",})", "", "byte offset 13: expected a string key"},
      {R"({"name": "x"} trailing)", "", "byte offset 14"},
      {R"({"name": tru})", "", "byte offset 9"},
      {"", "", "byte offset 0"},
      {R"([1,2])", "", "must be a JSON object, got an array"},
      {R"("just a string")", "", "must be a JSON object, got a string"},
      {R"({"name": "x", "memory_mb": 1e999})", "memory_mb", "number out of range"},
      {R"({"name": "x", "memory_mb": 012})", "memory_mb", "invalid number"},
      {R"({"name": "x\ud800"})", "name", "unpaired UTF-16 surrogate"},
      {"{\"name\": \"a\tb\"}", "name", "unescaped control character"},
  });
}

TEST_CASE("invalid UTF-8 in a string names the field and the byte offset", "[parser]") {
  auto json = with(R"([{"type":"run","cmd":"echo )"
                   "\xC3\x28"
                   R"("}])");
  auto r = parse_build_request(json, platform_limits{});
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].code == errc::invalid_argument);
  CHECK(r.errors[0].field == "builder.steps[0].cmd");
  CHECK_THAT(r.errors[0].message,
             Catch::Contains("invalid UTF-8") &&
                 Catch::Contains("byte offset " + std::to_string(json.find('\xC3'))));
}

TEST_CASE("deep nesting is refused cleanly", "[parser]") {
  for (size_t depth : {65, 1000, 100000}) {
    std::string json = R"({"name":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
    auto r = parse_build_request(json, platform_limits{});
    REQUIRE(r.errors.size() == 1);
    CHECK_THAT(r.errors[0].message, Catch::Contains("nested deeper than"));
    CHECK_THAT(r.errors[0].message, Catch::Contains("byte offset"));
  }
  std::string unclosed(200000, '[');
  CHECK_FALSE(parse_build_request(unclosed, platform_limits{}).errors.empty());
  // Shallow enough to parse: then it is just the wrong type.
  auto r = parse_build_request(R"({"name":[[[[1]]]]})", platform_limits{});
  CHECK(has_error(r, "name", "must be a string, got an array"));
}

TEST_CASE("wrong types say what was expected and name the JSON path", "[parser]") {
  check_cases({
      {R"({"name": 7, "builder": {"source": {"type": "python_image", "version": "3.11"}}})", "name",
       "name must be a string, got an integer"},
      {with(R"([{"type":"run","cmd":"a"},{"type":"run","cmd":"b"},{"type":"run","cmd":5}])"),
       "builder.steps[2].cmd", "builder.steps[2].cmd must be a string, got an integer"},
      {with("[]", R"("memory_mb": "lots")"), "memory_mb", "must be an integer"},
      {with("[]", R"("memory_mb": 1024.5)"), "memory_mb", "must be an integer"},
      {with("[]", R"("memory_mb": 1e3)"), "memory_mb", "must be an integer"},
      {with("[]", R"("cpu_count": true)"), "cpu_count", "got a boolean"},
      {with("[]", R"("internet_access": "yes")"), "internet_access", "must be a boolean"},
      {with("[]", R"("skip_cache": 1)"), "skip_cache", "must be a boolean"},
      {with("[]", R"("tags": "stable")"), "tags", "must be an array, got a string"},
      {with("[]", R"("tags": ["ok", 3])"), "tags[1]", "must be a string"},
      {with("{}"), "builder.steps", "must be an array, got an object"},
      {with(R"(["run"])"), "builder.steps[0]", "must be an object, got a string"},
      {with(R"([{"type":"env","envs":["K=V"]}])"), "builder.steps[0].envs", "must be an object"},
      {with(R"([{"type":"env","envs":{"K":1}}])"), "builder.steps[0].envs.K", "must be a string"},
      {with(R"([{"type":"npm_install","packages":["x"],"global":"yes"}])"),
       "builder.steps[0].global", "must be a boolean"},
      {with("[]", R"("build_secrets": [{"id": 5, "value": "x"}])"), "build_secrets[0].id",
       "must be a string"},
      {with("[]", R"("build_secrets": {"id": "a"})"), "build_secrets", "must be an array"},
      {R"({"name":"demo","builder":[]})", "builder", "must be an object, got an array"},
      {with_source(R"({"type":"image","image":"x","auth":"u:p"})"), "builder.source.auth",
       "must be an object"},
  });
}

TEST_CASE("missing required fields are named", "[parser]") {
  check_cases({
      {R"({"builder":{"source":{"type":"python_image","version":"3.11"}}})", "name",
       "name is required"},
      {R"({"name":"demo"})", "builder", "builder is required"},
      {R"({"name":"demo","builder":{}})", "builder.source", "builder.source is required"},
      {with_source(R"({"version":"3.11"})"), "builder.source.type", "is required"},
      {with_source(R"({"type":"python_image"})"), "builder.source.version", "is required"},
      {with_source(R"({"type":"image"})"), "builder.source.image", "is required"},
      {with_source(R"({"type":"image","image":"x","auth":{"username":"u"}})"),
       "builder.source.auth.password", "is required"},
      {with_source(R"({"type":"dockerfile"})"), "builder.source.content", "is required"},
      {with_source(R"({"type":"dockerfile","content":""})"), "builder.source.content",
       "must not be empty"},
      {with_source(R"({"type":"template"})"), "builder.source.ref", "is required"},
      {with(R"([{"cmd":"x"}])"), "builder.steps[0].type", "is required"},
      {with(R"([{"type":"run"}])"), "builder.steps[0].cmd", "is required"},
      {with(R"([{"type":"run","cmd":""}])"), "builder.steps[0].cmd", "must not be empty"},
      {with(R"([{"type":"apt_install"}])"), "builder.steps[0].packages", "is required"},
      {with(R"([{"type":"pip_install","packages":[]}])"), "builder.steps[0].packages",
       "must not be empty"},
      {with(R"([{"type":"copy","src":"a"}])"), "builder.steps[0].dest", "is required"},
      {with(R"([{"type":"git_clone","dest":"/src"}])"), "builder.steps[0].url", "is required"},
      {with(R"([{"type":"env","envs":{}}])"), "builder.steps[0].envs", "at least one"},
      {with(R"([{"type":"workdir"}])"), "builder.steps[0].path", "is required"},
      {with(R"([{"type":"user"}])"), "builder.steps[0].name", "is required"},
      {with("[]", R"("build_secrets": [{"value": "x"}])"), "build_secrets[0].id", "is required"},
      {with("[]", R"("build_secrets": [{"id": "x"}])"), "build_secrets[0].value", "is required"},
  });
  auto ready = [](std::string_view r) {
    return R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},"ready":)" +
           std::string(r) + "}}";
  };
  check_cases({
      {ready(R"({"type":"port"})"), "builder.ready.port", "is required"},
      {ready(R"({"type":"url"})"), "builder.ready.url", "is required"},
      {ready(R"({"type":"file"})"), "builder.ready.path", "is required"},
      {ready(R"({"type":"command"})"), "builder.ready.cmd", "is required"},
      {ready(R"({"port":80})"), "builder.ready.type", "is required"},
  });
}

TEST_CASE("a ready check needs a start command", "[parser]") {
  check_cases({
      {R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
          "ready":{"type":"port","port":80}}})",
       "builder.ready", "builder.ready needs builder.start_cmd"},
  });
}

TEST_CASE("unknown enum values list the accepted ones", "[parser]") {
  check_cases({
      {with_source(R"({"type":"git","url":"x"})"), "builder.source.type",
       "must be one of python_image, image, dockerfile, template; got 'git'"},
      {with(R"([{"type":"RUN","cmd":"x"}])"), "builder.steps[0].type", "must be one of"},
      {R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
          "ready":{"type":"tcp","port":1}}})",
       "builder.ready.type", "must be one of port, url, file, command"},
      {with("[]", R"("build_backend": "docker")"), "build_backend",
       "must be one of native, buildkit"},
      {with_source(R"({"type":"dockerfile","content":"FROM x"})",
                   R"("build_secrets": [{"id": "a", "value": "x", "source": "vault"}])"),
       "build_secrets[0].source", "must be one of value, env, file"},
  });
}

TEST_CASE("strings, lists and steps are bounded by the platform limits", "[parser]") {
  platform_limits lim;
  lim.max_string_bytes = 16;
  lim.max_list_items = 3;
  lim.max_steps = 2;
  lim.max_secret_bytes = 8;
  check_cases(
      {
          {with(R"([{"type":"run","cmd":"echo 0123456789abcdef"}])"), "builder.steps[0].cmd",
           "is 21 bytes; the limit is 16"},
          {with(R"([{"type":"apt_install","packages":["a","b","c","d"]}])"),
           "builder.steps[0].packages", "has 4 items; the limit is 3"},
          {with("[]", R"("tags":["a","b","c","d"])"), "tags", "the limit is 3"},
          {with(R"([{"type":"env","envs":{"A":"1","B":"2","C":"3","D":"4"}}])"),
           "builder.steps[0].envs", "the limit is 3"},
          {with(R"([{"type":"run","cmd":"a"},{"type":"run","cmd":"b"},{"type":"run","cmd":"c"}])"),
           "builder.steps", "has 3 steps; the limit is 2"},
          {with_source(R"({"type":"dockerfile","content":"FROM x"})",
                       R"("build_secrets": [{"id": "a", "value": "123456789"}])"),
           "build_secrets[0].value", "must be at most 8 bytes"},
      },
      lim);
  // The same limits accept values at the boundary.
  auto ok = parse_build_request(
      with(
          R"([{"type":"run","cmd":"0123456789abcdef"},{"type":"apt_install","packages":["a","b","c"]}])"),
      lim);
  CHECK(ok.request);
}

TEST_CASE("names, namespaces, tags, env names and secret ids follow their patterns", "[parser]") {
  check_cases({
      {with("[]").replace(9, 4, "Bad Name!"), "name", "[a-z0-9][a-z0-9._-]{0,62}"},
      {with("[]").replace(9, 4, "-lead"), "name", "got '-lead'"},
      {with("[]").replace(9, 4, std::string(64, 'a')), "name", "must be a name matching"},
      {with("[]", R"("namespace":"Acme")"), "namespace", "must be a name matching"},
      {with("[]", R"("tags":["ok","Not OK"])"), "tags[1]", "must be a tag matching"},
      {with("[]", R"("tags":["v1","v2","v1"])"), "tags[2]", "tag 'v1' is listed more than once"},
      {with(R"([{"type":"env","envs":{"1BAD":"x"}}])"), "builder.steps[0].envs",
       "invalid variable name '1BAD'"},
      {R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
          "runtime_envs":{"APP-ENV":"x"}}})",
       "builder.runtime_envs", "invalid variable name 'APP-ENV'"},
      {with(R"([{"type":"env","envs":{"A":"1","A":"2"}}])"), "builder.steps[0].envs.A",
       "more than once"},
      {with_source(R"({"type":"dockerfile","content":"FROM x"})",
                   R"("build_secrets":[{"id":"has space","value":"x"}])"),
       "build_secrets[0].id", "must be a secret id ([A-Za-z0-9_.-]{1,64})"},
      {with_source(R"({"type":"dockerfile","content":"FROM x"})",
                   R"("build_secrets":[{"id":")" + std::string(65, 'a') + R"(","value":"x"}])"),
       "build_secrets[0].id", "must be a secret id"},
      {with_source(R"({"type":"dockerfile","content":"FROM x"})",
                   R"("build_secrets":[{"id":"a","value":"x"},{"id":"a","value":"y"}])"),
       "build_secrets[1].id", "secret id 'a' is given more than once"},
      {with_source(R"({"type":"dockerfile","content":"FROM x"})",
                   R"("build_secrets":[{"id":"a","value":""}])"),
       "build_secrets[0].value", "must not be empty"},
      {with(R"([{"type":"run","cmd":"x","secrets":["ok","bad id"]}])"),
       "builder.steps[0].secrets[1]", "must be a secret id"},
      {with_source(R"({"type":"template","ref":"Base:stable"})"), "builder.source.ref",
       "must be a template ref"},
      {with_source(R"({"type":"dockerfile","content":"FROM x","context":"ctx1"})"),
       "builder.source.context", "must be a build context id"},
      {with(R"([{"type":"apt_install","packages":["-oAPT::x=1"]}])"),
       "builder.steps[0].packages[0]", "does not start with '-'"},
      {with(R"([{"type":"apt_install","packages":["git curl"]}])"), "builder.steps[0].packages[0]",
       "without spaces"},
      {with(R"([{"type":"copy","src":"../etc","dest":"/x"}])"), "builder.steps[0].src",
       "must stay inside the build context"},
      {with(R"([{"type":"git_clone","url":"--upload-pack=x","dest":"/src"}])"),
       "builder.steps[0].url", "does not start with '-'"},
      {with(R"([{"type":"run","cmd":"a\u0000b"}])"), "builder.steps[0].cmd",
       "must not contain NUL"},
      {with("[]", R"("name":"again")"), "name", "is given more than once"},
  });
}

TEST_CASE("resources and timeouts must lie inside the platform limits", "[parser]") {
  check_cases({
      {with("[]", R"("cpu_count": 0)"), "cpu_count", "cpu_count must be between 1 and 8, got 0"},
      {with("[]", R"("cpu_count": 9)"), "cpu_count", "cpu_count must be between 1 and 8"},
      {with("[]", R"("cpu_count": -2)"), "cpu_count", "must be between 1 and 8, got -2"},
      {with("[]", R"("memory_mb": 999999)"), "memory_mb",
       "memory_mb must be between 128 and 16384"},
      {with("[]", R"("memory_mb": 64)"), "memory_mb", "memory_mb must be between 128 and 16384"},
      {with("[]", R"("memory_mb": 18446744073709551615)"), "memory_mb", "must be between"},
      {with("[]", R"("disk_mb": 100)"), "disk_mb", "disk_mb must be between 256 and 65536"},
      {with("[]", R"("disk_mb": 0)"), "disk_mb", "disk_mb must be between 256 and 65536"},
      {R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
          "ready_timeout_ms": 600001}})",
       "builder.ready_timeout_ms", "between 1 and 600000"},
      {R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
          "ready":{"type":"port","port":0}}})",
       "builder.ready.port", "between 1 and 65535"},
      {R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
          "ready":{"type":"port","port":65536}}})",
       "builder.ready.port", "between 1 and 65535"},
      {R"({"name":"demo","builder":{"source":{"type":"python_image","version":"3.11"},
          "ready":{"type":"url","url":"ftp://x"}}})",
       "builder.ready.url", "http:// or https://"},
  });
  platform_limits custom;
  custom.min_memory_mb = 256;
  custom.max_memory_mb = 512;
  check_cases({{with("[]", R"("memory_mb": 1024)"), "memory_mb",
                "memory_mb must be between 256 and 512, got 1024"}},
              custom);
  auto edge = parse_ok(with("[]", R"("cpu_count":8,"memory_mb":128,"disk_mb":65536)"));
  CHECK(edge.cpu_count == 8);
  CHECK(edge.memory_mb == 128);
  CHECK(edge.disk_mb == 65536);
}

TEST_CASE("Dockerfile input uses BuildKit and rejects native", "[parser]") {
  auto df = R"({"type":"dockerfile","content":"FROM debian:12"})";
  CHECK(parse_ok(with_source(df)).backend == build_backend::buildkit);
  CHECK(parse_ok(with_source(df, R"("build_backend":"buildkit")")).backend ==
        build_backend::buildkit);
  check_cases({{with_source(df, R"("build_backend":"native")"), "build_backend",
                "\"native\" is rejected for Dockerfile input"}});
}

TEST_CASE("native builds reject build secrets", "[parser]") {
  auto secrets = R"("build_secrets":[{"id":"tok","value":"v"}])";
  check_cases({
      // Native by default for a non-Dockerfile source...
      {with(R"([{"type":"run","cmd":"x","secrets":["tok"]}])", secrets), "build_secrets",
       "native builds reject build secrets"},
      // ...and when asked for explicitly.
      {with(R"([{"type":"run","cmd":"x","secrets":["tok"]}])",
            std::string(secrets) + R"(,"build_backend":"native")"),
       "build_secrets", "native builds reject build secrets"},
  });
  // An empty list is nothing to reject; buildkit accepts the same request.
  CHECK(parse_build_request(with("[]", R"("build_secrets":[])"), platform_limits{}).request);
  CHECK(parse_build_request(with(R"([{"type":"run","cmd":"x","secrets":["tok"]}])",
                                 std::string(secrets) + R"(,"build_backend":"buildkit")"),
                            platform_limits{})
            .request);
}

TEST_CASE("secret ids used by steps and Dockerfile mounts must be supplied", "[parser]") {
  auto steps = R"([{"type":"run","cmd":"a","secrets":["tok"]},
                   {"type":"run","cmd":"b","secrets":["tok","other"]}])";
  auto json =
      with(steps, R"("build_backend":"buildkit","build_secrets":[{"id":"tok","value":"v"}])");
  check_cases({{json, "builder.steps[1].secrets[1]", "secret 'other'"}});
  auto r = parse_build_request(json, platform_limits{});
  REQUIRE(r.errors.size() == 1);  // only the missing one

  auto df = [](std::string content, std::string secrets) {
    return with_source(R"({"type":"dockerfile","content":")" + content + "\"}",
                       R"("build_secrets":)" + secrets);
  };
  check_cases({
      {df(R"(FROM node:20\nRUN --mount=type=secret,id=npm_token npm ci)", "[]"),
       "builder.source.content", "mounts secret 'npm_token'"},
      {df(R"(FROM x\nrun --mount=type=cache,target=/c \\\n    --mount=type=secret,id=b,required=true make)",
          R"([{"id":"a","value":"v"}])"),
       "builder.source.content", "mounts secret 'b'"},
      {df(R"(FROM x\nRUN --mount=type=secret,target=/run/secrets/from_target cat x)", "[]"),
       "builder.source.content", "mounts secret 'from_target'"},
  });
  // Supplied, optional (required=false), or only mentioned inside the command: fine.
  CHECK(parse_build_request(df(R"(FROM x\nRUN --mount=type=secret,id=npm_token npm ci)",
                               R"([{"id":"npm_token","value":"v"}])"),
                            platform_limits{})
            .request);
  CHECK(
      parse_build_request(df(R"(FROM x\nRUN --mount=type=secret,id=opt,required=false true)", "[]"),
                          platform_limits{})
          .request);
  CHECK(parse_build_request(df(R"(FROM x\nRUN echo --mount=type=secret,id=nope)", "[]"),
                            platform_limits{})
            .request);
}

TEST_CASE("the Dockerfile's secret mounts are those of its RUN lines", "[parser]") {
  auto prog = parse_dockerfile(
      "# syntax=docker/dockerfile:1\n"
      "FROM node:20 AS build\n"
      "COPY not_a_mount=type=secret,id=not_run .\n"
      "RUN --mount=type=secret,id=npm_token \\\n"
      "    # a comment inside the continuation\n"
      "    --mount=type=secret,id=opt,required=false \\\n"
      "    npm ci --mount=type=secret,id=in_command\n"
      "run --mount=type=secret,required,target=/run/secrets/gh_token make\r\n"
      "RUN --network=none --mount=\"type=secret,id=quoted\" true",
      "bc_0123456789abcdef0123456789abcdef");
  REQUIRE(prog.errors.empty());
  auto& mounts = prog.secret_mounts;
  REQUIRE(mounts.size() == 4);
  CHECK(mounts[0].id == "npm_token");
  CHECK(mounts[0].required);
  CHECK(mounts[1].id == "opt");
  CHECK_FALSE(mounts[1].required);
  CHECK(mounts[2].id == "gh_token");
  CHECK(mounts[2].required);
  CHECK(mounts[3].id == "quoted");

  build_request req;
  req.source.type = source_type::dockerfile;
  req.source.dockerfile =
      "FROM x\nRUN --mount=type=secret,id=zeta --mount=type=secret,id=o,required=false x";
  req.secrets = {{"alpha", "v", "env"}};
  req.steps.resize(2);
  req.steps[0].secrets = {"mid", "alpha"};
  CHECK(required_secret_ids(req) == std::vector<std::string>{"alpha", "mid", "zeta"});
}

TEST_CASE("every problem is reported, not just the first", "[parser]") {
  auto r = parse_build_request(R"({"name":"Bad!","tags":["x","x"],
      "builder":{"source":{"type":"python_image"},"steps":[{"type":"run"},{"type":"nope"}]},
      "cpu_count":0,"memory_mb":"big","build_backend":"fast"})",
                               platform_limits{});
  CHECK_FALSE(r.request);
  std::vector<std::string> fields;
  for (auto& e : r.errors) fields.push_back(e.field);
  CHECK(fields == std::vector<std::string>{"name", "tags[1]", "builder.source.version",
                                           "builder.steps[0].cmd", "builder.steps[1].type",
                                           "cpu_count", "memory_mb", "build_backend"});
}

TEST_CASE("unknown fields are ignored with a warning naming their path", "[parser]") {
  auto r = parse_build_request(
      with(R"([{"type":"run","cmd":"x","packages":["p"]}])", R"("foo":1,"colour":"blue")"),
      platform_limits{});
  REQUIRE(r.request);
  CHECK(r.warnings ==
        std::vector<std::string>{"unknown field 'foo' ignored", "unknown field 'colour' ignored",
                                 "unknown field 'builder.steps[0].packages' ignored"});
}

TEST_CASE("a redacted secret value is accepted only when asked for", "[parser]") {
  auto json =
      with_source(R"({"type":"image","image":"x","auth":{"username":"u","password":"***"}})",
                  R"("build_backend":"buildkit","build_secrets":[{"id":"a","value":"***"}])");
  auto relaxed = parse_build_request(json, platform_limits{}, {.allow_redacted_secrets = true});
  REQUIRE(relaxed.request);
  CHECK(relaxed.warnings.size() == 1);  // only "secret a is not used"
  CHECK(relaxed.request->secrets[0].value == "***");
  CHECK(relaxed.request->source.auth->password == "***");

  // Without the option "***" is an ordinary value: checked like any other...
  platform_limits tiny;
  tiny.max_secret_bytes = 2;
  auto strict = parse_build_request(json, tiny);
  CHECK(has_error(strict, "build_secrets[0].value", "at most 2 bytes"));
  CHECK(has_error(strict, "builder.source.auth.password", "at most 2 bytes"));
  CHECK(parse_build_request(json, tiny, {.allow_redacted_secrets = true}).request);
  // ...and accepted with a hint that it looks like a placeholder.
  auto plain = parse_build_request(json, platform_limits{});
  REQUIRE(plain.request);
  bool hinted = false;
  for (auto& w : plain.warnings)
    if (w.find("build_secrets[0].value looks like a redacted placeholder") != std::string::npos)
      hinted = true;
  CHECK(hinted);
}

TEST_CASE("secret values and registry passwords never reach messages", "[parser]") {
  // Invalid in many ways; the canary sits in secret values and the password, and
  // is pasted into fields that messages quote. A secret longer than what a
  // message quotes must not leak its prefix either.
  const std::string long_secret = "LONGSECRET-" + std::string(100, 'q');
  auto sub = [&](std::string s) {
    for (auto [from, to] : {std::pair<std::string, std::string>{"$C", canary},
                            {"$R", registry_canary},
                            {"$L", long_secret},
                            {"$X", std::string(200, 'x')}})
      for (auto pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos))
        s.replace(pos, from.size(), to);
    return s;
  };
  auto json = sub(R"({"name":"$C","tags":["$C","$C"],"build_backend":"native",
    "builder":{"source":{"type":"image","image":"-$L",
                         "auth":{"username":"u","password":"$R","x":1}},
      "steps":[{"type":"run","cmd":"echo $C","secrets":["missing"]},
               {"type":"$C"},
               {"type":"env","envs":{"$C":"x"}}]},
    "memory_mb":1,
    "build_secrets":[{"id":"tok","value":"$C"},
                     {"id":"tok","value":"$C","source":"$C"},
                     {"id":"big","value":"$C$X"},
                     {"id":"typed","value":["x"]},
                     {"id":"long","value":"$L"},
                     {"id":"bad id","value":"$C","$C":1}]})");
  platform_limits lim;
  lim.max_secret_bytes = 128;
  auto r = parse_build_request(json, lim);
  INFO(describe(r));
  CHECK(r.errors.size() >= 9);
  CHECK(has_error(r, "build_secrets[2].value", "must be at most 128 bytes"));
  CHECK(has_error(r, "builder.source.image", "got '***'"));
  for (auto& e : r.errors) {
    CHECK(e.message.find(canary) == std::string::npos);
    CHECK(e.field.find(canary) == std::string::npos);
    CHECK(e.message.find(registry_canary) == std::string::npos);
    CHECK(e.message.find("LONGSECRET") == std::string::npos);
  }
  CHECK_FALSE(r.warnings.empty());
  for (auto& w : r.warnings) CHECK(w.find(canary) == std::string::npos);

  // Malformed JSON around a secret: offsets, never bytes.
  auto broken = sub(R"({"name":"x","build_secrets":[{"id":"a","value":"$C)"
                    "\x01"
                    R"("}]})");
  auto b = parse_build_request(broken, lim);
  REQUIRE(b.errors.size() == 1);
  CHECK_THAT(b.errors[0].message, Catch::Contains("byte offset"));
  CHECK(b.errors[0].message.find(canary) == std::string::npos);
}

TEST_CASE("the sanitized definition holds no secret and parses back to the same request",
          "[parser]") {
  auto json = full_request;
  json.replace(json.find("tok-123"), 7, canary);
  json.replace(json.find("hunter22"), 8, registry_canary);
  auto req = parse_ok(json);
  auto sanitized = sanitized_definition_json(req);
  CHECK(sanitized.find(canary) == std::string::npos);
  CHECK(sanitized.find(registry_canary) == std::string::npos);
  CHECK_THAT(sanitized, Catch::Contains(R"("auth":{"username":"robot","password":"***"})"));
  CHECK_THAT(
      sanitized,
      Catch::Contains(R"("build_secrets":[{"id":"npm_token","source":"env","value":"***"}])"));

  // Field names are the API's.
  simdjson::dom::parser p;
  simdjson::dom::element el;
  REQUIRE(p.parse(sanitized).get(el) == simdjson::SUCCESS);
  for (auto key : {"name", "namespace", "tags", "builder", "cpu_count", "memory_mb", "disk_mb",
                   "internet_access", "build_backend", "build_secrets", "skip_cache"})
    CHECK(el[key].error() == simdjson::SUCCESS);
  for (auto key : {"source", "steps", "runtime_envs", "start_cmd", "ready", "ready_timeout_ms"})
    CHECK(el["builder"][key].error() == simdjson::SUCCESS);

  // A strict re-read refuses nothing here, but only the redacted re-read is the contract.
  auto back = parse_build_request(sanitized, platform_limits{}, {.allow_redacted_secrets = true});
  INFO(describe(back));
  REQUIRE(back.request);
  CHECK(back.warnings.empty());
  auto want = req;
  want.secrets[0].value = "***";
  want.source.auth->password = "***";
  CHECK(*back.request == want);
  CHECK(sanitized_definition_json(*back.request) == sanitized);  // a fixed point
}

TEST_CASE("every source kind and optional shape survives the round trip", "[parser]") {
  for (const std::string& json : std::vector<std::string>{
           with_source(R"({"type":"python_image","version":"3.11"})"),
           with_source(R"({"type":"image","image":"debian:12"})", R"("disk_mb":512)"),
           with_source(
               R"({"type":"dockerfile","content":"FROM x\nRUN --mount=type=secret,id=t true",
               "context":"bc_1"})",
               R"("namespace":"acme","build_secrets":[{"id":"t","value":"v"}])"),
           with_source(R"({"type":"template","ref":"acme/base@tb_01"})", R"("tags":[])"),
           R"({"name":"r","builder":{"source":{"type":"python_image","version":"3"},
              "start_cmd":"serve","ready":{"type":"url","url":"http://127.0.0.1:8000/h"}}})",
           R"({"name":"r","builder":{"source":{"type":"python_image","version":"3"},
              "start_cmd":"serve","ready":{"type":"file","path":"/tmp/ready"}}})",
           R"({"name":"r","builder":{"source":{"type":"python_image","version":"3"},
              "start_cmd":"serve","ready":{"type":"command","cmd":"test -f /x"},
              "steps":[{"type":"copy","src":"a","dest":"/b","context":"bc_0123abcd"},{"type":"git_clone","url":"u","dest":"/d"},
                       {"type":"npm_install","packages":["x"]}]}})",
       }) {
    INFO(json);
    auto req = parse_ok(json);
    auto back = parse_ok(sanitized_definition_json(req), {.allow_redacted_secrets = true});
    for (auto& s : req.secrets) s.value = "***";
    CHECK(back == req);
  }
}

TEST_CASE("no input crashes the parser", "[parser]") {
  std::mt19937 rng(20240601);
  auto well_formed = [](const parse_outcome& r) {
    // Malformed JSON always carries a byte offset: the locator agrees with simdjson.
    for (auto& e : r.errors)
      if (e.message.rfind("malformed JSON", 0) == 0 &&
          e.message.find("byte offset ") == std::string::npos)
        return false;
    return r.request.has_value() == r.errors.empty();
  };
  for (size_t len = 0; len < full_request.size(); ++len) {
    auto r = parse_build_request(full_request.substr(0, len), platform_limits{});
    INFO(len);
    CHECK_FALSE(r.errors.empty());
    CHECK(well_formed(r));
  }
  const std::string alphabet =
      "{}[]\",:\\ 0123456789.eE+-truefalsn\x01\x7f\xc3\xa9\xff\xed\xa0\x80u";
  for (int i = 0; i < 3000; ++i) {
    auto json = full_request;
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      auto pos = rng() % json.size();
      switch (rng() % 3) {
        case 0:
          json[pos] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          json.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        default:
          json.erase(pos, 1 + rng() % 8);
          break;
      }
    }
    auto r = parse_build_request(json, platform_limits{});
    INFO(json);
    CHECK(well_formed(r));
  }
}

TEST_CASE("a flood of mistakes yields a bounded report", "[parser]") {
  std::string steps = "[";
  for (int i = 0; i < 256; ++i) steps += std::string(i ? "," : "") + R"({"type":"run"})";
  std::string unknown;
  for (int i = 0; i < 5000; ++i) unknown += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":0";
  auto r = parse_build_request(with(steps + "]", unknown), platform_limits{});
  REQUIRE(r.errors.size() == 101);
  CHECK_THAT(r.errors.back().message, Catch::Contains("only the first 100"));
  REQUIRE(r.warnings.size() == 101);
  CHECK_THAT(r.warnings.back(), Catch::Contains("only the first 100"));
}

// Found by tests/fuzz/fuzz_refs (corpus file refs/regression_long_normalized):
// a 505-character name was accepted, but its printed form
// (docker.io/library/…:latest, 530 characters) was refused by the same parser.
TEST_CASE("an image ref is accepted only if its printed form is accepted too", "[parser]") {
  for (auto text : {std::string(505, 'a'), "[aa5aaaa:00ea0.aa75a]/" + std::string(488, '0')}) {
    INFO(text.size());
    auto r = parse_image_ref(text);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().field == "builder.source.image");
    CHECK(r.error().message.find("with its defaults filled in") != std::string::npos);
  }
  // At the limit: accepted, and its printed form parses back to the same parts.
  auto at_limit = parse_image_ref("localhost/" + std::string(495, 'b'));  // + ":latest" = 512
  REQUIRE(at_limit.ok());
  CHECK(at_limit->str().size() == 512);
  auto again = parse_image_ref(at_limit->str());
  REQUIRE(again.ok());
  CHECK(again->str() == at_limit->str());
}

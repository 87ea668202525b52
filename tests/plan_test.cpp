// Build plans: summaries, cache keys (what they depend on and what they must
// not), and the plan JSON of POST /v1/builds:plan.
#include <simdjson.h>
#include <catch2/catch.hpp>

#include "runtime/plan/plan.hpp"
#include "runtime/plan/request_parser.hpp"
#include "storage/common/sha256.hpp"

using namespace nullspace;
using namespace nullspace::runtime;

namespace {

build_request parse(const std::string& json) {
  auto r = parse_build_request(json, platform_limits{});
  for (auto& e : r.errors) INFO(e.field + ": " + e.message);
  REQUIRE(r.request);
  return *r.request;
}

// python_image 3.11 with two run steps; the second uses a secret.
build_request sample() {
  return parse(R"({"name":"demo","tags":["v1"],"build_backend":"buildkit",
    "builder":{"source":{"type":"python_image","version":"3.11"},
      "steps":[{"type":"apt_install","packages":["git","curl"]},
               {"type":"run","cmd":"make install","secrets":["npm_token"]},
               {"type":"env","envs":{"APP_ENV":"demo"}}]},
    "build_secrets":[{"id":"npm_token","value":"first-value","source":"env"}]})");
}

std::vector<std::string> keys(const build_request& req) {
  auto plan = make_plan(req);
  std::vector<std::string> out{plan.base_key};
  for (auto& s : plan.steps) out.push_back(s.cache_key);
  return out;
}

}  // namespace

TEST_CASE("sha256 matches the standard vectors and frames fields", "[plan]") {
  CHECK(sha256_hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  sha256 h;
  h.update("a").update("bc");
  CHECK(h.hex_digest() == sha256_hex("abc"));  // incremental = one shot
  sha256 f1, f2;
  f1.update_field("ab").update_field("c");
  f2.update_field("a").update_field("bc");
  CHECK(f1.hex_digest() != f2.hex_digest());
}

TEST_CASE("cache keys are stable across runs", "[plan]") {
  // A regression anchor: changing how keys are computed invalidates every
  // cached layer, so it must be a deliberate change of this expected value.
  // Recomputed independently: sha256 over 8-byte big-endian length-prefixed fields
  // ("nullspace.base.v1", "python_image", "3.11"), then
  // ("nullspace.step.v1", base key, normalized step).
  auto plan = make_plan(parse(R"({"name":"tiny","builder":{"source":{"type":"python_image",
      "version":"3.11"},"steps":[{"type":"run","cmd":"echo hi"}]}})"));
  CHECK(plan.base_key == "sha256:333e135342da001ccbbe747907c4090e7dc6b923dae41d28718864840aab7320");
  REQUIRE(plan.steps.size() == 1);
  CHECK(plan.steps[0].normalized == R"({"type":"run","cmd":"echo hi"})");
  CHECK(plan.steps[0].cache_key ==
        "sha256:40151e8429c9bd29a4578580b20f1c51dea32afbe50906117fe746d1029665f2");
  CHECK(keys(sample()) == keys(sample()));
}

TEST_CASE("a key changes with its step and with everything before it", "[plan]") {
  auto base = keys(sample());
  REQUIRE(base.size() == 4);

  auto other_cmd = sample();
  other_cmd.steps[1].cmd = "make install-all";
  auto k = keys(other_cmd);
  CHECK(k[0] == base[0]);
  CHECK(k[1] == base[1]);  // steps before the change keep their layers
  CHECK(k[2] != base[2]);
  CHECK(k[3] != base[3]);  // and the change propagates to every later step

  auto other_parent = sample();
  other_parent.source.version = "3.12";
  k = keys(other_parent);
  for (size_t i = 0; i < k.size(); ++i) CHECK(k[i] != base[i]);

  auto other_packages = sample();
  other_packages.steps[0].packages = {"curl", "git"};  // order is part of the step
  CHECK(keys(other_packages)[1] != base[1]);

  auto swapped = sample();
  std::swap(swapped.steps[0], swapped.steps[2]);
  CHECK(keys(swapped)[3] != base[3]);

  // Each field of each source kind reaches the base key; registry auth does not.
  build_source a, b;
  a.type = b.type = source_type::dockerfile;
  a.dockerfile = b.dockerfile = "FROM x";
  b.context = "bc_1";
  build_request ra, rb;
  ra.source = a;
  rb.source = b;
  CHECK(make_plan(ra).base_key != make_plan(rb).base_key);
  ra.source.type = rb.source.type = source_type::image;
  ra.source.image = rb.source.image = "debian:12";
  rb.source.auth = registry_auth{"u", "p"};
  CHECK(make_plan(ra).base_key == make_plan(rb).base_key);
  rb.source.image = "debian:13";
  CHECK(make_plan(ra).base_key != make_plan(rb).base_key);
  ra.source.type = rb.source.type = source_type::template_ref;
  ra.source.ref = "base:stable";
  rb.source.ref = "base:canary";
  CHECK(make_plan(ra).base_key != make_plan(rb).base_key);
}

TEST_CASE("keys ignore names, tags, resources, skip_cache and secret values", "[plan]") {
  auto base = keys(sample());
  auto req = sample();
  req.name = "renamed";
  req.namespace_name = "elsewhere";
  req.tags = {"production", "v2"};
  req.cpu_count = 8;
  req.memory_mb = 8192;
  req.disk_mb = 20000;
  req.skip_cache = true;
  req.internet_access = false;  // see plan.cpp: it decides success, not content
  req.ready_timeout_ms = 1;
  req.start_cmd = "serve";
  req.secrets[0].value = "a-completely-different-value";
  req.secrets[0].source = "file";
  CHECK(keys(req) == base);

  auto plan = make_plan(sample());
  for (auto& s : plan.steps) CHECK(s.normalized.find("first-value") == std::string::npos);
}

TEST_CASE("keys change with the secret ids a step uses", "[plan]") {
  auto base = keys(sample());
  auto renamed = sample();
  renamed.steps[1].secrets = {"pypi_token"};
  CHECK(keys(renamed)[2] != base[2]);
  auto none = sample();
  none.steps[1].secrets.clear();
  CHECK(keys(none)[2] != base[2]);
  CHECK(make_plan(sample()).steps[1].normalized ==
        R"({"type":"run","cmd":"make install","secrets":["npm_token"]})");
}

TEST_CASE("summaries are one human line per step", "[plan]") {
  auto plan =
      make_plan(parse(R"({"name":"s","builder":{"source":{"type":"image","image":"debian:12",
      "auth":{"username":"u","password":"p"}},
    "steps":[{"type":"apt_install","packages":["git","curl"]},
             {"type":"pip_install","packages":["pytest"]},
             {"type":"npm_install","packages":["typescript"],"global":true},
             {"type":"run","cmd":"make install"},
             {"type":"copy","src":"app/","dest":"/srv/app","context":"bc_1"},
             {"type":"git_clone","url":"https://user:tok3n@example.com/r.git","dest":"/src","ref":"main"},
             {"type":"env","envs":{"APP_ENV":"demo","SECRET_KEY":"do-not-print"}},
             {"type":"workdir","path":"/srv/app"},
             {"type":"user","name":"app"},
             {"type":"run","cmd":"set -e\n  for i in 1 2 3; do\n    echo $i\n  done\n)" +
                      std::string(200, 'x') + R"("}]}})"));
  CHECK(plan.base_summary == "image debian:12 (private registry)");
  std::vector<std::string> want = {"apt_install git curl",
                                   "pip_install pytest",
                                   "npm_install -g typescript",
                                   "run make install",
                                   "copy app/ -> /srv/app",
                                   "git_clone https://***@example.com/r.git (main) -> /src",
                                   "env APP_ENV SECRET_KEY",
                                   "workdir /srv/app",
                                   "user app"};
  REQUIRE(plan.steps.size() == want.size() + 1);
  for (size_t i = 0; i < want.size(); ++i) {
    CHECK(plan.steps[i].summary == want[i]);
    CHECK(plan.steps[i].index == i);
  }
  auto& last = plan.steps.back().summary;
  CHECK(last.rfind("run set -e for i in 1 2 3; do echo $i done xxx", 0) == 0);
  CHECK(last.find('\n') == std::string::npos);
  CHECK(last.size() <= 123);
  CHECK(last.substr(last.size() - 3) == "…");

  CHECK(make_plan(sample()).steps[1].summary == "run make install [secrets: npm_token]");
  CHECK(make_plan(sample()).base_summary == "python_image 3.11");
}

TEST_CASE("plan JSON has the backend, the base, the steps and the resources", "[plan]") {
  auto req = sample();
  req.cpu_count = 4;
  req.disk_mb = 2048;
  req.internet_access = false;
  auto plan = make_plan(req);
  auto text = plan_json(plan);
  CHECK(text.find("first-value") == std::string::npos);

  simdjson::dom::parser p;
  simdjson::dom::element el;
  REQUIRE(p.parse(text).get(el) == simdjson::SUCCESS);
  CHECK(std::string_view(el["backend"]) == "buildkit");
  CHECK(std::string_view(el["base"]["summary"]) == "python_image 3.11");
  CHECK(std::string_view(el["base"]["cache_key"]) == plan.base_key);
  simdjson::dom::array steps = el["steps"];
  REQUIRE(steps.size() == 3);
  uint64_t i = 0;
  for (auto s : steps) {
    CHECK(uint64_t(s["index"]) == i);
    CHECK(std::string_view(s["type"]) == plan.steps[i].type);
    CHECK(std::string_view(s["summary"]) == plan.steps[i].summary);
    CHECK(std::string_view(s["cache_key"]) == plan.steps[i].cache_key);
    CHECK(std::string_view(s["cache_key"]).rfind("sha256:", 0) == 0);
    CHECK(std::string_view(s["cache_key"]).size() == 7 + 64);
    ++i;
  }
  CHECK(std::string_view(el["steps"].at(1)["type"]) == "run");
  CHECK(uint64_t(el["resources"]["cpu_count"]) == 4);
  CHECK(uint64_t(el["resources"]["memory_mb"]) == 1024);
  CHECK(uint64_t(el["resources"]["disk_mb"]) == 2048);
  CHECK_FALSE(bool(el["resources"]["internet_access"]));

  // Native is the default for a non-Dockerfile source.
  CHECK(
      make_plan(parse(R"({"name":"n","builder":{"source":{"type":"python_image","version":"3"}}})"))
          .backend == "native");
}

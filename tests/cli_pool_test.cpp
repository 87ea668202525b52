// `nullspace pool …` and `nullspace machine create --pool …` end to end: the
// real CLI ($NULLSPACE_CLI) against a real nullspaced ($NULLSPACE_DAEMON)
// with sandbox isolation, a busybox template built through the CLI and a real
// warm pool of it: create, wait, get, list, checkouts (hit, bypass, require
// refused with the pool's counts), disable, enable, drain, delete; usage
// errors (2) before any request, unreachable (3); `pool update` and `pool logs`.
//
// Needs root and an OCI runtime (machines_unavailable() says why not, and
// the machine cases skip with it). Every wait is on a child's output or exit.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/api_fixture.hpp"
#include "tests/cli_support.hpp"
#include "tests/machine_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace::test;

namespace {

// This suite's machine addresses (others use 10.77 to 10.88).
const char* cli_pool_range = "10.76.0.0/16";

// At the end, passed or not: the pool deleted and the machines killed, while
// the server still runs.
struct cleanup {
  const server_process& d;
  std::vector<std::string> machines;
  ~cleanup() {
    ns(d, {"pool", "delete", "box-pool"});
    for (auto& id : machines) ns(d, {"machine", "kill", id});
  }
};

void build_box(const server_process& d) {
  auto built = ns(d, {"template", "build", "--from-image", "busybox", "--name", "box", "--tag",
                      "latest", "--run", "mkdir -p /www && echo hello > /www/index.html",
                      "--start-cmd", "exec httpd -f -p 8000 -h /www", "--ready-port", "8000"});
  CHECK_OUTPUT(built, 0);
  REQUIRE(built.code == 0);
}

}  // namespace

TEST_CASE("cli pools: create, wait, get, list, checkouts, disable, enable, drain, delete",
          "[cli_pools]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  server_process d(dir, true, daemon_machine_flags(cli_pool_range));
  build_box(d);
  cleanup done{d, {}};

  auto created = ns(d, {"pool", "create", "--template", "box", "--name", "box-pool", "--min-ready",
                        "1", "--max-ready", "2"});
  CHECK_OUTPUT(created, 0);
  REQUIRE(created.code == 0);
  // stdout is the id alone; the state goes to stderr.
  REQUIRE(lines_of(created.out).size() == 1);
  auto id = lines_of(created.out)[0];
  CHECK(id.starts_with("wp_"));
  CHECK(contains(created.err, "warm pool box-pool (" + id + ") enabled"));
  CHECK(contains(created.err, "nullspace pool wait box-pool"));

  auto waited = ns(d, {"pool", "wait", "box-pool", "--min-ready", "1", "--timeout", "55s"});
  CHECK_OUTPUT(waited, 0);
  CHECK(contains(waited.out, "warm pool box-pool (" + id + ") enabled: ready 1"));

  auto got = ns(d, {"pool", "get", id});
  CHECK_OUTPUT(got, 0);
  CHECK(row(got.out, "state") == "enabled");
  CHECK(row(got.out, "template") == "box");
  CHECK(row(got.out, "min / max ready") == "1 / 2");
  CHECK(row(got.out, "version policy") == "track_tag");
  CHECK(row(got.out, "serving build").starts_with("tb_"));
  auto got_json = ns(d, {"pool", "get", "box-pool", "--json"});
  CHECK_OUTPUT(got_json, 0);
  CHECK(json_str(got_json.out, "warm_pool.id") == id);

  auto list = ns(d, {"pool", "list"});
  CHECK_OUTPUT(list, 0);
  REQUIRE(lines_of(list.out).size() == 2);
  CHECK(lines_of(list.out)[0].starts_with("NAME"));
  CHECK(lines_of(list.out)[1].starts_with("box-pool"));
  auto list_json = ns(d, {"pool", "ls", "--json"});
  CHECK_OUTPUT(list_json, 0);
  CHECK(json_str(list_json.out, "warm_pools[0].id") == id);

  // hit: the id on stdout, how the pool served it on stderr.
  auto hit = ns(d, {"machine", "create", "--pool", "box-pool"});
  CHECK_OUTPUT(hit, 0);
  REQUIRE(lines_of(hit.out).size() == 1);
  done.machines.push_back(lines_of(hit.out)[0]);
  CHECK(contains(hit.err, "warm pool " + id + ": hit (waited "));
  auto bypass =
      ns(d, {"machine", "create", "--pool", "box-pool", "--pool-mode", "bypass", "--json"});
  CHECK_OUTPUT(bypass, 0);
  done.machines.push_back(json_str(bypass.out, "machine.id"));
  CHECK(json_str(bypass.out, "machine.warm_pool_checkout.result") == "bypass");

  // disabled: require is refused with the pool's counts; prefer falls back.
  auto disabled = ns(d, {"pool", "disable", "box-pool"});
  CHECK_OUTPUT(disabled, 0);
  CHECK(contains(disabled.out, "warm pool box-pool (" + id + ") disabled"));
  auto refused = ns(d, {"machine", "create", "--pool", "box-pool", "--pool-mode", "require",
                        "--pool-wait-ms", "100"});
  CHECK_OUTPUT(refused, 1);
  CHECK(refused.out.empty());
  CHECK(contains(refused.err, "nullspace: warm pool box-pool has no ready machine"));
  CHECK(contains(refused.err, "ready "));
  CHECK(contains(refused.err, "in_use 1"));
  auto fallback = ns(d, {"machine", "create", "--template", "box", "--pool", "box-pool"});
  CHECK_OUTPUT(fallback, 0);
  if (!lines_of(fallback.out).empty()) done.machines.push_back(lines_of(fallback.out)[0]);
  CHECK(contains(fallback.err, "warm pool " + id + ": fallback: disabled"));

  auto enabled = ns(d, {"pool", "enable", id, "--json"});
  CHECK_OUTPUT(enabled, 0);
  CHECK(json_str(enabled.out, "warm_pool.state") == "enabled");
  // More than max_ready can never be reached: the server says so at once.
  auto never = ns(d, {"pool", "wait", "box-pool", "--min-ready", "3"});
  CHECK_OUTPUT(never, 1);
  CHECK(contains(never.err, "can never be reached"));

  auto drained = ns(d, {"pool", "drain", "box-pool"});
  CHECK_OUTPUT(drained, 0);
  CHECK(contains(drained.out, "disabled: ready 0, starting 0"));
  auto deleted = ns(d, {"pool", "delete", "box-pool"});
  CHECK_OUTPUT(deleted, 0);
  auto gone = ns(d, {"pool", "get", "box-pool"});
  CHECK_OUTPUT(gone, 1);
  CHECK(contains(gone.err, "box-pool"));
  auto empty = ns(d, {"pool", "list"});
  CHECK(lines_of(empty.out).size() == 1);  // the header only
}

TEST_CASE("cli pools: usage errors exit 2 before any request; unreachable exits 3", "[cli_pools]") {
  std::string nowhere = "http://127.0.0.1:" + std::to_string(closed_port());
  std::vector<std::vector<std::string>> cases = {
      {"pool"},
      {"pool", "frobnicate"},
      {"pool", "create"},
      {"pool", "create", "--template", "box"},
      {"pool", "create", "--name", "p"},
      {"pool", "create", "--template", "box", "--name", "p", "--min-ready", "-1"},
      {"pool", "create", "--template", "box", "--name", "p", "--max-ready", "0"},
      {"pool", "create", "--template", "box", "--name", "p", "--version-policy", "latest"},
      {"pool", "create", "--template", "box", "--name", "p", "--max-idle", "soon"},
      {"pool", "create", "--template", "box", "--name", "p", "--cpu", "many"},
      {"pool", "get"},
      {"pool", "wait", "p", "--timeout", "11m"},
      {"pool", "wait", "p", "--timeout", "later"},
      {"pool", "wait", "p", "--min-ready", "-2"},
      {"pool", "update", "p"},
      {"pool", "update", "p", "--max-idle", "3 days"},
      {"pool", "delete"},
      {"pool", "logs", "p", "--offset", "-1"},
      {"machine", "create", "--pool-mode", "require"},
      {"machine", "create", "--template", "box", "--pool-mode", "require"},
      {"machine", "create", "--template", "box", "--pool-wait-ms", "10"},
      {"machine", "create", "--pool", "p", "--pool-mode", "always"},
  };
  for (auto& args : cases) {
    auto with_server = args;
    with_server.insert(with_server.begin(), {"--server", nowhere});
    INFO("args: " << [&] {
      std::string s;
      for (auto& a : args) s += a + " ";
      return s;
    }());
    auto r = run_cli(with_server);
    CHECK_OUTPUT(r, 2);
    CHECK(r.err.starts_with("nullspace: "));
  }
  auto help = run_cli({"pool", "--help"});
  CHECK_OUTPUT(help, 0);
  for (auto* cmd :
       {"create", "get", "list", "wait", "update", "enable", "disable", "drain", "delete", "logs"})
    CHECK(contains(help.out, cmd));
  auto create_help = run_cli({"machine", "create", "--help"});
  CHECK(contains(create_help.out, "--pool-mode"));

  for (std::vector<std::string> args : {std::vector<std::string>{"pool", "list"},
                                        {"pool", "get", "p"},
                                        {"pool", "wait", "p"},
                                        {"pool", "logs", "p", "--follow"},
                                        {"machine", "create", "--pool", "p"}}) {
    args.insert(args.begin(), {"--server", nowhere});
    auto r = run_cli(args);
    CHECK_OUTPUT(r, 3);
    CHECK(contains(r.err, "nullspace: cannot reach the server at " + nowhere));
  }
}

TEST_CASE("cli pools: update and logs", "[cli_pools]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  server_process d(dir, true, daemon_machine_flags(cli_pool_range));
  build_box(d);
  cleanup done{d, {}};
  auto created = ns(d, {"pool", "create", "--template", "box", "--name", "box-pool"});
  CHECK_OUTPUT(created, 0);
  REQUIRE(created.code == 0);

  auto updated = ns(d, {"pool", "update", "box-pool", "--max-ready", "3", "--min-ready", "2",
                        "--max-idle", "10m", "--json"});
  CHECK_OUTPUT(updated, 0);
  CHECK(json_u64(updated.out, "warm_pool.min_ready") == 2);
  CHECK(json_u64(updated.out, "warm_pool.max_ready") == 3);
  CHECK(json_u64(updated.out, "warm_pool.max_idle_ms") == 600000);
  CHECK_OUTPUT(ns(d, {"pool", "wait", "box-pool", "--timeout", "55s"}), 0);

  auto logs = ns(d, {"pool", "logs", "box-pool"});
  CHECK_OUTPUT(logs, 0);
  CHECK(!lines_of(logs.out).empty());
  auto logs_json = ns(d, {"pool", "logs", "box-pool", "--json"});
  CHECK_OUTPUT(logs_json, 0);
  for (auto& l : lines_of(logs_json.out)) CHECK(parses_as_json(l));

  // A followed log ends when the pool is deleted.
  cli_process follow({"--server", d.url(), "pool", "logs", "box-pool", "--follow"});
  REQUIRE(follow.read_until(" "));  // an entry: the stream is open
  CHECK_OUTPUT(ns(d, {"pool", "delete", "box-pool"}), 0);
  auto r = follow.finish();
  CHECK_OUTPUT(r, 0);
  CHECK(contains(r.out, "warm pool box-pool"));
  CHECK(contains(r.out, "(deleted)"));
}

// `nullspace machine …` end to end: the real CLI ($NULLSPACE_CLI) against a
// real nullspaced ($NULLSPACE_DAEMON) with sandbox isolation, a busybox
// template built through the CLI, and a real machine started from it:
// create, exec (exit codes, stdout and stderr apart, argv and shell forms,
// stdin, streaming), cp both ways, ls and get, pause and resume, timeout,
// logs, kill; and the errors: usage (2), refused (1), unreachable (3).
//
// Needs root and an OCI runtime (machines_unavailable() says why not, and
// the machine cases skip with it). Every wait is on a child's output or exit.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/api_fixture.hpp"
#include "tests/cli_support.hpp"
#include "tests/machine_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace::test;

namespace {

// This suite's machine addresses: not the engine tests' (10.86), the
// driver tests' (10.87) or a default daemon's (10.88).
const char* cli_machine_range = "10.85.0.0/16";

// Kills the machine when the test ends, passed or not, while the server runs.
struct machine_killer {
  const server_process& d;
  std::string id;
  ~machine_killer() {
    if (!id.empty()) ns(d, {"machine", "kill", id});
  }
};

// `nullspace machine exec ID -- argv…`
cli_result exec(const server_process& d, const std::string& id, std::vector<std::string> argv,
                std::vector<std::string> flags = {}, const run_options& o = {}) {
  std::vector<std::string> args{"machine", "exec", id};
  args.insert(args.end(), flags.begin(), flags.end());
  args.push_back("--");
  args.insert(args.end(), argv.begin(), argv.end());
  return ns(d, args, o);
}

}  // namespace

TEST_CASE("cli machines: create, exec, cp, ls, get, pause, resume, timeout, logs, kill",
          "[cli_machines]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  server_process d(dir, true, daemon_machine_flags(cli_machine_range));

  auto built = ns(d, {"template", "build", "--from-image", "busybox", "--name", "box", "--tag",
                      "latest", "--run", "mkdir -p /www && echo hello-from-box > /www/index.html",
                      "--runtime-env", "APP_ENV=demo", "--start-cmd",
                      "echo box-starting; exec httpd -f -p 8000 -h /www", "--ready-port", "8000"});
  CHECK_OUTPUT(built, 0);
  REQUIRE(built.code == 0);

  auto created = ns(d, {"machine", "create", "--template", "box", "--env", "GREETING=hi", "--label",
                        "team=infra", "--timeout", "20m"});
  CHECK_OUTPUT(created, 0);
  REQUIRE(created.code == 0);
  // stdout is the id alone; the state and ports go to stderr.
  REQUIRE(lines_of(created.out).size() == 1);
  auto id = lines_of(created.out)[0];
  machine_killer killer{d, id};
  CHECK(id.starts_with("m_"));
  CHECK(contains(created.err, "machine " + id + " ready: default/box@tb_"));
  CHECK(contains(created.err, "port 8000  " + d.url() + "/v1/machines/" + id + "/ports/8000/"));

  SECTION("exec: stdout and stderr apart, the exit code is the command's") {
    auto r = exec(d, id, {"sh", "-c", "echo $APP_ENV $GREETING; echo oops >&2; exit 3"});
    CHECK_OUTPUT(r, 3);
    CHECK(r.out == "demo hi\n");
    CHECK(r.err == "oops\n");
    auto ok = exec(d, id, {"true"});
    CHECK_OUTPUT(ok, 0);
    CHECK(ok.out.empty());
    CHECK(ok.err.empty());

    // Without --shell the words are argv, each as given: spaces, $, brackets
    // and commas stay in their word, an empty word stays a word.
    auto argv = exec(d, id, {"printf", "[%s]", "a b", "$HOME", "[x,y]", "", "--"});
    CHECK_OUTPUT(argv, 0);
    CHECK(argv.out == "[a b][$HOME][[x,y]][][--]");
    // With --shell they are one line for /bin/sh -c.
    auto line = exec(d, id, {"echo", "$((6 * 7))", "|", "tr", "4", "x"}, {"--shell"});
    CHECK_OUTPUT(line, 0);
    CHECK(line.out == "x2\n");

    auto where = exec(d, id, {"sh", "-c", "pwd; echo $X; id -u"},
                      {"--cwd", "/www", "--env", "X=from-flag", "--user", "0"});
    CHECK_OUTPUT(where, 0);
    CHECK(where.out == "/www\nfrom-flag\n0\n");

    // stdin that is not a terminal is the command's stdin.
    write_file(dir.sub("stdin.txt"), "line one\nline two\n");
    auto cat = exec(d, id, {"cat"}, {}, {.stdin_file = dir.sub("stdin.txt")});
    CHECK_OUTPUT(cat, 0);
    CHECK(cat.out == "line one\nline two\n");
    auto wc = exec(d, id, {"wc", "-l"}, {"--no-stdin"}, {.stdin_file = dir.sub("stdin.txt")});
    CHECK_OUTPUT(wc, 0);
    CHECK(wc.out == "0\n");

    auto json = exec(d, id, {"sh", "-c", "echo in-json; exit 2"}, {"--json"});
    CHECK_OUTPUT(json, 2);
    CHECK(parses_as_json(json.out));
    CHECK(json_str(json.out, "stdout") == "in-json\n");

    auto slow = exec(d, id, {"sleep", "600"}, {"--timeout", "300ms"});
    CHECK_OUTPUT(slow, 137);  // 128 + SIGKILL
    CHECK(contains(slow.err, "timed out"));

    auto missing = exec(d, id, {"/no/such/program"});
    CHECK_OUTPUT(missing, 127);
    CHECK(contains(missing.err, "nullspace: the command could not start"));
  }

  SECTION("exec --stream prints output while the command runs") {
    auto go = "/tmp/go-" + id;
    cli_process streamed({"--server", d.url(), "machine", "exec", id, "--stream", "--", "sh", "-c",
                          "echo first; echo to-stderr >&2; while [ ! -e " + go +
                              " ]; do sleep 0.05; done; echo second; exit 5"});
    // "first" arrives while the command still waits for the file.
    REQUIRE(streamed.read_until("first\n"));
    CHECK_OUTPUT(exec(d, id, {"touch", go}), 0);
    auto r = streamed.finish();
    CHECK_OUTPUT(r, 5);
    CHECK(r.out == "first\nsecond\n");
    CHECK(r.err == "to-stderr\n");
  }

  SECTION("cp: both ways, bytes and permission bits kept") {
    std::string bytes;
    for (int round = 0; round < 64; ++round)
      for (int b = 0; b < 256; ++b) bytes.push_back(static_cast<char>(b));
    write_file(dir.sub("data.bin"), bytes);
    CHECK_OUTPUT(ns(d, {"machine", "cp", dir.sub("data.bin"), id + ":/tmp/data.bin"}), 0);
    auto size = exec(d, id, {"stat", "-c", "%s", "/tmp/data.bin"});
    CHECK(size.out == std::to_string(bytes.size()) + "\n");
    CHECK_OUTPUT(ns(d, {"machine", "cp", id + ":/tmp/data.bin", dir.sub("back.bin")}), 0);
    CHECK(read_file(dir.sub("back.bin")) == bytes);

    // An executable stays executable.
    write_file(dir.sub("tool.sh"), "#!/bin/sh\necho tool-ran \"$@\"\n");
    REQUIRE(chmod(dir.sub("tool.sh").c_str(), 0750) == 0);
    // A path ending in / gets the local file's name.
    CHECK_OUTPUT(ns(d, {"machine", "cp", dir.sub("tool.sh"), id + ":/tmp/"}), 0);
    auto mode = exec(d, id, {"stat", "-c", "%a", "/tmp/tool.sh"});
    CHECK(mode.out == "750\n");
    auto ran = exec(d, id, {"/tmp/tool.sh", "x"});
    CHECK_OUTPUT(ran, 0);
    CHECK(ran.out == "tool-ran x\n");

    // Into a local directory, and "-" for stdin and stdout.
    std::filesystem::create_directories(dir.sub("into"));
    CHECK_OUTPUT(ns(d, {"machine", "cp", id + ":/www/index.html", dir.sub("into")}), 0);
    CHECK(read_file(dir.sub("into/index.html")) == "hello-from-box\n");
    write_file(dir.sub("piped.txt"), "through stdin\n");
    CHECK_OUTPUT(
        ns(d, {"machine", "cp", "-", id + ":/tmp/piped.txt"}, {.stdin_file = dir.sub("piped.txt")}),
        0);
    auto out = ns(d, {"machine", "cp", id + ":/tmp/piped.txt", "-"});
    CHECK_OUTPUT(out, 0);
    CHECK(out.out == "through stdin\n");

    // A file that is not there: the server's message, exit 1.
    auto gone = ns(d, {"machine", "cp", id + ":/tmp/no-such-file", dir.sub("x")});
    CHECK_OUTPUT(gone, 1);
    CHECK(gone.err.starts_with("nullspace: "));
    CHECK_FALSE(std::filesystem::exists(dir.sub("x")));
  }

  SECTION("create's flags reach the machine") {
    auto second =
        ns(d, {"machine", "create", "--template", "box", "--no-wait", "--cpu", "1", "--memory-mb",
               "256", "--no-internet", "--label", "role=second", "--json"});
    CHECK_OUTPUT(second, 0);
    REQUIRE(parses_as_json(second.out));
    auto second_id = json_str(second.out, "machine.id");
    machine_killer second_killer{d, second_id};
    CHECK(second_id.starts_with("m_"));
    CHECK(json_str(second.out, "machine.state") == "starting");  // --no-wait
    CHECK(json_u64(second.out, "machine.resources.cpu_count") == 1);
    CHECK(json_u64(second.out, "machine.resources.memory_mb") == 256);
    CHECK(contains(second.out, "\"internet_access\":false"));
    CHECK(contains(second.out, "\"labels\":{\"role\":\"second\"}"));
    // Both are listed; the label tells them apart.
    auto both = ns(d, {"machine", "ls"});
    CHECK(contains(both.out, id));
    CHECK(contains(both.out, second_id));
    auto only = ns(d, {"machine", "ls", "--label", "role=second"});
    CHECK(contains(only.out, second_id));
    CHECK_FALSE(contains(only.out, id));
  }

  SECTION("ls, get, pause, resume, timeout, logs, kill") {
    auto ls = ns(d, {"machine", "ls"});
    CHECK_OUTPUT(ls, 0);
    CHECK(ls.out.starts_with("ID"));
    CHECK(contains(ls.out, id));
    CHECK(contains(ls.out, "team=infra"));
    auto ls_json = ns(d, {"machine", "ls", "--json"});
    CHECK_OUTPUT(ls_json, 0);
    CHECK(parses_as_json(ls_json.out));
    CHECK(contains(ls_json.out, "\"id\":\"" + id + "\""));
    CHECK(contains(ns(d, {"machine", "ls", "--label", "team=infra"}).out, id));
    CHECK(contains(ns(d, {"machine", "ls", "--label", "team"}).out, id));
    CHECK_FALSE(contains(ns(d, {"machine", "ls", "--label", "team=other"}).out, id));
    CHECK(contains(ns(d, {"machine", "ls", "--state", "ready"}).out, id));
    CHECK_FALSE(contains(ns(d, {"machine", "ls", "--state", "stopped"}).out, id));
    CHECK(contains(ns(d, {"machine", "ls", "--template", "box"}).out, id));

    auto get = ns(d, {"machine", "get", id});
    CHECK_OUTPUT(get, 0);
    CHECK(row(get.out, "machine") == id);
    CHECK(row(get.out, "state") == "ready");
    CHECK(row(get.out, "envs") == "GREETING");  // names only: values are never kept
    CHECK(row(get.out, "labels") == "team=infra");
    CHECK(row(get.out, "ports") == "8000  " + d.url() + "/v1/machines/" + id + "/ports/8000/");
    auto get_json = ns(d, {"machine", "get", id, "--json"});
    CHECK_OUTPUT(get_json, 0);
    CHECK(json_str(get_json.out, "machine.id") == id);
    CHECK(json_str(get_json.out, "machine.state") == "ready");
    CHECK_FALSE(contains(get_json.out, "\"hi\""));

    auto paused = ns(d, {"machine", "pause", id});
    CHECK_OUTPUT(paused, 0);
    CHECK(paused.out.starts_with("machine " + id + " paused"));
    CHECK(json_str(ns(d, {"machine", "get", id, "--json"}).out, "machine.state") == "paused");
    auto frozen = exec(d, id, {"true"});
    CHECK_OUTPUT(frozen, 1);  // refused, with the server's reason
    CHECK(contains(frozen.err, "nullspace: machine " + id + " is paused"));
    auto resumed = ns(d, {"machine", "resume", id});
    CHECK_OUTPUT(resumed, 0);
    CHECK(contains(resumed.out, "machine " + id + " ready"));
    CHECK_OUTPUT(exec(d, id, {"true"}), 0);

    auto before = json_str(get_json.out, "machine.timeout_at");
    auto moved = ns(d, {"machine", "timeout", id, "2h"});
    CHECK_OUTPUT(moved, 0);
    CHECK(contains(moved.out, "machine " + id + " stops at 20"));
    auto after = json_str(ns(d, {"machine", "get", id, "--json"}).out, "machine.timeout_at");
    CHECK(after > before);  // 2 h from now is later than 20 min from the start

    auto logs = ns(d, {"machine", "logs", id});
    CHECK_OUTPUT(logs, 0);
    CHECK(contains(logs.out, "box-starting"));
    auto logs_json = ns(d, {"machine", "logs", id, "--json"});
    CHECK_OUTPUT(logs_json, 0);
    REQUIRE_FALSE(lines_of(logs_json.out).empty());
    for (auto& l : lines_of(logs_json.out)) CHECK(parses_as_json(l));

    // A follower sees the machine end, then exits 0 (stopped, not failed).
    cli_process follower({"--server", d.url(), "machine", "logs", id, "--follow"});
    REQUIRE(follower.read_until("box-starting"));
    auto killed = ns(d, {"machine", "kill", id});
    CHECK_OUTPUT(killed, 0);
    CHECK(killed.out == "machine " + id + " stopped (deleted)\n");
    auto followed = follower.finish();
    CHECK_OUTPUT(followed, 0);
    CHECK(lines_of(followed.out).back() == "machine " + id + " stopped (deleted)");

    auto stopped = ns(d, {"machine", "get", id, "--json"});
    CHECK(json_str(stopped.out, "machine.state") == "stopped");
    CHECK(json_str(stopped.out, "machine.stop_reason") == "deleted");
    CHECK(contains(ns(d, {"machine", "ls", "--state", "stopped"}).out, id));
    // A stopped machine runs nothing: refused, with the server's reason.
    auto refused = exec(d, id, {"true"});
    CHECK_OUTPUT(refused, 1);
    CHECK(refused.err.starts_with("nullspace: "));
    killer.id.clear();
  }
}

TEST_CASE("cli machines: an unknown machine is refused with the server's message",
          "[cli_machines]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  server_process d(dir, true, daemon_machine_flags(cli_machine_range));
  const std::string unknown = "m_00000000000000000000000";
  std::vector<std::vector<std::string>> cases = {
      {"machine", "get", unknown},
      {"machine", "exec", unknown, "--", "true"},
      {"machine", "exec", unknown, "--stream", "--", "true"},
      {"machine", "cp", unknown + ":/etc/hostname", dir.sub("hostname")},
      {"machine", "logs", unknown},
      {"machine", "pause", unknown},
      {"machine", "resume", unknown},
      {"machine", "timeout", unknown, "5m"},
      {"machine", "kill", unknown},
      {"machine", "get", "not-a-machine-id"},
      {"machine", "create", "--template", "no-such-template"},
  };
  for (auto& args : cases) {
    INFO("args: " << [&] {
      std::string s;
      for (auto& a : args) s += a + " ";
      return s;
    }());
    auto r = ns(d, args);
    CHECK_OUTPUT(r, 1);
    CHECK(r.err.starts_with("nullspace: "));
    CHECK(lines_of(r.err).size() == 1);
    CHECK(r.out.empty());
  }
  auto get = ns(d, {"machine", "get", unknown});
  CHECK(contains(get.err, unknown));
  auto ls = ns(d, {"machine", "ls"});
  CHECK_OUTPUT(ls, 0);
  CHECK(lines_of(ls.out).size() == 1);  // the header only
}

TEST_CASE("cli machines: usage errors exit 2 before any request; unreachable exits 3",
          "[cli_machines]") {
  temp_dir dir;
  // Nothing listens there: a usage error must come first.
  std::string nowhere = "http://127.0.0.1:" + std::to_string(closed_port());
  std::filesystem::create_directories(dir.sub("a-dir"));
  write_file(dir.sub("binary"), std::string("\xff\xfe\x00\x01", 4));
  const std::string m = "m_0123abcd";
  std::vector<std::vector<std::string>> cases = {
      {"machine"},
      {"machine", "exec", m},
      {"machine", "exec", m, "--"},
      {"machine", "exec", m, "ls"},
      {"machine", "exec", m, "--stream", "--json", "--", "ls"},
      {"machine", "exec", m, "--cwd", "relative/dir", "--", "ls"},
      {"machine", "exec", m, "--env", "NO_EQUALS_SIGN", "--", "ls"},
      {"machine", "exec", m, "--timeout", "5parsecs", "--", "ls"},
      {"machine", "exec", m, "--timeout", "0", "--", "ls"},
      {"machine", "create"},
      {"machine", "create", "--template", "box", "--timeout", "soon"},
      {"machine", "create", "--template", "box", "--env", "=value"},
      {"machine", "create", "--template", "box", "--label", "no-value"},
      {"machine", "create", "--template", "box", "--cpu", "0"},
      {"machine", "create", "--template", "box", "--memory-mb", "lots"},
      {"machine", "ls", "--state", "sleepy"},
      {"machine", "ls", "--label", "=v"},
      {"machine", "get"},
      {"machine", "logs", m, "--offset", "-1"},
      {"machine", "timeout", m},
      {"machine", "timeout", m, "-5m"},
      {"machine", "timeout", m, "1x"},
      {"machine", "cp", dir.sub("a"), dir.sub("b")},
      {"machine", "cp", m + ":/a", m + ":/b"},
      {"machine", "cp", dir.sub("missing-file"), m + ":/tmp/x"},
      {"machine", "cp", dir.sub("a-dir"), m + ":/tmp/x"},
      {"machine", "cp", m + ":relative/path", dir.sub("x")},
      {"machine", "cp", m + ":/tmp/", dir.sub("x")},
      {"machine", "cp", "-", m + ":/tmp/"},
      {"machine", "cp", m + ":/etc/hostname", dir.sub("no-such-dir/x")},
      {"machine", "frobnicate"},
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
  // The message says how to write it.
  auto no_dashes = run_cli({"--server", nowhere, "machine", "exec", m, "ls"});
  CHECK(contains(no_dashes.err, "nullspace machine exec " + m + " -- ls"));
  // stdin that is not text cannot go into the JSON request.
  auto binary = run_cli({"--server", nowhere, "machine", "exec", m, "--", "cat"},
                        {.stdin_file = dir.sub("binary")});
  CHECK_OUTPUT(binary, 2);
  CHECK(contains(binary.err, "machine cp"));

  auto help = run_cli({"machine", "exec", "--help"});
  CHECK_OUTPUT(help, 0);
  CHECK(contains(help.out, "--stream"));

  for (std::vector<std::string> args : {std::vector<std::string>{"machine", "get", m},
                                        {"machine", "exec", m, "--", "true"},
                                        {"machine", "exec", m, "--stream", "--", "true"},
                                        {"machine", "logs", m, "--follow"},
                                        {"machine", "create", "--template", "box"}}) {
    args.insert(args.begin(), {"--server", nowhere});
    auto r = run_cli(args);
    CHECK_OUTPUT(r, 3);
    CHECK(contains(r.err, "nullspace: cannot reach the server at " + nowhere));
  }
}

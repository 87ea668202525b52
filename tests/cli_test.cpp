// The `nullspace` command-line client end to end: the real binary
// ($NULLSPACE_CLI) against a real nullspaced ($NULLSPACE_DAEMON) on a loopback
// port with a fresh data dir. Covers the product docs' CLI lines, background
// builds and wait, retries with secrets, redaction, exit codes, log offsets,
// piped and JSON output, a log stream resumed across a server restart, and
// the template registry commands. The machine commands are in
// cli_machine_test.cpp; the helpers in cli_support.hpp.
//
// Builds from python_image / Dockerfiles run in the sandbox and skip with the
// reason where it cannot run; the rest use --isolation host. Every wait is on
// a child's output or exit, never on a clock.
#include <catch2/catch.hpp>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/api_fixture.hpp"
#include "tests/cli_support.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace::test;

TEST_CASE("cli: the product docs' python-image lines build, in the foreground and background",
          "[cli]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  server_process d(dir, true);

  auto stable = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "my-template",
                       "--tag", "stable", "--cpu-count", "4", "--memory-mb", "2048"});
  CHECK_OUTPUT(stable, 0);
  CHECK(stable.out.find("==> step") == std::string::npos);  // no steps: base and artifact only
  CHECK(stable.out.find("--> build ready") != std::string::npos);
  auto last = lines_of(stable.out).back();
  CHECK(last.starts_with("build tb_"));
  CHECK(last.find("ready: default/my-template@tb_") != std::string::npos);
  auto id = build_id(stable.out);
  auto st = ns(d, {"template", "status", id, "--json"});
  CHECK_OUTPUT(st, 0);
  CHECK(json_str(st.out, "build.status") == "ready");
  CHECK(st.out.find("\"cpu_count\":4") != std::string::npos);
  CHECK(st.out.find("\"memory_mb\":2048") != std::string::npos);
  CHECK(st.out.find("\"tags\":[\"stable\"]") != std::string::npos);

  auto offline = ns(d, {"template", "build", "--from-python-image", "3.11", "--name",
                        "offline-template", "--no-internet-access"});
  CHECK_OUTPUT(offline, 0);
  auto off = ns(d, {"template", "status", build_id(offline.out), "--json"});
  CHECK(off.out.find("\"internet_access\":false") != std::string::npos);

  // A step that would need the network fails without it.
  auto no_net =
      ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "offline2",
             "--no-internet-access", "--run",
             "python3 -c \"import socket; socket.create_connection(('1.1.1.1', 53), 3)\""});
  CHECK_OUTPUT(no_net, 1);

  auto bg = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "my-template",
                   "--tag", "next", "--background"});
  CHECK_OUTPUT(bg, 0);
  auto bg_id = lines_of(bg.out).at(0);
  CHECK(bg_id == build_id(bg_id));  // stdout is the id alone
  auto waited = ns(d, {"template", "wait", bg_id, "--poll-interval-ms", "500"});
  CHECK_OUTPUT(waited, 0);
  CHECK(waited.out.find("build " + bg_id + " ready") != std::string::npos);
  auto waited_json = ns(d, {"template", "wait", bg_id, "--json"});
  CHECK_OUTPUT(waited_json, 0);
  CHECK(parses_as_json(waited_json.out));
  CHECK(json_str(waited_json.out, "build.status") == "ready");
}

TEST_CASE("cli: --from-dockerfile uploads its directory without what .dockerignore excludes",
          "[cli]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  server_process d(dir, true);
  const std::string canary = "ignored-canary-5f1e0c7b";
  auto ctx = dir.sub("ctx");
  std::filesystem::create_directories(ctx + "/app");
  write_file(ctx + "/Dockerfile",
             "FROM busybox\nCOPY app/ /srv/app\nRUN ls /srv/app && cat /srv/app/main.py\n");
  write_file(ctx + "/app/main.py", "print('hello from the context')\n");
  write_file(ctx + "/app/notes.secret", canary + "\n");
  write_file(ctx + "/.dockerignore", "# not for the server\n*/*.secret\n");

  auto r =
      ns(d, {"template", "build", "--from-dockerfile", "./Dockerfile", "--name", "docker-template"},
         {.cwd = ctx});
  CHECK_OUTPUT(r, 0);
  CHECK(r.out.find("main.py") != std::string::npos);
  CHECK(r.out.find("print('hello from the context')") != std::string::npos);
  CHECK(r.out.find("notes.secret") == std::string::npos);
  CHECK(r.err.find("1 excluded by .dockerignore") != std::string::npos);
  // The ignored file never reached the server: not in any stored context.
  CHECK(files_containing(d.data_dir(), canary).empty());

  // --backend native is refused for a Dockerfile (a 400: exit 1).
  auto native = ns(d, {"template", "build", "--from-dockerfile", ctx + "/Dockerfile", "--name",
                       "docker-template", "--backend", "native"});
  CHECK_OUTPUT(native, 1);
  CHECK(native.err.find("nullspace: Dockerfile builds use BuildKit") != std::string::npos);
}

TEST_CASE("cli: a context's symlinks are packed as links, sockets and fifos skipped by name",
          "[cli]") {
  // The issue's case: a Dockerfile in a directory holding other things, among
  // them a link into /dev. Nothing is followed: /dev is one link, not a walk.
  REQUIRE_SANDBOX();
  temp_dir dir;
  server_process d(dir, true);
  auto ctx = dir.sub("ctx");
  namespace fs = std::filesystem;
  fs::create_directories(ctx + "/app");
  write_file(ctx + "/Dockerfile",
             "FROM busybox\nCOPY . /ctx\n"
             "RUN for l in abs devices app/err; do test -L /ctx/$l && k=link || k=not-a-link; "
             "echo \"$l $k -> $(readlink /ctx/$l)\"; done; ls -a /ctx /ctx/app\n");
  write_file(ctx + "/app/hello.txt", "hello\n");
  fs::create_symlink("/etc/hostname", ctx + "/abs");  // absolute, outside the context
  fs::create_symlink("/dev", ctx + "/devices");       // a tree that cannot be read as files
  fs::create_symlink("/dev/stderr", ctx + "/app/err");
  REQUIRE(mkfifo((ctx + "/pipe").c_str(), 0600) == 0);
  int sock = socket(AF_UNIX, SOCK_STREAM, 0);
  REQUIRE(sock >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  auto sock_path = ctx + "/app/sock";
  REQUIRE(sock_path.size() < sizeof addr.sun_path);
  std::strcpy(addr.sun_path, sock_path.c_str());
  REQUIRE(bind(sock, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  auto r =
      ns(d, {"template", "build", "--from-dockerfile", ctx + "/Dockerfile", "--name", "links"});
  close(sock);
  CHECK_OUTPUT(r, 0);
  CHECK(r.err.find("warning: pipe is a fifo: not sent") != std::string::npos);
  CHECK(r.err.find("warning: app/sock is a socket: not sent") != std::string::npos);
  CHECK(r.err.find("build context: 2 files") != std::string::npos);  // Dockerfile, hello.txt
  // In the image the links are links, pointing where they pointed.
  CHECK(r.out.find("copied 2 files") != std::string::npos);
  CHECK(r.out.find("3 symlinks") != std::string::npos);
  CHECK(r.out.find("abs link -> /etc/hostname") != std::string::npos);
  CHECK(r.out.find("devices link -> /dev") != std::string::npos);
  CHECK(r.out.find("app/err link -> /dev/stderr") != std::string::npos);
  CHECK(r.out.find("hello.txt") != std::string::npos);
  CHECK(r.out.find("pipe") == std::string::npos);
  CHECK(r.out.find("sock") == std::string::npos);
}

TEST_CASE("cli: a large build context is announced, with a .dockerignore hint, before packing",
          "[cli]") {
  temp_dir dir;
  server_process d(dir, false);
  auto ctx = dir.sub("big");
  std::filesystem::create_directories(ctx + "/many");
  write_file(ctx + "/Dockerfile", "FROM busybox\nCOPY many/ /many\n");
  for (int i = 0; i <= 10000; ++i) std::ofstream(ctx + "/many/f" + std::to_string(i));
  auto big = ns(d, {"template", "build", "--from-dockerfile", ctx + "/Dockerfile", "--name", "big",
                    "--dry-run"});
  CHECK_OUTPUT(big, 0);
  CHECK(big.err.find("build context " + ctx + ": 10002 files, 0.0 MB") != std::string::npos);
  CHECK(big.err.find("A .dockerignore next to the Dockerfile") != std::string::npos);

  write_file(ctx + "/.dockerignore", "many/\n");
  auto small = ns(d, {"template", "build", "--from-dockerfile", ctx + "/Dockerfile", "--name",
                      "big", "--dry-run"});
  CHECK_OUTPUT(small, 0);
  CHECK(small.err.find(".dockerignore next to") == std::string::npos);
}

TEST_CASE("cli: Dockerfile secrets, redacted everywhere, and a retry that needs them again",
          "[cli]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  server_process d(dir, true);
  const std::string canary = "npm-canary-7c1d9a2e4b";
  auto ctx = dir.sub("ctx");
  std::filesystem::create_directories(ctx);
  // The step prints the secret: whatever the server's log holds, the CLI
  // must not show it.
  write_file(ctx + "/Dockerfile",
             "FROM busybox\nRUN --mount=type=secret,id=npm_token echo \"token=$(cat "
             "/run/secrets/npm_token)\" && echo bytes=$(wc -c < /run/secrets/npm_token)\n");
  run_options with_token{.env = {"NPM_TOKEN=" + canary}, .cwd = ctx};

  auto r = ns(d,
              {"template", "build", "--from-dockerfile", "./Dockerfile", "--name", "private-npm",
               "--build-secret-env", "npm_token=NPM_TOKEN"},
              with_token);
  CHECK_OUTPUT(r, 0);
  CHECK(r.out.find("bytes=" + std::to_string(canary.size())) != std::string::npos);
  CHECK(r.out.find(canary) == std::string::npos);
  CHECK(r.err.find(canary) == std::string::npos);
  auto id = build_id(r.out);
  REQUIRE(!id.empty());

  for (auto& args : std::vector<std::vector<std::string>>{{"template", "logs", id},
                                                          {"template", "logs", id, "--json"},
                                                          {"template", "status", id, "--json"}}) {
    auto again = ns(d, args, with_token);
    CHECK_OUTPUT(again, 0);
    CHECK(again.out.find(canary) == std::string::npos);
  }

  // Without the secret the retry is refused, naming its id.
  auto refused = ns(d, {"template", "retry", id}, with_token);
  CHECK_OUTPUT(refused, 1);
  CHECK(refused.err.find("npm_token") != std::string::npos);
  CHECK(refused.err.starts_with("nullspace: "));

  auto retried =
      ns(d, {"template", "retry", id, "--build-secret-env", "npm_token=NPM_TOKEN"}, with_token);
  CHECK_OUTPUT(retried, 0);
  CHECK(retried.out.find("--> build ready") != std::string::npos);
  CHECK(retried.out.find(canary) == std::string::npos);
  CHECK(retried.err.find(canary) == std::string::npos);
  CHECK(build_id(retried.out) != id);

  // From a file, in the background, then followed.
  write_file(dir.sub("token"), canary);
  auto bg = ns(d,
               {"template", "retry", id, "--build-secret-file", "npm_token=" + dir.sub("token"),
                "--background", "--json"},
               with_token);
  CHECK_OUTPUT(bg, 0);
  CHECK(json_str(bg.out, "build.retry_of") == id);
  auto followed = ns(d, {"template", "logs", json_str(bg.out, "build.id"), "--follow"});
  CHECK_OUTPUT(followed, 0);
  CHECK(followed.out.find(canary) == std::string::npos);

  // The env var must be set: a usage error naming it, before any request.
  auto unset = ns(d, {"template", "retry", id, "--build-secret-env", "npm_token=NO_SUCH_VAR_X"});
  CHECK_OUTPUT(unset, 2);
  CHECK(unset.err.find("NO_SUCH_VAR_X") != std::string::npos);
}

TEST_CASE("cli: --dry-run and --render never show secret values", "[cli]") {
  temp_dir dir;
  server_process d(dir, false);
  const std::string env_canary = "env-canary-31f9c0aa";
  const std::string file_canary = "file-canary-8d27e61b";
  const std::string pw_canary = "registry-pw-canary-55ab";
  write_file(dir.sub("secret-file"), file_canary + "\n");
  auto ctx = dir.sub("ctx");
  std::filesystem::create_directories(ctx);
  write_file(ctx + "/Dockerfile",
             "FROM busybox\nRUN --mount=type=secret,id=tok --mount=type=secret,id=f cat "
             "/run/secrets/tok\n");
  run_options o{.env = {"TOK=" + env_canary, "REG_PW=" + pw_canary}};
  auto no_canary = [&](const cli_result& r) {
    for (auto* c : {&env_canary, &file_canary, &pw_canary}) {
      CHECK(r.out.find(*c) == std::string::npos);
      CHECK(r.err.find(*c) == std::string::npos);
    }
  };

  SECTION("a valid Dockerfile request: rendered, validated and planned") {
    std::vector<std::string> args{"template",
                                  "build",
                                  "--from-dockerfile",
                                  ctx + "/Dockerfile",
                                  "--name",
                                  "private-npm",
                                  "--build-secret-env",
                                  "tok=TOK",
                                  "--build-secret-file",
                                  "f=" + dir.sub("secret-file"),
                                  "--dry-run",
                                  "--render"};
    auto human = ns(d, args, o);
    CHECK_OUTPUT(human, 0);
    no_canary(human);
    CHECK(human.out.find("\"value\": \"***\"") != std::string::npos);
    CHECK(human.out.find("valid: nothing was started") != std::string::npos);
    CHECK(human.out.find("run cat /run/secrets/tok") != std::string::npos);

    args.push_back("--json");
    auto json = ns(d, args, o);
    CHECK_OUTPUT(json, 0);
    no_canary(json);
    REQUIRE(parses_as_json(json.out));
    CHECK(json.out.find("\"validation\":{\"valid\":true") != std::string::npos);
    CHECK(json_str(json.out, "plan.backend") == "buildkit");
    CHECK(json_str(json.out, "request.builder.source.type") == "dockerfile");

    // --render alone needs no server at all.
    auto render = run_cli({"--server", "http://127.0.0.1:" + std::to_string(closed_port()),
                           "template", "build", "--from-dockerfile", ctx + "/Dockerfile", "--name",
                           "x", "--build-secret-env", "tok=TOK", "--render", "--json"},
                          o);
    CHECK_OUTPUT(render, 0);
    no_canary(render);
    REQUIRE(parses_as_json(render.out));
    CHECK(render.out.find("{\"id\":\"tok\",\"value\":\"***\",\"source\":\"env\"}") !=
          std::string::npos);
    CHECK(json_str(render.out, "builder.source.context").starts_with("bc_"));

    // Build args and the target stage go into the request as they are.
    auto with_args =
        run_cli({"--server", "http://127.0.0.1:" + std::to_string(closed_port()), "template",
                 "build", "--from-dockerfile", ctx + "/Dockerfile", "--name", "x", "--build-arg",
                 "V=1.2", "--build-arg", "EMPTY=", "--target", "release", "--render", "--json"},
                o);
    CHECK_OUTPUT(with_args, 0);
    CHECK(with_args.out.find(R"("build_args":{"V":"1.2","EMPTY":""},"target":"release")") !=
          std::string::npos);
    auto misplaced = run_cli(
        {"--server", "http://127.0.0.1:" + std::to_string(closed_port()), "template", "build",
         "--from-image", "busybox", "--name", "x", "--build-arg", "V=1", "--render"},
        o);
    CHECK_OUTPUT(misplaced, 2);
  }

  SECTION("an invalid request (secrets with the native backend): exit 1, still redacted") {
    auto r =
        ns(d,
           {"template", "build", "--from-image", "registry.example/team/app:1",
            "--registry-username", "robot", "--registry-password-env", "REG_PW",
            "--build-secret-env", "tok=TOK", "--build-secret-file", "f=" + dir.sub("secret-file"),
            "--backend", "native", "--name", "x", "--dry-run", "--render"},
           o);
    CHECK_OUTPUT(r, 1);
    no_canary(r);
    CHECK(r.out.find("\"password\": \"***\"") != std::string::npos);
    CHECK(r.err.find("build_secrets") != std::string::npos);
    CHECK(r.err.find("not valid") != std::string::npos);
  }
}

TEST_CASE("cli: exit codes: 1 failed or cancelled, 2 usage, 3 unreachable or unauthenticated",
          "[cli]") {
  temp_dir dir;

  SECTION("1: a RUN that fails, and a cancelled build") {
    server_process d(dir, false);
    auto failed = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "broken",
                         "--run", "echo about-to-fail; exit 7"});
    CHECK_OUTPUT(failed, 1);
    CHECK(failed.out.find("about-to-fail") != std::string::npos);
    CHECK(failed.err.find("nullspace: build tb_") != std::string::npos);
    CHECK(failed.err.find("failed: step_failed") != std::string::npos);

    auto bg = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "slow", "--run",
                     "sleep 600", "--background"});
    CHECK_OUTPUT(bg, 0);
    auto id = lines_of(bg.out).at(0);
    auto cancel = ns(d, {"template", "cancel", id, "--reason", "superseded"});
    CHECK_OUTPUT(cancel, 0);
    CHECK(cancel.out.find("cancelled: superseded") != std::string::npos);
    auto waited = ns(d, {"template", "wait", id, "--poll-interval-ms", "50"});
    CHECK_OUTPUT(waited, 1);
    CHECK(waited.err.find("cancelled") != std::string::npos);
    auto followed = ns(d, {"template", "logs", id, "--follow"});
    CHECK_OUTPUT(followed, 1);
    CHECK(followed.out.find("superseded") != std::string::npos);
    auto again = ns(d, {"template", "cancel", id});  // 409: already cancelled
    CHECK_OUTPUT(again, 1);
    CHECK(again.err.find("already cancelled") != std::string::npos);
    auto missing = ns(d, {"template", "status", "tb_00000000000000000000000"});
    CHECK_OUTPUT(missing, 1);
  }

  SECTION("2: bad flags and bad inputs, found before any request") {
    // Nothing listens there: a usage error must come first.
    std::string nowhere = "http://127.0.0.1:" + std::to_string(closed_port());
    write_file(dir.sub("Dockerfile"), "FROM busybox\n");
    std::vector<std::vector<std::string>> cases = {
        {"template", "build", "--name", "x"},
        {"template", "build", "--from-python-image", "3.11", "--from-image", "busybox", "--name",
         "x"},
        {"template", "build", "--from-python-image", "3.11"},
        {"template", "build", "--from-python-image", "3.11", "--name", "x", "--backend", "magic"},
        {"template", "build", "--from-python-image", "3.11", "--name", "x", "--no-such-flag"},
        {"template", "build", "--from-python-image", "3.11", "--name", "x", "--cpu-count", "0"},
        {"template", "build", "--from-dockerfile", dir.sub("nonexistent/Dockerfile"), "--name",
         "x"},
        {"template", "build", "--from-dockerfile", dir.path(), "--name", "x"},
        {"template", "build", "--from-dockerfile", dir.sub("Dockerfile"), "--name", "x",
         "--build-secret-env", "tok=NO_SUCH_VARIABLE_Q"},
        {"template", "build", "--from-dockerfile", dir.sub("Dockerfile"), "--name", "x",
         "--build-secret-env", "no-equals-sign"},
        {"template", "build", "--from-dockerfile", dir.sub("Dockerfile"), "--name", "x",
         "--build-secret-file", "f=" + dir.sub("missing-file")},
        {"template", "build", "--from-python-image", "3.11", "--name", "x", "--registry-username",
         "u"},
        {"template", "build", "--from-python-image", "3.11", "--name", "x", "--ready-port", "80"},
        {"template", "build", "--from-python-image", "3.11", "--name", "x", "--background",
         "--dry-run"},
        {"template", "wait", "tb_x", "--poll-interval-ms", "0"},
        {"template", "wait"},
        {"template", "builds", "web", "--tagged", "--untagged"},
        {"template", "visibility", "web", "secret"},
        {"template", "promote", "tb_x"},
        {"template"},
        {},
    };
    for (auto& args : cases) {
      auto with_server = args;
      with_server.insert(with_server.begin(), {"--server", nowhere});
      auto r = run_cli(with_server);
      INFO("args: " << [&] {
        std::string s;
        for (auto& a : args) s += a + " ";
        return s;
      }());
      CHECK_OUTPUT(r, 2);
      CHECK(r.err.starts_with("nullspace: "));
    }
    auto unset = run_cli({"--server", nowhere, "template", "build", "--from-dockerfile",
                          dir.sub("Dockerfile"), "--name", "x", "--build-secret-env",
                          "tok=NO_SUCH_VARIABLE_Q"});
    CHECK(unset.err.find("NO_SUCH_VARIABLE_Q") != std::string::npos);
    CHECK(unset.err.find("'tok'") != std::string::npos);

    auto help = run_cli({"template", "build", "--help"});
    CHECK_OUTPUT(help, 0);
    CHECK(help.out.find("--from-dockerfile") != std::string::npos);
  }

  SECTION("3: nothing listening, and a wrong or missing API key") {
    auto nowhere = "http://127.0.0.1:" + std::to_string(closed_port());
    auto r = run_cli({"--server", nowhere, "template", "status", "tb_x"});
    CHECK_OUTPUT(r, 3);
    CHECK(r.err.find("nullspace: cannot reach the server at " + nowhere) != std::string::npos);
    auto env = run_cli({"template", "logs", "tb_x"}, {.env = {"NULLSPACE_SERVER=" + nowhere}});
    CHECK_OUTPUT(env, 3);
    // NULLSPACE_API_URL (the SDK's name) wins over the older NULLSPACE_SERVER.
    auto api_url =
        run_cli({"template", "logs", "tb_x"},
                {.env = {"NULLSPACE_API_URL=" + nowhere, "NULLSPACE_SERVER=http://127.0.0.1:1"}});
    CHECK_OUTPUT(api_url, 3);
    CHECK(api_url.err.find("cannot reach the server at " + nowhere) != std::string::npos);
    auto build = run_cli(
        {"--server", nowhere, "template", "build", "--from-python-image", "3.11", "--name", "x"});
    CHECK_OUTPUT(build, 3);

    const std::string key = "right-key-0c9f2b7d6e5a";
    const std::string wrong = "wrong-key-7e6d5c4b3a21";
    write_file(dir.sub("keys"), key + " acme\n");
    server_process d(dir, false, {"--api-keys", dir.sub("keys")});
    auto bad = ns(d, {"--api-key", wrong, "template", "status", "tb_x"});
    CHECK_OUTPUT(bad, 3);
    CHECK(bad.err.find(wrong) == std::string::npos);
    CHECK(bad.out.find(wrong) == std::string::npos);
    auto none = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "x"});
    CHECK_OUTPUT(none, 3);
    auto bad_env = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "x"},
                      {.env = {"NULLSPACE_API_KEY=" + wrong}});
    CHECK_OUTPUT(bad_env, 3);

    auto ok = ns(d,
                 {"template", "build", "--from-python-image", "3.11", "--name", "keyed", "--run",
                  "echo with-a-key"},
                 {.env = {"NULLSPACE_API_KEY=" + key}});
    CHECK_OUTPUT(ok, 0);
    CHECK(ok.out.find("(acme/keyed)") != std::string::npos);
    CHECK(ok.out.find(key) == std::string::npos);
    CHECK(ok.err.find(key) == std::string::npos);
    auto via_flag = ns(d, {"template", "status", build_id(ok.out), "--api-key", key});
    CHECK_OUTPUT(via_flag, 0);
  }
}

TEST_CASE("cli: piped and JSON output, logs --offset", "[cli]") {
  temp_dir dir;
  server_process d(dir, false);
  auto r = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "plain", "--run",
                  "echo first-line", "--run", "echo second-line >&2", "--run",
                  "printf '\\033[1mbold\\033[0m and plain\\n'"});
  CHECK_OUTPUT(r, 0);
  CHECK(r.out.find('\x1b') == std::string::npos);  // piped: no escape codes
  CHECK(r.err.find('\x1b') == std::string::npos);
  CHECK(r.out.find('\r') == std::string::npos);
  CHECK(r.out.find("    first-line\n") != std::string::npos);
  CHECK(r.out.find("    second-line\n") != std::string::npos);
  CHECK(r.out.find("==> step 1/3: run echo first-line\n") != std::string::npos);
  CHECK(r.out.find("    bold and plain\n") != std::string::npos);  // the step's escapes too
  auto id = build_id(r.out);

  // --json while streaming: one JSON document per line, entries then the build.
  auto j = ns(d, {"template", "build", "--from-python-image", "3.11", "--name", "plain", "--run",
                  "echo json-line", "--json"});
  CHECK_OUTPUT(j, 0);
  auto lines = lines_of(j.out);
  REQUIRE(lines.size() >= 3);
  uint64_t expect = 0;
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    INFO(lines[i]);
    REQUIRE(parses_as_json(lines[i]));
    CHECK(json_u64(lines[i], "offset") == expect++);
  }
  CHECK(j.out.find("\"message\":\"json-line\"") != std::string::npos);
  CHECK(json_str(lines.back(), "build.status") == "ready");
  CHECK(json_u64(lines.back(), "build.log_next_offset") == expect);

  // logs --offset: from that entry on, in both forms.
  auto all = ns(d, {"template", "logs", id, "--json"});
  CHECK_OUTPUT(all, 0);
  auto all_lines = lines_of(all.out);
  REQUIRE(all_lines.size() > 4);
  CHECK(json_u64(all_lines.front(), "offset") == 0);
  auto from3 = ns(d, {"template", "logs", id, "--offset", "3", "--json"});
  CHECK_OUTPUT(from3, 0);
  auto from3_lines = lines_of(from3.out);
  REQUIRE(from3_lines.size() == all_lines.size() - 3);
  CHECK(json_u64(from3_lines.front(), "offset") == 3);
  CHECK(from3_lines.front() == all_lines[3]);
  for (auto& l : from3_lines) CHECK(parses_as_json(l));

  auto human = ns(d, {"template", "logs", id, "--offset", "3"});
  CHECK_OUTPUT(human, 0);
  CHECK(human.out.find("build queued") == std::string::npos);  // offset 0
  CHECK(human.out.find("second-line") != std::string::npos);
  CHECK(human.out.find('\x1b') == std::string::npos);

  auto follow_from = ns(d, {"template", "logs", id, "--follow", "--offset", "3"});
  CHECK_OUTPUT(follow_from, 0);
  CHECK(follow_from.out.find("build queued") == std::string::npos);
  CHECK(lines_of(follow_from.out).back().starts_with("build " + id + " ready"));

  // Every --json answer is one parseable document.
  for (auto& args : std::vector<std::vector<std::string>>{
           {"template", "status", id, "--json"},
           {"template", "cancel", id, "--json"},  // 409 prints nothing on stdout
           {"template", "build", "--from-python-image", "3.11", "--name", "bg", "--background",
            "--json"},
           {"template", "build", "--from-python-image", "3.11", "--name", "dry", "--dry-run",
            "--json"}}) {
    auto out = ns(d, args);
    INFO(out.out << out.err);
    if (out.code == 0) CHECK(parses_as_json(out.out));
    CHECK(lines_of(out.out).size() == (out.code == 0 ? 1u : 0u));
  }
}

TEST_CASE("cli: a followed build survives a server restart (Last-Event-ID resume)", "[cli]") {
  temp_dir dir;
  auto go = dir.sub("go");
  uint16_t port = 0;
  auto d = std::make_unique<server_process>(dir, false);
  port = d->port();
  // The step waits for a file the test creates once the server came back.
  cli_process cli(
      {"--server", d->url(), "template", "build", "--from-python-image", "3.11", "--name",
       "resumed", "--run",
       "echo attempt-started; while [ ! -e " + go + " ]; do sleep 0.05; done; echo after-restart"});
  REQUIRE(cli.read_until("attempt-started"));
  CHECK(d->stop() == 0);
  d = std::make_unique<server_process>(dir, false, std::vector<std::string>{}, port);
  write_file(go, "");
  auto r = cli.finish();
  CHECK_OUTPUT(r, 0);
  CHECK(r.out.find("after-restart") != std::string::npos);
  CHECK(r.err.find("reconnecting") != std::string::npos);
  CHECK(lines_of(r.out).back().find(" ready: default/resumed@tb_") != std::string::npos);
  // Offsets seen once each: the resumed stream neither repeats nor skips.
  auto id = build_id(r.out);
  auto logs = ns(*d, {"template", "logs", id});
  CHECK_OUTPUT(logs, 0);
  auto replay = lines_of(logs.out);
  auto shown = lines_of(r.out);
  // shown = "build … queued", the entries, the summary
  REQUIRE(shown.size() == replay.size() + 2);
  for (size_t i = 0; i < replay.size(); ++i) CHECK(shown[i + 1] == replay[i]);
}

TEST_CASE("cli: template registry commands", "[cli]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  server_process d(dir, true);
  auto build = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args{"template", "build", "--from-image", "busybox", "--name", "web"};
    args.insert(args.end(), extra.begin(), extra.end());
    auto r = ns(d, args);
    CHECK_OUTPUT(r, 0);
    return build_id(r.out);
  };
  auto v1 = build({"--tag", "stable", "--run", "echo v1"});
  auto v2 = build({"--run", "echo v2"});
  auto failed =
      ns(d, {"template", "build", "--from-image", "busybox", "--name", "web", "--run", "exit 1"});
  CHECK_OUTPUT(failed, 1);
  auto failed_id = build_id(failed.out);

  auto get = ns(d, {"template", "get", "web", "--json"});
  CHECK_OUTPUT(get, 0);
  REQUIRE(parses_as_json(get.out));
  CHECK(json_str(get.out, "template.name") == "web");
  CHECK(json_str(get.out, "template.namespace") == "default");
  CHECK(json_str(get.out, "template.tags.stable") == v1);
  // A namespaced ref is one path segment (ns%2Fname).
  auto by_ns = ns(d, {"template", "get", "default/web:stable", "--json"});
  CHECK_OUTPUT(by_ns, 0);
  CHECK(json_str(by_ns.out, "template.resolved.build_id") == v1);
  auto human = ns(d, {"template", "get", "web:stable"});
  CHECK_OUTPUT(human, 0);
  CHECK(human.out.find("default/web") != std::string::npos);
  CHECK(human.out.find("stable -> " + v1) != std::string::npos);

  auto list = ns(d, {"template", "list", "--json"});
  CHECK_OUTPUT(list, 0);
  REQUIRE(parses_as_json(list.out));
  CHECK(list.out.find("\"name\":\"web\"") != std::string::npos);
  auto table = ns(d, {"template", "list"});
  CHECK(table.out.find("NAME") != std::string::npos);
  CHECK(table.out.find("default/web") != std::string::npos);

  auto builds = ns(d, {"template", "builds", "web", "--json"});
  CHECK_OUTPUT(builds, 0);
  REQUIRE(parses_as_json(builds.out));
  auto p1 = builds.out.find(failed_id), p2 = builds.out.find(v2), p3 = builds.out.find(v1);
  CHECK(p1 < p2);  // newest first
  CHECK(p2 < p3);
  auto errors = ns(d, {"template", "builds", "web", "--status", "error", "--json"});
  CHECK(errors.out.find(failed_id) != std::string::npos);
  CHECK(errors.out.find(v1) == std::string::npos);
  auto tagged = ns(d, {"template", "builds", "web", "--tagged", "--json"});
  CHECK(tagged.out.find(v1) != std::string::npos);
  CHECK(tagged.out.find(v2) == std::string::npos);
  auto untagged = ns(d, {"template", "builds", "web", "--untagged", "--json"});
  CHECK(untagged.out.find(v2) != std::string::npos);
  CHECK(untagged.out.find(v1) == std::string::npos);
  auto paged = ns(d, {"template", "builds", "web", "--limit", "1", "--all", "--json"});
  CHECK_OUTPUT(paged, 0);
  for (auto& id : {v1, v2, failed_id}) CHECK(paged.out.find(id) != std::string::npos);
  auto page = ns(d, {"template", "builds", "web", "--limit", "1"});
  CHECK(page.err.find("more: --cursor ") != std::string::npos);

  auto promoted = ns(d, {"template", "promote", v2, "--tag", "production"});
  CHECK_OUTPUT(promoted, 0);
  auto prod = ns(d, {"template", "get", "web:production", "--json"});
  CHECK(json_str(prod.out, "template.resolved.build_id") == v2);
  auto not_ready = ns(d, {"template", "promote", failed_id, "--tag", "production"});
  CHECK_OUTPUT(not_ready, 1);

  auto tags = ns(d, {"template", "tags", "add", "web@" + v2, "beta", "rc", "--json"});
  CHECK_OUTPUT(tags, 0);
  CHECK(json_str(tags.out, "template.tags.beta") == v2);
  CHECK(json_str(tags.out, "template.tags.rc") == v2);
  auto rm = ns(d, {"template", "tags", "rm", "web", "beta", "--json"});
  CHECK_OUTPUT(rm, 0);
  CHECK(json_str(rm.out, "template.tags.beta").empty());

  CHECK_OUTPUT(ns(d, {"template", "alias", "add", "web", "www"}), 0);
  auto aliases = ns(d, {"template", "alias", "list", "web"});
  CHECK_OUTPUT(aliases, 0);
  CHECK(lines_of(aliases.out) == std::vector<std::string>{"www"});
  CHECK(parses_as_json(ns(d, {"template", "alias", "list", "web", "--json"}).out));
  CHECK_OUTPUT(ns(d, {"template", "alias", "rm", "web", "www"}), 0);
  CHECK(ns(d, {"template", "alias", "list", "web"}).out.empty());

  auto reserved = ns(d, {"template", "reserve", "placeholder", "--json"});
  CHECK_OUTPUT(reserved, 0);
  CHECK(json_str(reserved.out, "template.name") == "placeholder");
  auto renamed = ns(d, {"template", "rename", "placeholder", "renamed", "--json"});
  CHECK_OUTPUT(renamed, 0);
  CHECK(json_str(renamed.out, "template.name") == "renamed");
  auto vis = ns(d, {"template", "visibility", "web", "public", "--json"});
  CHECK_OUTPUT(vis, 0);
  CHECK(json_str(vis.out, "template.visibility") == "public");
  auto pub = ns(d, {"template", "list", "--visibility", "public", "--json"});
  CHECK(pub.out.find("\"name\":\"web\"") != std::string::npos);
  CHECK(pub.out.find("\"name\":\"renamed\"") == std::string::npos);
  auto del = ns(d, {"template", "delete", "renamed"});
  CHECK_OUTPUT(del, 0);
  CHECK(del.out.find("deleted default/renamed") != std::string::npos);
  auto gone = ns(d, {"template", "get", "renamed"});
  CHECK_OUTPUT(gone, 1);
  CHECK(gone.err.starts_with("nullspace: "));
}

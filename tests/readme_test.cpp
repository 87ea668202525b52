// The README's quick start, run as a newcomer runs it: the commands of the
// README's code blocks marked `<!-- readme-smoke-test … -->`, read from
// README.md itself (so the two cannot drift apart) and run verbatim through
// /bin/sh in a fresh working directory whose `build` is the build tree. The
// server with its relative `--data-dir ./data`, the curl examples and the CLI
// example must all succeed, and both builds must become `ready`.
//
// Only what is not command text is adapted: nullspaced gets
// NULLSPACE_LISTEN=127.0.0.1:0 (the README's default port could be taken by
// another run), the curl commands get the port it picked in place of 7070, the
// CLI gets NULLSPACE_SERVER, `tb_…` becomes the id the POST printed and `m_…`
// the machine the last `machine create` printed, and base images come from the suite's
// shared images dir (NULLSPACE_IMAGES_DIR). Sandboxed when the suite runs as
// root with runc (as CI does); otherwise nullspaced itself falls back to host
// isolation, the build commands still hold, and the machine commands (which
// need the sandbox) are left out.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "tests/api_fixture.hpp"
#include "tests/child_process.hpp"
#include "tests/machine_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace::test;
namespace fs = std::filesystem;

namespace {

constexpr std::string_view marker = "<!-- readme-smoke-test";
constexpr std::string_view placeholder = "tb_\u2026";         // "tb_…"
constexpr std::string_view machine_placeholder = "m_\u2026";  // "m_…"

// The commands of the marked blocks, in order. A command goes on over lines
// while a single quote is open (the curl -d '{ … }' example).
std::vector<std::string> smoke_commands(const std::string& readme) {
  std::vector<std::string> out;
  std::istringstream in(readme);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.starts_with(marker)) continue;
    REQUIRE(std::getline(in, line));
    INFO("a readme-smoke-test marker must come right before a ```sh block");
    REQUIRE(line == "```sh");
    std::string command;
    while (std::getline(in, line) && line != "```") {
      if (command.empty() && line.find_first_not_of(' ') == std::string::npos) continue;
      command += command.empty() ? line : "\n" + line;
      if (std::count(command.begin(), command.end(), '\'') % 2 == 0) {
        out.push_back(command);
        command.clear();
      }
    }
    INFO("unclosed quote in: " << command);
    REQUIRE(command.empty());
  }
  return out;
}

std::string replace_all(std::string text, std::string_view from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// The first id `prefix` + hex (tb_…, m_…) in `text`, or "".
std::string first_id(const std::string& text, std::string_view prefix) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  for (auto at = text.find(prefix); at != std::string::npos; at = text.find(prefix, at + 1)) {
    auto end = at + prefix.size();
    while (end < text.size() && hex(text[end])) ++end;
    if (end - at - prefix.size() >= 8) return text.substr(at, end - at);
  }
  return "";
}

std::string build_id(const std::string& text) {
  return first_id(text, "tb_");
}

// Settings of ours that would change what the README's commands do.
const std::vector<std::string> foreign_settings{
    "NULLSPACE_SERVER",     "NULLSPACE_API_KEY",       "NULLSPACE_API_KEYS",
    "NULLSPACE_DATA_DIR",   "NULLSPACE_API_KEYS_FILE", "NULLSPACE_ISOLATION",
    "NULLSPACE_IMAGES_DIR", "NULLSPACE_LISTEN",        "NULLSPACE_CONFIG"};

}  // namespace

TEST_CASE("the README's quick start works as written", "[readme]") {
  const char* source = std::getenv("NULLSPACE_SOURCE_ROOT");
  const char* daemon = std::getenv("NULLSPACE_DAEMON");
  const char* cli = std::getenv("NULLSPACE_CLI");
  REQUIRE(source);
  REQUIRE(daemon);
  REQUIRE(cli);
  auto commands = smoke_commands(read_file(std::string(source) + "/README.md"));
  // The quick start is the server, then curl, then the CLI; a README that lost
  // its markers must fail here, not pass with nothing run.
  REQUIRE(commands.size() >= 3);
  REQUIRE(commands.front().starts_with("build/nullspaced "));
  REQUIRE(std::any_of(commands.begin(), commands.end(),
                      [](auto& c) { return c.starts_with("curl "); }));
  REQUIRE(std::any_of(commands.begin(), commands.end(),
                      [](auto& c) { return c.starts_with("build/nullspace template build "); }));
  REQUIRE(fs::path(daemon).parent_path() == fs::path(cli).parent_path());

  temp_dir dir;
  auto work = dir.sub("newcomer");  // the checkout as the README sees it
  fs::create_directories(work);
  fs::create_directory_symlink(fs::path(daemon).parent_path(), work + "/build");
  std::vector<std::string> env;
  if (auto* images = std::getenv("NULLSPACE_TEST_IMAGES"))
    env.push_back(std::string("NULLSPACE_IMAGES_DIR=") + images);

  // A --listen of the README's own port would collide with other runs: :0.
  child_process server({"/bin/sh", "-c", "exec " + replace_all(commands.front(), ":7070", ":0")},
                       {.cwd = work,
                        .env =
                            [&] {
                              auto e = env;
                              e.push_back("NULLSPACE_LISTEN=127.0.0.1:0");
                              return e;
                            }(),
                        .unset = foreign_settings,
                        .stderr_file = dir.sub("nullspaced.err")});
  auto port = listening_port(server);
  INFO(read_file(dir.sub("nullspaced.err")));
  REQUIRE(port != 0);
  auto url = "http://127.0.0.1:" + std::to_string(port);
  env.push_back("NULLSPACE_SERVER=" + url);

  std::vector<std::string> builds;
  std::string machine;
  bool followed_to_ready = false, cli_ready = false, ran_in_machine = false, killed = false;
  bool pool_hit = false;
  bool machines = machines_unavailable().empty();
  for (size_t i = 1; i < commands.size(); ++i) {
    auto command = replace_all(commands[i], ":7070", ":" + std::to_string(port));
    if (!machines && (command.starts_with("build/nullspace machine ") ||
                      command.starts_with("build/nullspace pool ")))
      continue;
    // `tb_…` is the id an earlier command printed (before there is one, it is
    // only in a comment showing what the POST answers).
    if (!builds.empty()) command = replace_all(command, placeholder, builds.back());
    if (!machine.empty()) command = replace_all(command, machine_placeholder, machine);
    child_process run({"/bin/sh", "-c", command},
                      {.cwd = work, .env = env, .unset = foreign_settings});
    auto code = run.finish();
    INFO("$ " << command << "\n--- exit " << code << ", stdout:\n"
              << run.out() << "--- stderr:\n"
              << run.err());
    REQUIRE(code == 0);
    if (command.starts_with("curl -s -X POST ")) {
      auto id = build_id(run.out());
      REQUIRE_FALSE(id.empty());
      builds.push_back(id);
    }
    if (command.find("follow=true") != std::string::npos) {
      auto end = run.out().rfind("event: end");
      REQUIRE(end != std::string::npos);
      followed_to_ready = run.out().find("\"status\":\"ready\"", end) != std::string::npos;
    }
    if (command.starts_with("build/nullspace template build ")) {
      auto id = build_id(run.out());
      REQUIRE_FALSE(id.empty());
      builds.push_back(id);
      cli_ready = run.out().find("ready") != std::string::npos;
    }
    if (command.starts_with("build/nullspace machine create ")) {
      machine = first_id(run.out(), "m_");
      REQUIRE_FALSE(machine.empty());
      if (command.find("--pool") != std::string::npos)
        pool_hit = run.err().find(": hit") != std::string::npos;
    }
    if (command.starts_with("build/nullspace machine exec "))
      ran_in_machine = run.out().starts_with("Python 3.11");
    if (command.starts_with("build/nullspace machine kill ")) killed = true;
  }
  CHECK(followed_to_ready);
  CHECK(cli_ready);
  // The machine half: created from the template, a command ran in it, it is gone.
  if (machines) {
    CHECK(ran_in_machine);
    CHECK(killed);
    CHECK(pool_hit);  // the warm pool section: a machine handed over from the pool
  }
  REQUIRE(builds.size() >= 2);
  for (auto& id : builds) {
    auto done = wait_terminal(port, id);
    INFO(done);
    CHECK(json_str(done, "build.status") == "ready");
  }
  CHECK(server.terminate() == 0);
  // `--data-dir ./data` meant the directory the server was started in.
  CHECK(fs::is_directory(work + "/data/db"));
}

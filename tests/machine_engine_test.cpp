// Machines through the embedded engine (the machine actor and manager over
// the container driver): templates built for real in the sandbox, machines
// started from them, commands, files, pause, timeouts, failures, tenants,
// caps, and adoption across an engine restart. Needs root.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "nullspace/engine.hpp"
#include "tests/machine_support.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace std::chrono_literals;

namespace {

// A busybox template whose start command serves HTTP on :8000 once a marker
// file says so; the ready check is the port.
const char* web_template =
    R"({"name":"web","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
  "steps":[{"type":"run","cmd":"mkdir -p /www && echo hello-from-machine > /www/index.html"}],
  "runtime_envs":{"APP_ENV":"demo"},
  "start_cmd":"echo starting web; exec httpd -f -p 8000 -h /www",
  "ready":{"type":"port","port":8000},"ready_timeout_ms":30000},
  "cpu_count":1,"memory_mb":256})";

build_view build_template(engine& eng, const std::string& json) {
  auto b = test::build(eng, json);
  REQUIRE(b.record.status == build_status::ready);
  return b;
}

machine_request from(const std::string& ref) {
  machine_request r;
  r.template_ref = ref;
  return r;
}

command_request shell(const std::string& cmd) {
  command_request c;
  c.cmd = cmd;
  c.shell = true;
  return c;
}

std::vector<log_entry> machine_log(engine& eng, const machine_id& id,
                                   const tenant_id& tenant = default_tenant()) {
  auto raw = eng.read_machine_log(id, log_offset(0), 100000, tenant);
  REQUIRE_OK(raw);
  std::vector<log_entry> out;
  for (auto& r : *raw) {
    log_entry e;
    REQUIRE(decode_log_entry(r, e));
    out.push_back(std::move(e));
  }
  return out;
}

bool logged(const std::vector<log_entry>& es, const std::string& kind, const std::string& needle) {
  for (auto& e : es)
    if (e.kind == kind && e.message.find(needle) != std::string::npos) return true;
  return false;
}

// Stops every machine a test made, even when it fails half-way.
struct stop_all {
  engine* eng;
  std::vector<machine_id> ids;
  ~stop_all() {
    for (auto& id : ids) (void)eng->stop_machine(id);
  }
};

}  // namespace

TEST_CASE("a machine starts from a template, runs commands, serves its port and stops",
          "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  auto b = build_template(*eng, web_template);

  auto req = from("web");
  req.envs = {{"GREETING", "hi"}};
  req.labels = {{"team", "infra"}};
  auto m = eng->create_machine(req);
  REQUIRE_OK(m);
  stop_all guard{eng.get(), {m->id()}};
  CHECK(m->record.state == machine_state::ready);
  CHECK(m->record.build_id == b.record.id);
  CHECK(m->record.ready_ms >= m->record.created_ms);
  CHECK(m->ports == std::vector<uint16_t>{8000});
  // Env names are kept, never values.
  CHECK(m->record.env_names == std::vector<std::string>{"GREETING"});
  CHECK(m->json().find("\"hi\"") == std::string::npos);

  // The template's runtime envs and the request's envs reach commands.
  auto env = eng->run_command(m->id(), shell("echo $APP_ENV $GREETING; echo oops >&2; exit 3"));
  REQUIRE_OK(env);
  CHECK(env->stdout_data == "demo hi\n");
  CHECK(env->stderr_data == "oops\n");
  CHECK(env->exit_code == 3);
  CHECK_FALSE(env->truncated);

  // argv form, stdin, cwd.
  command_request cat;
  cat.argv = {"cat"};
  cat.stdin_data = "from stdin";
  cat.cwd = "/www";
  auto c = eng->run_command(m->id(), cat);
  REQUIRE_OK(c);
  CHECK(c->stdout_data == "from stdin");

  // The port is reachable through connect_port: the start command's server.
  auto fd = eng->connect_port(m->id(), 8000);
  REQUIRE_OK(fd);
  ::close(*fd);
  CHECK(eng->connect_port(m->id(), 8001).error().code != errc::internal);

  auto stopped = eng->stop_machine(m->id());
  REQUIRE_OK(stopped);
  CHECK(stopped->record.state == machine_state::stopped);
  CHECK(stopped->record.stop_reason == "deleted");
  // Stopping again answers with the record; commands are refused.
  CHECK(eng->stop_machine(m->id()).ok());
  CHECK(eng->run_command(m->id(), shell("true")).error().code == errc::conflict);

  // The durable log tells the story: start output, readiness, the commands
  // (never their output), the stop.
  auto es = machine_log(*eng, m->id());
  CHECK(logged(es, "log", "starting web"));
  CHECK(logged(es, "status", "ready in"));
  CHECK(logged(es, "command", "exit 3"));
  CHECK_FALSE(logged(es, "command", "demo hi"));
  CHECK(logged(es, "status", "stopped: deleted"));
  for (size_t i = 0; i < es.size(); ++i) CHECK(es[i].offset == i);
}

TEST_CASE("command timeouts, background commands and output caps", "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto o = test::sandbox_options(dir);
  o.machines.max_output_bytes = 1000;
  auto eng = test::open_sandbox(o);
  build_template(*eng, web_template);
  auto m = eng->create_machine(from("web"));
  REQUIRE_OK(m);
  stop_all guard{eng.get(), {m->id()}};

  // A timeout kills the command's whole tree, never the machine.
  auto slow = shell("sleep 1000 & sleep 1000; echo never");  // a tree of two sleeps
  slow.timeout_ms = 300;
  auto t = eng->run_command(m->id(), slow);
  REQUIRE_OK(t);
  CHECK(t->timed_out);
  CHECK(t->stdout_data.empty());
  auto after = eng->run_command(m->id(), shell("pidof sleep || echo none"));
  REQUIRE_OK(after);
  CHECK(after->stdout_data == "none\n");  // both sleeps went with the command
  CHECK(eng->get_machine(m->id())->record.state == machine_state::ready);

  // Output past the cap is cut and says so.
  auto big = eng->run_command(m->id(), shell("seq 1 5000"));
  REQUIRE_OK(big);
  CHECK(big->truncated);
  CHECK(big->stdout_data.size() == 1000);

  // Background: an id at once, output read from offsets while it runs, kill.
  auto bg = shell("echo one; echo two; while true; do sleep 1; done");
  bg.background = true;
  auto started = eng->run_command(m->id(), bg);
  REQUIRE_OK(started);
  REQUIRE_FALSE(started->command_id.empty());
  test::eventually(
      [&] {
        auto q = eng->get_command(m->id(), started->command_id, 0, 0);
        return q.ok() && q->stdout_data == "one\ntwo\n";
      },
      "background output");
  auto later = eng->get_command(m->id(), started->command_id, 4, 0);
  REQUIRE_OK(later);
  CHECK(later->stdout_data == "two\n");
  CHECK(later->running);
  REQUIRE(eng->kill_command(m->id(), started->command_id).ok());
  test::eventually(
      [&] {
        auto q = eng->get_command(m->id(), started->command_id, 0, 0);
        return q.ok() && !q->running && q->killed;
      },
      "the killed command's end");
  CHECK(eng->get_command(m->id(), "c999", 0, 0).error().code == errc::not_found);
}

TEST_CASE("streamed commands deliver output before they end", "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  build_template(*eng, web_template);
  auto m = eng->create_machine(from("web"));
  REQUIRE_OK(m);
  stop_all guard{eng.get(), {m->id()}};

  // The command waits for a file the test writes only after it saw the first
  // line: if output were delivered only at the end, this would never finish.
  std::mutex mu;
  std::condition_variable cv;
  std::string out;
  std::optional<command_result> end;
  command_stream_callbacks cb;
  cb.on_stdout = [&](std::string_view s) {
    std::lock_guard<std::mutex> g(mu);
    out += s;
    cv.notify_all();
  };
  cb.on_exit = [&](const command_result& r) {
    std::lock_guard<std::mutex> g(mu);
    end = r;
    cv.notify_all();
  };
  std::promise<result<std::string>> started;
  eng->run_command_async(
      m->id(), shell("echo first; while [ ! -f /tmp/go ]; do sleep 0.05; done; echo second"),
      default_tenant(), cb, [&](result<std::string> r) { started.set_value(std::move(r)); });
  REQUIRE(started.get_future().get().ok());
  {
    std::unique_lock<std::mutex> g(mu);
    REQUIRE(cv.wait_for(g, 60s, [&] { return out == "first\n"; }));
    CHECK_FALSE(end.has_value());
  }
  REQUIRE(eng->write_file(m->id(), "/tmp/go", "").ok());
  std::unique_lock<std::mutex> g(mu);
  REQUIRE(cv.wait_for(g, 60s, [&] { return end.has_value(); }));
  CHECK(out == "first\nsecond\n");
  CHECK(end->exit_code == 0);
}

TEST_CASE("files round trip; paths never leave the machine's root", "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  build_template(*eng, web_template);
  auto m = eng->create_machine(from("web"));
  REQUIRE_OK(m);
  stop_all guard{eng.get(), {m->id()}};

  std::string bytes("bin\0ary\n", 8);
  auto w = eng->write_file(m->id(), "/srv/data/file.bin", bytes, {.mode = 0600});
  REQUIRE_OK(w);
  CHECK(w->mode == 0600);
  CHECK(eng->read_file(m->id(), "/srv/data/file.bin").value() == bytes);
  auto ls = eng->list_files(m->id(), "/srv/data");
  REQUIRE_OK(ls);
  REQUIRE(ls->size() == 1);
  CHECK((*ls)[0].name == "file.bin");
  CHECK((*ls)[0].size == 8);
  // The machine sees what the API wrote.
  CHECK(eng->run_command(m->id(), shell("wc -c < /srv/data/file.bin"))->stdout_data == "8\n");

  // A symlink to the host's /etc/shadow resolves inside the machine.
  REQUIRE(eng->run_command(m->id(), shell("ln -s /etc/shadow /tmp/shadow; ln -s ../../../../etc/"
                                          "shadow /tmp/rel"))
              ->exit_code == 0);
  auto host_shadow = test::read_file("/etc/shadow");
  for (auto p : {"/tmp/shadow", "/tmp/rel", "/../../../etc/shadow"}) {
    auto r = eng->read_file(m->id(), p);
    if (r) CHECK(*r != host_shadow);
  }
  REQUIRE(eng->write_file(m->id(), "/tmp/shadow", "x").ok());
  CHECK(test::read_file("/etc/shadow") == host_shadow);
  CHECK(eng->read_file(m->id(), "relative").error().code == errc::invalid_argument);
  REQUIRE(eng->remove_file(m->id(), "/srv/data", true).ok());
  CHECK(eng->read_file(m->id(), "/srv/data/file.bin").error().code == errc::not_found);
}

TEST_CASE("pause stops progress and resume continues it", "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  build_template(*eng, web_template);
  auto m = eng->create_machine(from("web"));
  REQUIRE_OK(m);
  stop_all guard{eng.get(), {m->id()}};
  auto counter = shell("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; done");
  counter.background = true;
  REQUIRE(eng->run_command(m->id(), counter).ok());
  auto count = [&] {
    auto r = eng->read_file(m->id(), "/tmp/count");
    return r ? std::stoll("0" + *r) : 0;
  };
  test::eventually([&] { return count() > 0; }, "the counter runs");

  auto p = eng->pause_machine(m->id());
  REQUIRE_OK(p);
  CHECK(p->record.state == machine_state::paused);
  // Files of a paused machine stay readable; its processes do not move.
  auto frozen = count();
  for (int i = 0; i < 20; ++i) CHECK(count() == frozen);
  CHECK(eng->run_command(m->id(), shell("true")).error().code == errc::conflict);

  REQUIRE(eng->resume_machine(m->id())->record.state == machine_state::ready);
  test::eventually([&] { return count() > frozen; }, "the counter goes on after resume");
  auto es = machine_log(*eng, m->id());
  CHECK(logged(es, "status", "paused"));
  CHECK(logged(es, "status", "resumed"));
}

TEST_CASE("a machine past its timeout is stopped; the deadline can move", "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  build_template(*eng, web_template);
  auto req = from("web");
  req.timeout_ms = 3'600'000;
  auto m = eng->create_machine(req);
  REQUIRE_OK(m);
  stop_all guard{eng.get(), {m->id()}};
  auto moved = eng->set_machine_timeout(m->id(), 200ms);
  REQUIRE_OK(moved);
  CHECK(moved->record.deadline_ms < m->record.deadline_ms);
  test::eventually(
      [&] { return eng->get_machine(m->id())->record.state == machine_state::stopped; },
      "the machine stops at its deadline");
  CHECK(eng->get_machine(m->id())->record.stop_reason == "timeout");
  CHECK(logged(machine_log(*eng, m->id()), "event", "timeout reached"));
}

TEST_CASE("a start command that exits fails the machine with its output, leaving nothing",
          "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  // The start command works when the template is built (its ready check runs
  // then) and fails in a machine started with FAIL=1.
  build_template(
      *eng,
      R"({"name":"broken","tags":["latest"],"builder":{"source":{"type":"image","image":"busybox"},
    "start_cmd":"if [ \"$FAIL\" = 1 ]; then echo cannot bind the port; exit 7; fi; exec httpd -f -p 8000",
    "ready":{"type":"port","port":8000}}})");
  auto req = from("broken");
  req.envs = {{"FAIL", "1"}};
  auto m = eng->create_machine(req);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().code == errc::failed_precondition);
  CHECK(m.error().message.find("start_failed") != std::string::npos);
  CHECK(m.error().message.find("cannot bind the port") != std::string::npos);
  auto page = eng->list_machines({});
  REQUIRE_OK(page);
  REQUIRE(page->machines.size() == 1);
  auto& rec = page->machines[0].record;
  CHECK(rec.state == machine_state::failed);
  REQUIRE(rec.failure);
  CHECK(rec.failure->code == "start_failed");
  CHECK(rec.failure->message.find("status 7") != std::string::npos);
  CHECK(std::find(rec.failure->last_lines.begin(), rec.failure->last_lines.end(),
                  "cannot bind the port") != rec.failure->last_lines.end());
  test::check_no_traces(dir.sub("data"), {rec.id});
}

TEST_CASE("a machine's HEALTHCHECK probes are killed at --timeout and fail it after --retries",
          "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  // The probe passes when the template is built and hangs in a machine
  // started with HANG=1.
  auto dockerfile =
      "FROM busybox\n"
      "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD test \"$HANG\" != 1 || sleep 1000\n"
      "CMD [\"sleep\", \"1000\"]\n";
  build_template(*eng, R"({"name":"probed","tags":["latest"],"builder":{"source":{"type":")"
                       R"(dockerfile","content":)" +
                           test::json_quoted(dockerfile) + "}}}");
  auto req = from("probed");
  req.envs = {{"HANG", "1"}};
  auto m = eng->create_machine(req);
  REQUIRE_FALSE(m.ok());
  CHECK(m.error().message.find("ready_check_failed") != std::string::npos);
  auto page = eng->list_machines({});
  REQUIRE_OK(page);
  REQUIRE(page->machines.size() == 1);
  auto& rec = page->machines[0].record;
  REQUIRE(rec.failure);
  INFO(rec.failure->message);
  CHECK(rec.failure->code == "ready_check_failed");
  CHECK(rec.failure->message.find("failed: 2 probes in a row failed after the start period "
                                  "(HEALTHCHECK --retries=2; ") != std::string::npos);
  CHECK(rec.failure->message.find("did not finish within 1000 ms (killed)") != std::string::npos);
  test::check_no_traces(dir.sub("data"), {rec.id});
}

TEST_CASE("machines are their tenant's; refs that cannot start are clear errors; caps are 429",
          "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto o = test::sandbox_options(dir);
  o.machines.max_machines_per_tenant = 1;
  auto eng = test::open_sandbox(o);
  build_template(*eng, web_template);
  auto m = eng->create_machine(from("web"));
  REQUIRE_OK(m);
  stop_all guard{eng.get(), {m->id()}};

  auto other = test::as_tenant("other");
  CHECK(eng->get_machine(m->id(), other).error().code == errc::not_found);
  CHECK(eng->stop_machine(m->id(), other).error().code == errc::not_found);
  CHECK(eng->run_command(m->id(), shell("true"), other).error().code == errc::not_found);
  CHECK(eng->read_file(m->id(), "/etc/hostname", other).error().code == errc::not_found);
  CHECK(eng->read_machine_log(m->id(), log_offset(0), 10, other).error().code == errc::not_found);
  CHECK(eng->list_machines({}, other)->machines.empty());
  // Another tenant's private template is not there for them either.
  CHECK(eng->create_machine(from("default/web"), other).error().code == errc::not_found);

  auto capped = eng->create_machine(from("web"));
  REQUIRE_FALSE(capped.ok());
  CHECK(capped.error().code == errc::resource_exhausted);
  CHECK(capped.error().message.find("maximum of 1") != std::string::npos);

  CHECK(eng->create_machine(from("nope")).error().code == errc::not_found);
  CHECK(eng->create_machine(from("Bad Ref")).error().code == errc::invalid_argument);
  auto pool = from("web");
  pool.warm_pool = "p";
  CHECK(eng->create_machine(pool).error().code == errc::not_found);  // no pool "p"
  CHECK(eng->create_machine(pool).error().field == "warm_pool");
  auto bad_env = from("web");
  bad_env.envs = {{"1BAD", "x"}};
  CHECK(eng->create_machine(bad_env).error().code == errc::invalid_argument);
}

TEST_CASE("machines outlive an engine restart and are adopted; lost ones fail as lost",
          "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto o = test::sandbox_options(dir);
  machine_id kept, lost;
  int64_t deadline = 0;
  // A request's envs may be credentials: they reach the machine's processes
  // (the start command and every command, before and after the restart) and
  // no file on the host.
  const std::string canary = "machine-env-canary-3b8e51f0";
  auto token_of = [&](engine& eng, const machine_id& id, const std::string& cmd) {
    auto r = eng.run_command(id, shell(cmd));
    REQUIRE_OK(r);
    return r->stdout_data;
  };
  const std::string in_start_cmd =
      "tr '\\0' '\\n' < /proc/$(pidof httpd)/environ | grep ^MACHINE_TOKEN=";
  {
    auto eng = test::open_sandbox(o);
    build_template(*eng, web_template);
    auto with_env = from("web");
    with_env.envs = {{"MACHINE_TOKEN", canary}, {"APP_ENV", "from-request"}};
    auto a = eng->create_machine(with_env);
    auto b = eng->create_machine(from("web"));
    REQUIRE_OK(a);
    REQUIRE_OK(b);
    kept = a->id();
    lost = b->id();
    deadline = a->record.deadline_ms;
    REQUIRE(eng->write_file(kept, "/tmp/before", "kept").ok());
    CHECK(token_of(*eng, kept, "echo $MACHINE_TOKEN $APP_ENV") == canary + " from-request\n");
    CHECK(token_of(*eng, kept, in_start_cmd) == "MACHINE_TOKEN=" + canary + "\n");
    command_request own = shell("echo $MACHINE_TOKEN");
    own.envs = {{"MACHINE_TOKEN", "the-command's"}};
    auto r = eng->run_command(kept, own);
    REQUIRE_OK(r);
    CHECK(r->stdout_data == "the-command's\n");
  }  // the engine closes; its machines keep running
  // One machine dies while no engine runs (its container is removed).
  {
    auto driver = test::open_driver(dir.sub("data"));
    driver->destroy(lost.str());
  }
  auto eng = test::open_sandbox(o);
  stop_all guard{eng.get(), {kept}};
  test::eventually([&] { return eng->get_machine(lost)->record.state == machine_state::failed; },
                   "the lost machine fails");
  CHECK(eng->get_machine(lost)->record.failure->code == "lost");
  auto k = eng->get_machine(kept);
  REQUIRE_OK(k);
  CHECK(k->record.state == machine_state::ready);
  CHECK(k->record.deadline_ms == deadline);
  auto r = eng->run_command(kept, shell("cat /tmp/before"));
  REQUIRE_OK(r);
  CHECK(r->stdout_data == "kept");
  CHECK(logged(machine_log(*eng, kept), "event", "adopted"));
  CHECK(token_of(*eng, kept, "echo $MACHINE_TOKEN $APP_ENV") == canary + " from-request\n");
  CHECK(test::files_containing(dir.sub("data"), canary).empty());
  REQUIRE(eng->stop_machine(kept).ok());
  test::check_no_traces(dir.sub("data"), {kept.str(), lost.str()});
}

TEST_CASE("a thread that called the engine and lives on does not keep it from closing",
          "[machines]") {
  REQUIRE_SANDBOX();
  REQUIRE_MACHINES();
  test::temp_dir dir;
  auto eng = test::open_sandbox(dir);
  build_template(*eng, web_template);
  auto m = eng->create_machine(from("web"));
  REQUIRE_OK(m);
  // The thread makes calls that run CAF code on it (an asking actor, a
  // scoped_actor), then waits until the engine is gone. Before the fix the
  // engine's destructor waited for this thread to end: a hang, here a timeout.
  std::promise<void> called, release;
  auto released = release.get_future();
  std::thread caller([&] {
    CHECK(eng->write_file(m->id(), "/tmp/x", "x").ok());
    CHECK(eng->run_command(m->id(), shell("true")).ok());
    (void)eng->current_stats();
    called.set_value();
    released.wait();
  });
  called.get_future().wait();
  REQUIRE_OK(eng->stop_machine(m->id()));
  eng.reset();  // returns although `caller` is still alive
  release.set_value();
  caller.join();
}

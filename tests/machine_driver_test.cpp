// The container machine driver against real containers (runc or crun), real
// loop-mounted ext4 images, network namespaces and cgroups. Needs root; skips
// with the reason otherwise. Every test ends by checking that its machines
// left nothing on the host, and the last one checks every machine id the
// suite used.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <mutex>

#include "runtime/artifact/template_config.hpp"
#include "runtime/machine/container_placement.hpp"
#include "runtime/machine/machine_cgroups.hpp"
#include "runtime/machine/machine_disk.hpp"
#include "runtime/machine/process_info.hpp"
#include "tests/machine_support.hpp"
#include "tests/sandbox_support.hpp"

using namespace nullspace;
using namespace nullspace::test;
using runtime::machine_status;
namespace fs = std::filesystem;

namespace {

runtime::template_config config_with(const std::string& start_cmd) {
  runtime::template_config c;
  c.start_cmd = start_cmd;
  return c;
}

runtime::artifact_info busybox_artifact(const temp_dir& dir, const runtime::template_config& c,
                                        const std::map<std::string, std::string>& files = {},
                                        uint32_t disk_mb = 0) {
  auto a = make_test_artifact(dir, "busybox", files, c, disk_mb);
  REQUIRE(a.has_value());
  return *a;
}

runtime::container_placement placement_of(const runtime::machine_placement& p) {
  REQUIRE(p.driver == "container");
  auto parsed = runtime::container_placement::parse(p.json);
  REQUIRE(parsed.has_value());
  return *parsed;
}

std::string start_output(runtime::machine_driver& d, const std::string& id) {
  auto out = d.read_start_output(id, 0, 1 << 20);
  REQUIRE(out.ok());
  return out->data;
}

// Destroys the machines and checks that nothing of them is left.
void destroy_all(runtime::machine_driver& d, const std::string& data,
                 const std::set<std::string>& ids) {
  for (auto& id : ids) d.destroy(id);
  check_no_traces(data, ids);
}

std::string http_get(int fd) {
  std::string request = "GET / HTTP/1.0\r\nHost: machine\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  std::string answer;
  char buf[4096];
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    REQUIRE(::poll(&p, 1, 60000) == 1);  // a bound for a hang, not a timing assertion
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    answer.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return answer;
}

uint64_t counter(runtime::machine_driver& d, const std::string& id) {
  auto text = d.read_file(id, "/tmp/counter", 64);
  return text.ok() ? std::strtoull(text->c_str(), nullptr, 10) : 0;
}

const std::map<std::string, std::string> app_user_files = {
    {"/etc/passwd",
     "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
     "app:x:1000:1000:app:/home/app:/bin/sh\n"},
    {"/etc/group", "root:x:0:\nnogroup:x:65534:\napp:x:1000:\nstaff:x:50:\n"},
    {"/home/app/", ""},
};

}  // namespace

TEST_CASE("parse_template_config reads back what template_config::json() wrote",
          "[machine_driver]") {
  runtime::template_config c;
  c.env = {"PATH=/usr/bin:/bin", "GREETING=hi there"};
  c.runtime_envs = {{"APP_ENV", "demo"}, {"QUOTED", "a \"b\" \\ c\n"}};
  c.user = "app";
  c.uid = 1000;
  c.gid = 1001;
  c.workdir = "/srv/app";
  c.start_cmd = "python3 -m http.server 8000";
  c.ready_timeout_ms = 5000;
  c.labels = {{"org.example", "x"}};
  c.exposed_ports = {"8000/tcp"};
  std::vector<runtime::ready_check> checks(5);
  checks[1].type = runtime::ready_type::port;
  checks[1].port = 8000;
  checks[2].type = runtime::ready_type::url;
  checks[2].url = "http://127.0.0.1:8000/health";
  checks[3].type = runtime::ready_type::file;
  checks[3].path = "/tmp/ready";
  checks[4].type = runtime::ready_type::command;
  checks[4].cmd = "test -f /tmp/ready";
  for (auto& check : checks) {
    c.ready = check;
    auto back = runtime::parse_template_config(c.json());
    REQUIRE(back.ok());
    CHECK(back->json() == c.json());
    CHECK(back->env == c.env);
    CHECK(back->runtime_envs == c.runtime_envs);
    CHECK(back->ready == c.ready);
    CHECK(back->uid == 1000);
    CHECK(back->gid == 1001);
    CHECK(back->workdir == "/srv/app");
  }
  runtime::template_config bare;  // null start command and ready check
  auto back = runtime::parse_template_config(bare.json());
  REQUIRE(back.ok());
  CHECK(back->start_cmd.empty());
  CHECK(back->ready.type == runtime::ready_type::none);
  CHECK(back->json() == bare.json());

  CHECK(runtime::parse_template_config("{not json").error().code == errc::invalid_argument);
  CHECK(runtime::parse_template_config("[1]").error().message.find("not a JSON object") !=
        std::string::npos);
  auto bad = runtime::parse_template_config(R"({"ready":{"type":"bogus"}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("bogus") != std::string::npos);
}

TEST_CASE(
    "a machine runs its start command as the template's user, env and workdir; commands "
    "give stdout, stderr, exit codes and read stdin",
    "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto c = config_with(
      "echo started as $(id -u):$(id -g) in $(pwd) APP_ENV=$APP_ENV OVERRIDE=$OVERRIDE; "
      "echo to-stderr >&2; exec sleep 100000");
  c.env = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "GREETING=hi"};
  c.runtime_envs = {{"APP_ENV", "demo"}, {"OVERRIDE", "template"}};
  c.user = "app";
  c.uid = c.gid = 1000;
  c.workdir = "/home/app";
  auto art = busybox_artifact(dir, c, app_user_files);
  auto id = new_machine_id();
  guard.add(id);
  auto spec = spec_for(id, art);
  spec.envs = {{"OVERRIDE", "request"}};
  auto placed = d->start(spec);
  REQUIRE(placed.ok());
  CHECK(placed->driver == "container");

  eventually([&] { return start_output(*d, id).find("to-stderr") != std::string::npos; },
             "the start command's output");
  auto out = start_output(*d, id);
  CHECK(out.find("started as 1000:1000 in /home/app APP_ENV=demo OVERRIDE=request") !=
        std::string::npos);
  auto st = d->status(id);
  CHECK(st.machine == machine_status::state::running);
  CHECK(st.start_running);
  CHECK_FALSE(st.start_exit_status);
  CHECK_FALSE(st.oom);
  auto tail = d->read_start_output(id, out.size() - 10, 4);
  REQUIRE(tail.ok());
  CHECK(tail->offset == out.size() - 10);
  CHECK(tail->data == out.substr(out.size() - 10, 4));

  auto r = sh(*d, id, "echo out; echo err >&2; exit 3");
  CHECK(r.out == "out\n");
  CHECK(r.err == "err\n");
  CHECK(r.exit.exit_code == 3);
  CHECK(r.exit.term_signal == 0);
  CHECK_FALSE(r.exit.killed);
  CHECK(r.exit.start_error.empty());

  // The template's user and workdir by default; others by name or id.
  CHECK(sh(*d, id, "id -u; id -g; pwd; echo $GREETING $APP_ENV $OVERRIDE").out ==
        "1000\n1000\n/home/app\nhi demo request\n");
  runtime::command_spec as_root;
  as_root.argv = {"/bin/sh", "-c", "id -u; pwd; echo $GREETING"};
  as_root.user = "root";
  as_root.cwd = "/tmp";
  as_root.envs = {{"GREETING", "bye"}};
  CHECK(run_in(*d, id, as_root).out == "0\n/tmp\nbye\n");
  for (auto [user, expect] :
       std::vector<std::pair<std::string, std::string>>{{"nobody", "65534:65534"},
                                                        {"1000", "1000:1000"},
                                                        {"4242", "4242:4242"},
                                                        {"app:staff", "1000:50"},
                                                        {"0:1000", "0:1000"}}) {
    runtime::command_spec as;
    as.argv = {"/bin/sh", "-c", "echo $(id -u):$(id -g)"};
    as.user = user;
    INFO(user);
    CHECK(run_in(*d, id, as).out == expect + "\n");
  }
  runtime::command_spec unknown;
  unknown.argv = {"true"};
  unknown.user = "nosuchuser";
  auto refused = d->exec(id, unknown, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(refused.error().field == "user");

  // stdin, and output as raw bytes: no line splitting, NULs and a missing
  // final newline kept, a megabyte in full.
  runtime::command_spec cat;
  cat.argv = {"cat"};
  cat.stdin_data = std::string("line1\nline2\0 and no newline", 27);
  CHECK(run_in(*d, id, cat).out == cat.stdin_data);
  CHECK(sh(*d, id, R"(printf 'a\000b'; printf partial)").out == std::string("a\0bpartial", 10));
  CHECK(sh(*d, id, "head -c 1000000 /dev/zero | tr '\\000' x").out == std::string(1000000, 'x'));

  auto killed = sh(*d, id, "kill -9 $$");
  CHECK(killed.exit.exit_code == 137);
  CHECK(killed.exit.term_signal == 9);
  CHECK_FALSE(killed.exit.killed);
  runtime::command_spec missing;
  missing.argv = {"/no/such/program"};
  auto m = run_in(*d, id, missing);
  CHECK(m.exit.start_error.find("/no/such/program") != std::string::npos);

  destroy_all(*d, data, guard.ids());
}

TEST_CASE("a command's output arrives while it runs, before it ends", "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(dir, config_with(""));
  auto id = new_machine_id();
  guard.add(id);
  REQUIRE(d->start(spec_for(id, art)).ok());

  struct seen {
    std::mutex mu;
    std::string out;
    bool exited = false;
    bool first_before_exit = false;
    std::promise<void> done;
  };
  auto s = std::make_shared<seen>();
  runtime::command_callbacks cb;
  cb.on_output = [s](runtime::command_stream, std::string_view data) {
    std::lock_guard lock(s->mu);
    s->out.append(data);
    if (s->out.find("first") != std::string::npos && !s->exited) s->first_before_exit = true;
  };
  cb.on_exit = [s](runtime::command_exit) {
    {
      std::lock_guard lock(s->mu);
      s->exited = true;
    }
    s->done.set_value();
  };
  runtime::command_spec spec;
  spec.argv = {"/bin/sh", "-c",
               "echo first; while [ ! -e /tmp/go ]; do sleep 0.02; done; echo second"};
  auto h = d->exec(id, spec, std::move(cb));
  REQUIRE(h.ok());
  // The command cannot end before /tmp/go exists, and it only exists once
  // "first" has been seen here.
  eventually(
      [&] {
        std::lock_guard lock(s->mu);
        return s->first_before_exit;
      },
      "the first line, streamed");
  runtime::file_write go;
  go.path = "/tmp/go";
  REQUIRE(d->write_file(id, go).ok());
  REQUIRE(s->done.get_future().wait_for(std::chrono::seconds(120)) == std::future_status::ready);
  CHECK(s->out == "first\nsecond\n");
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("killing a command ends its whole process tree and not the machine", "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(dir, config_with("exec sleep 100000"));
  auto id = new_machine_id();
  guard.add(id);
  REQUIRE(d->start(spec_for(id, art)).ok());

  auto started = std::make_shared<std::atomic<bool>>(false);
  auto exit = std::make_shared<std::promise<runtime::command_exit>>();
  runtime::command_callbacks cb;
  cb.on_output = [started](runtime::command_stream, std::string_view data) {
    if (data.find("started") != std::string_view::npos) *started = true;
  };
  cb.on_exit = [exit](runtime::command_exit ex) { exit->set_value(std::move(ex)); };
  runtime::command_spec spec;
  spec.argv = {"/bin/sh", "-c",
               "sleep 100001 & (sleep 100002 & sleep 100003; echo never) & echo started; wait"};
  // Processes whose whole command line is `sleep 10000N`.
  auto count_sleeps =
      "for p in /proc/[0-9]*; do tr '\\000' ' ' < $p/cmdline 2>/dev/null; echo; done | "
      "grep -c '^sleep 10000[123] $'";
  auto h = d->exec(id, spec, std::move(cb));
  REQUIRE(h.ok());
  eventually([&] { return started->load(); }, "the command's background processes");
  // "started" may come before the subshell has started its sleeps.
  eventually([&] { return sh(*d, id, count_sleeps).out == "3\n"; }, "three sleeps running");

  (*h)->kill();
  auto answer = exit->get_future();
  REQUIRE(answer.wait_for(std::chrono::seconds(120)) == std::future_status::ready);
  auto ex = answer.get();
  CHECK(ex.killed);
  CHECK(ex.exit_code == 137);
  eventually([&] { return sh(*d, id, count_sleeps).out == "0\n"; },
             "the command's tree to be gone");
  (*h)->kill();  // again, after it ended: nothing happens
  auto st = d->status(id);
  CHECK(st.machine == machine_status::state::running);
  CHECK(st.start_running);
  CHECK(sh(*d, id, "echo alive").out == "alive\n");
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("files round trip inside the machine; .. and symlinks never reach the host",
          "[machine_driver]") {
  REQUIRE_MACHINES();
  auto host_shadow = read_file("/etc/shadow");
  REQUIRE_FALSE(host_shadow.empty());
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto c = config_with("");
  c.user = "app";
  c.uid = c.gid = 1000;
  auto art = busybox_artifact(dir, c, app_user_files);
  auto id = new_machine_id();
  guard.add(id);
  REQUIRE(d->start(spec_for(id, art)).ok());

  runtime::file_write w;
  w.path = "/data/sub/hello.bin";
  w.data = std::string("hi\0there", 8);
  w.mode = 0600;
  auto e = d->write_file(id, w);
  REQUIRE(e.ok());
  CHECK(e->name == "hello.bin");
  CHECK(e->type == runtime::file_entry::kind::file);
  CHECK(e->size == 8);
  CHECK(e->mode == 0600);
  CHECK(e->uid == 1000);  // the machine's user, by default
  CHECK(d->read_file(id, "/data/sub/hello.bin", 1024).value() == w.data);
  CHECK(sh(*d, id, "stat -c '%a %u:%g %s' /data/sub/hello.bin; stat -c '%u' /data/sub").out ==
        "600 1000:1000 8\n1000\n");
  // Replacing keeps the mode and owner unless given.
  w.data = "second";
  w.mode.reset();
  REQUIRE(d->write_file(id, w).ok());
  CHECK(sh(*d, id, "stat -c '%a %u' /data/sub/hello.bin; cat /data/sub/hello.bin").out ==
        "600 1000\nsecond");
  runtime::file_write owned;
  owned.path = "/data/root-owned";
  owned.uid = 0;
  owned.gid = 0;
  owned.mode = 0640;
  REQUIRE(d->write_file(id, owned).ok());
  CHECK(sh(*d, id, "stat -c '%a %u' /data/root-owned").out == "640 0\n");
  CHECK(sh(*d, id, "echo from-machine > /tmp/m").exit.exit_code == 0);
  CHECK(d->read_file(id, "/tmp/m", 100).value() == "from-machine\n");

  auto listing = d->list_dir(id, "/data");
  REQUIRE(listing.ok());
  REQUIRE(listing->size() == 2);
  CHECK((*listing)[0].name == "root-owned");
  CHECK((*listing)[1].name == "sub");
  CHECK((*listing)[1].type == runtime::file_entry::kind::dir);

  // What cannot be done says why; nothing crashes.
  CHECK(d->read_file(id, "/data", 100).error().code == errc::failed_precondition);
  CHECK(d->read_file(id, "/nope", 100).error().code == errc::not_found);
  CHECK(d->read_file(id, "/data/sub/hello.bin", 2).error().code == errc::payload_too_large);
  CHECK(d->read_file(id, "relative/path", 100).error().code == errc::invalid_argument);
  runtime::file_write onto_dir;
  onto_dir.path = "/data/sub";
  CHECK(d->write_file(id, onto_dir).error().code == errc::failed_precondition);
  runtime::file_write no_parents;
  no_parents.path = "/missing/dir/file";
  no_parents.make_parents = false;
  CHECK(d->write_file(id, no_parents).error().code == errc::not_found);
  CHECK(d->list_dir(id, "/data/sub/hello.bin").error().code == errc::failed_precondition);
  CHECK(d->remove_path(id, "/", true).error().code == errc::invalid_argument);
  CHECK(d->remove_path(id, "/data/sub", false).error().code == errc::failed_precondition);
  CHECK(d->remove_path(id, "/data/nothing", false).error().code == errc::not_found);
  runtime::file_write kernel;
  kernel.path = "/proc/sys/kernel/hostname";
  kernel.data = "x";
  CHECK(d->write_file(id, kernel).error().code == errc::failed_precondition);
  REQUIRE(d->remove_path(id, "/data/sub", true).ok());
  CHECK(d->read_file(id, "/data/sub/hello.bin", 100).error().code == errc::not_found);

  // Escapes: `..`, an absolute symlink, a relative one that climbs out, a
  // symlinked directory, and a /proc magic link.
  runtime::command_spec links;
  links.user = "root";
  links.argv = {"/bin/sh", "-c",
                "echo machine-shadow > /etc/shadow; ln -s /etc/shadow /abs-link; "
                "ln -s ../../../../../../../../etc/shadow /tmp/rel-link; ln -s /etc /etc-link; "
                "ln -s /proc/1/root /proc-link"};
  auto made = run_in(*d, id, links);
  INFO(made.err);
  REQUIRE(made.exit.exit_code == 0);
  for (auto path : {"/../../../../etc/shadow", "/abs-link", "/tmp/rel-link", "/etc-link/shadow",
                    "/tmp/../../../etc/shadow", "/etc-link/../../../etc/shadow"}) {
    INFO(path);
    auto r = d->read_file(id, path, 1 << 20);
    REQUIRE(r.ok());
    CHECK(r.value() == "machine-shadow\n");
    CHECK(r.value() != host_shadow);
  }
  CHECK_FALSE(d->read_file(id, "/proc-link/etc/shadow", 1 << 20).ok());
  CHECK_FALSE(d->list_dir(id, "/proc-link/etc").ok());

  runtime::file_write through;
  through.path = "/etc-link/written-through-a-link";
  through.data = "inside";
  REQUIRE(d->write_file(id, through).ok());
  CHECK(sh(*d, id, "cat /etc/written-through-a-link").out == "inside");
  CHECK_FALSE(fs::exists("/etc/written-through-a-link"));
  runtime::file_write climb;
  climb.path = "/../../../../tmp/../etc/climbed";
  climb.data = "inside too";
  REQUIRE(d->write_file(id, climb).ok());
  CHECK(sh(*d, id, "cat /etc/climbed").out == "inside too");
  CHECK_FALSE(fs::exists("/etc/climbed"));
  runtime::file_write over_link;  // replaces the link itself, never its target
  over_link.path = "/abs-link";
  over_link.data = "replaced";
  REQUIRE(d->write_file(id, over_link).ok());
  CHECK(sh(*d, id, "test -L /abs-link || cat /abs-link; echo; cat /etc/shadow").out ==
        "replaced\nmachine-shadow\n");
  REQUIRE(d->remove_path(id, "/etc-link/written-through-a-link", false).ok());
  CHECK(sh(*d, id, "test -e /etc/written-through-a-link || echo gone").out == "gone\n");
  runtime::file_write via_proc;
  via_proc.path = "/proc-link/etc/pwned";
  CHECK_FALSE(d->write_file(id, via_proc).ok());
  CHECK(read_file("/etc/shadow") == host_shadow);
  CHECK_FALSE(fs::exists("/etc/pwned"));
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("disk_mb bounds a machine's writable space; the host is untouched", "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(dir, config_with(""));
  auto id = new_machine_id();
  guard.add(id);
  auto spec = spec_for(id, art);
  spec.resources.disk_mb = 64;
  auto placed = d->start(spec);
  REQUIRE(placed.ok());
  CHECK(placement_of(*placed).disk_mb == 64);

  // It sees at least disk_mb free on / (and /tmp: on its disk, like a VM's).
  auto avail_kb = sh(*d, id, "df -Pk / | tail -1 | awk '{print $4}'").out;
  INFO(avail_kb);
  CHECK(std::stoull(avail_kb) >= 64u * 1024);
  CHECK(sh(*d, id, "df -Pk /tmp | tail -1 | awk '{print $4}'").out == avail_kb);

  auto full = sh(*d, id, "dd if=/dev/zero of=/tmp/big bs=1M count=100");
  CHECK(full.exit.exit_code != 0);
  CHECK(full.err.find("No space left") != std::string::npos);
  runtime::file_write more;
  more.path = "/more";
  more.data = std::string(8 << 20, 'x');
  auto refused = d->write_file(id, more);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::resource_exhausted);
  CHECK(d->read_file(id, "/more", 1).error().code == errc::not_found);  // no half-written file

  // On the host it all lives in the machine's own sparse image.
  struct stat st {};
  REQUIRE(::stat(d->layout().disk_image(id).c_str(), &st) == 0);
  CHECK(static_cast<uint64_t>(st.st_size) == runtime::disk_image_bytes(64));
  CHECK(static_cast<uint64_t>(st.st_blocks) * 512 <= runtime::disk_image_bytes(64));
  CHECK(sh(*d, id, "rm /tmp/big; echo fits > /after; cat /after").out == "fits\n");
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("memory and CPU limits apply; running out of memory is reported as such",
          "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(dir, config_with("exec sleep 100000"));
  auto id = new_machine_id();
  guard.add(id);
  auto spec = spec_for(id, art);
  spec.resources.memory_mb = 32;
  spec.resources.cpu_count = 1;
  REQUIRE(d->start(spec).ok());
  auto cg = "/sys/fs/cgroup/memory/nullspace-machines/" + id;
  CHECK(read_file(cg + "/memory.limit_in_bytes") == "33554432\n");
  CHECK(read_file("/sys/fs/cgroup/cpu/nullspace-machines/" + id + "/cpu.cfs_quota_us") ==
        "100000\n");
  CHECK_FALSE(d->status(id).oom);

  auto r = sh(*d, id, R"(awk 'BEGIN { s = "x"; while (1) s = s s }')");
  CHECK(r.exit.oom);
  CHECK(r.exit.exit_code == 137);
  CHECK_FALSE(r.exit.killed);  // the kernel did it, not a kill()
  auto st = d->status(id);
  CHECK(st.oom);
  CHECK(st.machine == machine_status::state::running);
  auto fine = sh(*d, id, "echo alive");
  CHECK(fine.out == "alive\n");
  CHECK_FALSE(fine.exit.oom);
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("each machine has its own network: ten listen on :8000; internet off is loopback only",
          "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(
      dir, config_with("mkdir -p /tmp/www && echo \"I am $NAME\" > /tmp/www/index.html && "
                       "exec httpd -f -p 8000 -h /tmp/www"));
  std::vector<std::string> ids;
  std::vector<runtime::container_placement> placements;
  for (int i = 0; i < 10; ++i) {
    auto id = new_machine_id();
    guard.add(id);
    ids.push_back(id);
    auto spec = spec_for(id, art);
    spec.envs = {{"NAME", id}};
    spec.resources.internet_access = i % 2 == 0;
    auto placed = d->start(spec);
    REQUIRE(placed.ok());
    placements.push_back(placement_of(*placed));
  }
  runtime::ready_check port;
  port.type = runtime::ready_type::port;
  port.port = 8000;
  for (size_t i = 0; i < ids.size(); ++i) {
    eventually([&] { return d->probe_ready(ids[i], port).ready; }, ids[i] + " listening");
    auto fd = d->connect_port(ids[i], 8000);
    REQUIRE(fd.ok());
    CHECK(http_get(*fd).find("I am " + ids[i] + "\n") != std::string::npos);
  }
  auto refused = d->connect_port(ids[0], 8001);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::unavailable);

  std::set<std::string> guest_ips;
  for (size_t i = 0; i < ids.size(); ++i) {
    INFO(ids[i]);
    auto& p = placements[i];
    auto links = sh(*d, ids[i], "ls /sys/class/net").out;
    auto routes = sh(*d, ids[i], "ip route").out;
    if (i % 2 == 1) {
      CHECK_FALSE(p.internet);
      CHECK(links == "lo\n");
      CHECK(routes.empty());
      CHECK(p.veth.empty());
    } else {
      CHECK(p.internet);
      CHECK(links == "eth0\nlo\n");
      CHECK(routes.find("default via " + p.host_ip + " dev eth0") != std::string::npos);
      CHECK(sh(*d, ids[i], "ip -4 -o addr show eth0").out.find(p.guest_ip + "/30") !=
            std::string::npos);
      CHECK(p.guest_ip.starts_with("10.87."));
      CHECK(fs::exists("/sys/class/net/" + p.veth));
      CHECK(read_file("/sys/class/net/" + p.veth + "/ifalias") == ids[i] + "\n");
      guest_ips.insert(p.guest_ip);
    }
  }
  CHECK(guest_ips.size() == 5);

  // Machines do not reach each other (nor the host) through their links.
  auto other = sh(*d, ids[0], "wget -q -T 2 -O - http://" + placements[2].guest_ip + ":8000/");
  CHECK(other.exit.exit_code != 0);
  CHECK(other.out.find("I am") == std::string::npos);

  // Out to the world through NAT, when the host itself can resolve names.
  addrinfo* found = nullptr;
  if (::getaddrinfo("deb.debian.org", "80", nullptr, &found) == 0) {
    ::freeaddrinfo(found);
    // A name server may drop one query: a few tries.
    exec_output on;
    for (int attempt = 0; attempt < 3 && on.exit.exit_code != 0; ++attempt)
      on = sh(*d, ids[0], "nslookup deb.debian.org");
    INFO(on.out << on.err);
    CHECK(on.exit.exit_code == 0);
    CHECK(sh(*d, ids[1], "nslookup deb.debian.org").exit.exit_code != 0);
  } else {
    WARN("the host cannot resolve deb.debian.org: outbound access not checked");
  }
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("pause stops a machine's progress and resume continues it", "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(
      dir, config_with("i=0; while true; do i=$((i+1)); echo $i > /tmp/counter.new; "
                       "mv /tmp/counter.new /tmp/counter; sleep 0.01; done"));
  auto paused = new_machine_id(), control = new_machine_id();
  guard.add(paused);
  guard.add(control);
  REQUIRE(d->start(spec_for(paused, art)).ok());
  REQUIRE(d->start(spec_for(control, art)).ok());
  eventually([&] { return counter(*d, paused) >= 2 && counter(*d, control) >= 2; }, "counting");

  REQUIRE(d->pause(paused).ok());
  CHECK(d->status(paused).machine == machine_status::state::paused);
  REQUIRE(d->pause(paused).ok());  // again: still paused, no error
  auto frozen_at = counter(*d, paused);
  auto refused = d->exec(paused, {{"true"}, {}, "", "", ""}, {});
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == errc::failed_precondition);
  // While the control machine counts 20 more, the paused one counts none.
  auto base = counter(*d, control);
  eventually([&] { return counter(*d, control) >= base + 20; }, "the control machine counting");
  CHECK(counter(*d, paused) == frozen_at);

  REQUIRE(d->resume(paused).ok());
  CHECK(d->status(paused).machine == machine_status::state::running);
  eventually([&] { return counter(*d, paused) > frozen_at; }, "counting after resume");
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("a start command that fails is reported; the machine stays up for inspection",
          "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  struct start_case {
    std::string cmd;
    std::optional<int64_t> exit_status;
    int signal = 0;
    std::string output;
  } cases[] = {
      {"echo cannot bind >&2; exit 3", 3, 0, "cannot bind"},
      {"echo dying; kill -9 $$", std::nullopt, 9, "dying"},
      {"exec /no/such/server", 127, 0, "/no/such/server"},
  };
  for (auto& c : cases) {
    INFO(c.cmd);
    auto art = busybox_artifact(dir, config_with(c.cmd));
    auto id = new_machine_id();
    guard.add(id);
    REQUIRE(d->start(spec_for(id, art)).ok());
    eventually([&] { return !d->status(id).start_running; }, "the start command to end");
    auto st = d->status(id);
    CHECK(st.machine == machine_status::state::running);
    CHECK(st.start_exit_status == c.exit_status);
    CHECK(st.start_signal == c.signal);
    CHECK(start_output(*d, id).find(c.output) != std::string::npos);
    CHECK(sh(*d, id, "echo still-up").out == "still-up\n");
  }
  // Without a start command there is nothing to report.
  auto art = busybox_artifact(dir, config_with(""));
  auto id = new_machine_id();
  guard.add(id);
  REQUIRE(d->start(spec_for(id, art)).ok());
  auto st = d->status(id);
  CHECK(st.machine == machine_status::state::running);
  CHECK_FALSE(st.start_running);
  CHECK_FALSE(st.start_exit_status);
  CHECK(start_output(*d, id).empty());
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("ready checks are seen from inside the machine: port, url, file, command",
          "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(
      dir, config_with("while [ ! -e /tmp/go ]; do sleep 0.02; done; mkdir -p /tmp/www; "
                       "echo ok > /tmp/www/index.html; touch /tmp/ready; "
                       "exec httpd -f -p 8000 -h /tmp/www"));
  auto id = new_machine_id();
  guard.add(id);
  auto spec = spec_for(id, art);
  spec.resources.internet_access = false;
  REQUIRE(d->start(spec).ok());
  std::vector<runtime::ready_check> checks(4);
  checks[0].type = runtime::ready_type::port;
  checks[0].port = 8000;
  checks[1].type = runtime::ready_type::url;
  checks[1].url = "http://127.0.0.1:8000/index.html";
  checks[2].type = runtime::ready_type::file;
  checks[2].path = "/tmp/ready";
  checks[3].type = runtime::ready_type::command;
  checks[3].cmd = "test -f /tmp/ready && echo yes";
  for (auto& c : checks) {
    INFO(runtime::describe(c));
    auto before = d->probe_ready(id, c);
    CHECK_FALSE(before.ready);
    CHECK_FALSE(before.detail.empty());
  }
  CHECK(d->probe_ready(id, checks[3]).detail == "exit status 1");
  runtime::file_write go;
  go.path = "/tmp/go";
  REQUIRE(d->write_file(id, go).ok());
  for (auto& c : checks) {
    INFO(runtime::describe(c));
    eventually([&] { return d->probe_ready(id, c).ready; }, "the ready check");
  }
  CHECK(d->probe_ready(id, checks[3]).detail == "exit status 0: yes");
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("stop sends SIGTERM to the start command and SIGKILL after the grace period",
          "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto polite = busybox_artifact(dir, config_with("trap 'echo got SIGTERM; exit 0' TERM; echo up; "
                                                  "while true; do sleep 0.02; done"));
  auto stubborn =
      busybox_artifact(dir, config_with("trap '' TERM; echo up; while true; do sleep 0.02; done"));
  for (auto* art : {&polite, &stubborn}) {
    auto id = new_machine_id();
    guard.add(id);
    auto placed = d->start(spec_for(id, *art));
    REQUIRE(placed.ok());
    auto p = placement_of(*placed);
    eventually([&] { return start_output(*d, id).find("up") != std::string::npos; }, "up");
    // Kept open: the file is removed with the machine, the bytes stay readable here.
    auto log = ::open(d->layout().start_log(id).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(log >= 0);
    bool graceful = art == &polite;
    auto grace = graceful ? std::chrono::milliseconds(120000) : std::chrono::milliseconds(200);
    REQUIRE(d->stop(id, grace).ok());
    std::string seen(4096, '\0');
    seen.resize(
        static_cast<size_t>(std::max<ssize_t>(0, ::pread(log, seen.data(), seen.size(), 0))));
    ::close(log);
    CHECK((seen.find("got SIGTERM") != std::string::npos) == graceful);
    CHECK_FALSE(runtime::process_alive(p.init_pid, p.init_start));
    CHECK(d->status(id).machine == machine_status::state::gone);
    check_no_traces(data, {id});
  }
  {
    // A template's STOPSIGNAL is what the start command gets; SIGTERM never comes.
    auto c = config_with(
        "trap 'echo got SIGUSR1; exit 0' USR1; trap 'echo got SIGTERM; exit 0' TERM; echo up; "
        "while true; do sleep 0.02; done");
    c.stop_signal = "SIGUSR1";
    auto art = busybox_artifact(dir, c);
    auto id = new_machine_id();
    guard.add(id);
    REQUIRE(d->start(spec_for(id, art)).ok());
    eventually([&] { return start_output(*d, id).find("up") != std::string::npos; }, "up");
    auto log = ::open(d->layout().start_log(id).c_str(), O_RDONLY | O_CLOEXEC);
    REQUIRE(log >= 0);
    REQUIRE(d->stop(id, std::chrono::milliseconds(120000)).ok());
    std::string seen(4096, '\0');
    seen.resize(
        static_cast<size_t>(std::max<ssize_t>(0, ::pread(log, seen.data(), seen.size(), 0))));
    ::close(log);
    CHECK(seen.find("got SIGUSR1") != std::string::npos);
    CHECK(seen.find("got SIGTERM") == std::string::npos);
  }
  // A paused machine stops too.
  auto id = new_machine_id();
  guard.add(id);
  REQUIRE(d->start(spec_for(id, polite)).ok());
  REQUIRE(d->pause(id).ok());
  REQUIRE(d->stop(id, std::chrono::milliseconds(120000)).ok());
  CHECK(d->status(id).machine == machine_status::state::gone);
  // And destroy alone ends a paused machine.
  auto frozen = new_machine_id();
  guard.add(frozen);
  auto placed = d->start(spec_for(frozen, polite));
  REQUIRE(placed.ok());
  REQUIRE(d->pause(frozen).ok());
  d->destroy(frozen);
  auto p = placement_of(*placed);
  CHECK_FALSE(runtime::process_alive(p.init_pid, p.init_start));
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("a restarted driver adopts running machines; a machine that died is gone and cleaned",
          "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(dir, config_with("echo hello from the start; exec sleep 100000"));
  auto kept = new_machine_id(), dies = new_machine_id();
  guard.add(kept);
  guard.add(dies);
  auto placed_kept = d->start(spec_for(kept, art));
  auto placed_dies = d->start(spec_for(dies, art));
  REQUIRE(placed_kept.ok());
  REQUIRE(placed_dies.ok());
  auto p_kept = placement_of(*placed_kept), p_dies = placement_of(*placed_dies);
  runtime::file_write note;
  note.path = "/root/note";
  note.data = "written before the restart";
  REQUIRE(d->write_file(kept, note).ok());
  // One read-only mount of the artifact serves both machines.
  CHECK(mounts_under(data + "/machines/.artifacts") == 1);

  // "Restart": the driver goes, the containers stay; one of them dies meanwhile.
  d.reset();
  CHECK(runtime::process_alive(p_kept.init_pid, p_kept.init_start));
  ::kill(p_dies.init_pid, SIGKILL);
  eventually([&] { return !runtime::process_alive(p_dies.init_pid, p_dies.init_start); },
             "the killed machine to end");

  d = open_driver(data);
  guard.rebind(*d);
  auto found = d->host_machines();
  CHECK(std::find(found.begin(), found.end(), kept) != found.end());
  CHECK(std::find(found.begin(), found.end(), dies) != found.end());
  CHECK(d->status(kept).machine == machine_status::state::gone);  // not adopted yet

  auto adopted = d->adopt(kept, *placed_kept);
  REQUIRE(adopted.ok());
  CHECK(adopted->machine == machine_status::state::running);
  CHECK(adopted->start_running);
  CHECK(sh(*d, kept, "cat /root/note").out == "written before the restart");
  CHECK(start_output(*d, kept).find("hello from the start") != std::string::npos);

  auto lost = d->adopt(dies, *placed_dies);
  REQUIRE_FALSE(lost.ok());
  CHECK(lost.error().code == errc::not_found);
  d->destroy(dies);
  auto left = traces(data, {dies});
  left.mounts = 0;  // the artifact mount stays for `kept`
  INFO(describe(left));
  CHECK(left.loops == 2);  // `kept`'s disk and the artifact's image, which it uses
  CHECK(left.disks == 1);
  CHECK(mounts_under(data + "/machines/.artifacts") == 1);
  CHECK(runtime::loops_of(d->layout().disk_image(kept)) == 1);
  CHECK(runtime::loops_of(d->layout().disk_image(dies)) == 0);
  CHECK(runtime::machine_cgroup_dirs(dies) == 0);
  CHECK_FALSE(fs::exists(data + "/machines/" + dies));

  // Placements that are not the driver's are refused without harm.
  CHECK(d->adopt(kept, {"microvm", "{}"}).error().code == errc::invalid_argument);
  CHECK(d->adopt(kept, {"container", "not json"}).error().code == errc::invalid_argument);
  CHECK(d->status(kept).machine == machine_status::state::running);

  REQUIRE(d->stop(kept, std::chrono::milliseconds(120000)).ok());
  CHECK(mounts_under(data + "/machines/.artifacts") == 0);
  destroy_all(*d, data, guard.ids());
  CHECK(d->host_machines().empty());
}

TEST_CASE("bad machine requests are clear errors and leave nothing behind", "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto art = busybox_artifact(dir, config_with(""));
  auto id = new_machine_id();
  guard.add(id);

  auto bad_id = spec_for("../escape", art);
  CHECK(d->start(bad_id).error().code == errc::invalid_argument);
  auto no_artifact = spec_for(id, art);
  no_artifact.artifact_dir = dir.sub("nothing-here");
  CHECK(d->start(no_artifact).error().code == errc::failed_precondition);
  auto bad_workdir = spec_for(id, art);
  bad_workdir.config.workdir = "/etc/passwd/sub";
  auto failed = d->start(bad_workdir);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message.find("workdir") != std::string::npos);
  check_no_traces(data, {id});

  REQUIRE(d->start(spec_for(id, art)).ok());
  CHECK(d->start(spec_for(id, art)).error().code == errc::conflict);
  CHECK(d->status(id).machine == machine_status::state::running);

  CHECK(d->exec("m_unknown", {{"true"}, {}, "", "", ""}, {}).error().code == errc::not_found);
  CHECK(d->exec(id, {{}, {}, "", "", ""}, {}).error().code == errc::invalid_argument);
  CHECK(d->exec(id, {{"true"}, {}, "relative", "", ""}, {}).error().code == errc::invalid_argument);
  CHECK(d->exec(id, {{"true"}, {{"A=B", "x"}}, "", "", ""}, {}).error().code ==
        errc::invalid_argument);
  CHECK(d->read_file("m_unknown", "/etc/passwd", 10).error().code == errc::not_found);
  CHECK(d->connect_port("m_unknown", 80).error().code == errc::not_found);
  CHECK(d->pause("m_unknown").error().code == errc::not_found);
  CHECK(d->read_start_output("m_unknown", 0, 10).error().code == errc::not_found);
  CHECK(d->status("m_unknown").machine == machine_status::state::gone);
  CHECK_FALSE(d->probe_ready("m_unknown", {}).ready);
  d->destroy("m_unknown");
  d->destroy("../../etc");
  destroy_all(*d, data, guard.ids());
  d->destroy(id);  // twice: nothing happens
}

TEST_CASE("a python:3.11 machine serves HTTP and runs python commands", "[machine_driver]") {
  REQUIRE_MACHINES();
  temp_dir dir;
  auto data = dir.sub("data");
  auto c = config_with("exec python3 -m http.server 8000 --directory /srv");
  auto art = make_test_artifact(dir, "python:3.11", {{"/srv/hello.txt", "hello python\n"}}, c);
  if (!art) {
    WARN("skipped: python:3.11 is not among the shared test images ($NULLSPACE_TEST_IMAGES)");
    return;
  }
  auto d = open_driver(data);
  machine_guard guard(*d);
  auto id = new_machine_id();
  guard.add(id);
  REQUIRE(d->start(spec_for(id, *art)).ok());
  runtime::ready_check url;
  url.type = runtime::ready_type::url;
  url.url = "http://127.0.0.1:8000/hello.txt";
  eventually([&] { return d->probe_ready(id, url).ready; }, "python's http.server");
  auto fd = d->connect_port(id, 8000);
  REQUIRE(fd.ok());
  CHECK(http_get(*fd).find("hello.txt") != std::string::npos);
  CHECK(sh(*d, id, "python3 -c 'import sys; print(sys.version_info[:2])'").out == "(3, 11)\n");
  runtime::command_spec py;
  py.argv = {"python3", "-c", "import sys; data = sys.stdin.read(); print(len(data))"};
  py.stdin_data = std::string(100000, 'z');
  CHECK(run_in(*d, id, py).out == "100000\n");
  destroy_all(*d, data, guard.ids());
}

TEST_CASE("nothing of the suite's machines is left on the host", "[machine_driver]") {
  REQUIRE_MACHINES();
  int cgroups = 0, links = 0;
  for (auto& id : all_test_machine_ids()) {
    cgroups += runtime::machine_cgroup_dirs(id);
    if (fs::exists("/sys/class/net/" + runtime::machine_layout::veth(id))) ++links;
  }
  CHECK(cgroups == 0);
  CHECK(links == 0);
  // Mounts (roots, disks, netns files, artifacts) and loop devices of every
  // data dir the suite used.
  for (auto& data : all_test_data_dirs()) {
    INFO(data);
    CHECK(mounts_under(data) == 0);
    CHECK(runtime::loops_under(data) == 0);
  }
}

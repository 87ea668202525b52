// The template registry through the embedded engine: tags that attach when a
// build becomes ready, promote, aliases, reserve, rename, visibility across
// tenants, delete, build history with stable pagination, and refs by name or
// tag as a build's base. Real RocksDB and real builds (host executor, or the
// sandbox over busybox where an artifact is needed).
#include <simdjson.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>

#include "actors/engine/engine_access.hpp"
#include "nullspace/engine.hpp"
#include "storage/store.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

std::unique_ptr<engine> open_host(const temp_dir& dir) {
  engine_options o;
  o.data_dir = dir.sub("data");
  auto e = engine::open(o);
  REQUIRE(e.ok());
  return std::move(e.value());
}

build_view finished(engine& eng, const std::string& json, const std::string& tenant = "default") {
  auto b = eng.submit(json, nullspace::test::as_tenant(tenant));
  INFO((b ? "" : b.error().message));
  REQUIRE(b.ok());
  auto done = eng.wait_until_terminal(b->id(), generous, nullspace::test::as_tenant(tenant));
  REQUIRE(done.ok());
  return done.value();
}

// A one-step build request; `extra` holds more top-level fields (",\"tags\":[…]").
std::string named(const std::string& name, const std::string& cmd, const std::string& extra = "") {
  return run_request({cmd}, name, extra.empty() ? extra : extra.substr(1));
}

template_list_options public_only() {
  template_list_options o;
  o.visibility = "public";
  return o;
}

// {tag: build id} of a template.
std::map<std::string, std::string> tags_of(engine& eng, const std::string& ref,
                                           const std::string& tenant = "default") {
  auto j = eng.get_template_json(nullspace::test::as_ref(ref), nullspace::test::as_tenant(tenant));
  INFO((j ? "" : j.error().message));
  REQUIRE(j.ok());
  simdjson::dom::parser p;
  auto doc = p.parse(j.value());
  std::map<std::string, std::string> out;
  for (auto [k, v] : doc["template"]["tags"].get_object())
    out[std::string(k)] = std::string(v.get_string().value());
  return out;
}

std::vector<std::string> current_tags(engine& eng, const std::string& id,
                                      const std::string& tenant = "default") {
  auto st = eng.get_status(nullspace::test::as_build_id(id), nullspace::log_offset(0), 0,
                           nullspace::test::as_tenant(tenant));
  REQUIRE(st.ok());
  return st->build.record.current_tags;
}

// Ids of one list_builds page, and its next cursor ("" at the end).
std::pair<std::vector<std::string>, std::string> page(engine& eng, const std::string& ref,
                                                      build_list_options o,
                                                      const std::string& tenant = "default") {
  auto j =
      eng.list_builds_json(nullspace::test::as_ref(ref), o, nullspace::test::as_tenant(tenant));
  INFO((j ? "" : j.error().message));
  REQUIRE(j.ok());
  simdjson::dom::parser p;
  auto doc = p.parse(j.value());
  std::vector<std::string> ids;
  for (auto b : doc["builds"].get_array()) {
    ids.emplace_back(b["id"].get_string().value());
    // Every row carries the history fields.
    CHECK(b["cache_summary"].is_object());
    CHECK(b["artifact_availability"].is_string());
    CHECK(b["promotability"].is_string());
    CHECK(!b["retention_expires_at"].error());
  }
  std::string_view next;
  std::string cursor;
  if (doc["next_cursor"].get(next) == simdjson::SUCCESS) cursor = std::string(next);
  return {ids, cursor};
}

}  // namespace

TEST_CASE("tags given at build time attach when the build is ready; a failed build moves none",
          "[templates]") {
  temp_dir dir;
  auto eng = open_host(dir);
  auto first = finished(*eng, named("web", "true", R"(,"tags":["stable","latest"])"));
  REQUIRE(first.record.status == build_status::ready);
  auto tags = tags_of(*eng, "web");
  CHECK(tags["stable"] == first.record.id);
  CHECK(tags["latest"] == first.record.id);
  CHECK(current_tags(*eng, first.record.id) == std::vector<std::string>{"latest", "stable"});

  auto failed = finished(*eng, named("web", "exit 3", R"(,"tags":["stable"])"));
  REQUIRE(failed.record.status == build_status::error);
  CHECK(tags_of(*eng, "web")["stable"] == first.record.id);
  CHECK(current_tags(*eng, failed.record.id).empty());

  auto second = finished(*eng, named("web", "true", R"(,"tags":["stable"])"));
  tags = tags_of(*eng, "web");
  CHECK(tags["stable"] == second.record.id);
  CHECK(tags["latest"] == first.record.id);
  CHECK(current_tags(*eng, first.record.id) == std::vector<std::string>{"latest"});
  CHECK(current_tags(*eng, second.record.id) == std::vector<std::string>{"stable"});

  // A ref resolves by tag, by canonical id, and a bare name means `latest`.
  auto j = eng->get_template_json(nullspace::test::as_ref("web:stable"));
  REQUIRE(j.ok());
  CHECK(j->find("\"build_id\":\"" + second.record.id + "\"") != std::string::npos);
  j = eng->get_template_json(nullspace::test::as_ref("default/web"));
  REQUIRE(j.ok());
  CHECK(j->find("\"build_id\":\"" + first.record.id + "\"") != std::string::npos);
  CHECK(j->find("\"latest_ready_build\":{\"id\":\"" + second.record.id) != std::string::npos);
  CHECK(eng->get_template_json(nullspace::test::as_ref("web:nope")).error().code ==
        errc::not_found);
  CHECK(eng->get_template_json(nullspace::test::as_ref("web@" + failed.record.id)).ok());
  CHECK(parse_template_ref("Bad Ref").error().code == errc::invalid_argument);
}

TEST_CASE("templates of other tenants: private is invisible, public is readable, never writable",
          "[templates]") {
  temp_dir dir;
  auto eng = open_host(dir);
  auto b = finished(*eng, named("tool", "true", R"(,"tags":["v1"])"), "acme");
  REQUIRE(b.record.status == build_status::ready);
  CHECK(b.record.namespace_name == "acme");

  CHECK(eng->get_template_json(nullspace::test::as_ref("acme/tool"),
                               nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::not_found);
  CHECK(eng->list_builds_json(nullspace::test::as_ref("acme/tool"), {},
                              nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::not_found);
  CHECK(eng->set_visibility(nullspace::test::as_ref("acme/tool"), "public",
                            nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::not_found);
  auto listed = eng->list_templates_json(public_only(), nullspace::test::as_tenant("globex"));
  REQUIRE(listed.ok());
  CHECK(listed->find("\"tool\"") == std::string::npos);

  REQUIRE(eng->set_visibility(nullspace::test::as_ref("tool"), "public",
                              nullspace::test::as_tenant("acme"))
              .ok());
  CHECK(eng->get_template_json(nullspace::test::as_ref("acme/tool:v1"),
                               nullspace::test::as_tenant("globex"))
            .ok());
  CHECK(page(*eng, "acme/tool", {}, "globex").first == std::vector<std::string>{b.record.id});
  listed = eng->list_templates_json(public_only(), nullspace::test::as_tenant("globex"));
  REQUIRE(listed.ok());
  CHECK(listed->find("\"tool\"") != std::string::npos);
  // Another tenant's own listing does not fill up with everyone's public templates.
  listed = eng->list_templates_json({}, nullspace::test::as_tenant("globex"));
  REQUIRE(listed.ok());
  CHECK(listed->find("\"tool\"") == std::string::npos);

  // Readable, never writable.
  CHECK(eng->assign_tags(nullspace::test::as_ref("acme/tool:v1"), {"prod"},
                         nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::permission_denied);
  CHECK(eng->remove_tag(nullspace::test::as_ref("acme/tool"), "v1",
                        nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::permission_denied);
  CHECK(eng->add_alias(nullspace::test::as_ref("acme/tool"), "t",
                       nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::permission_denied);
  CHECK(eng->rename(nullspace::test::as_ref("acme/tool"), "mine", "",
                    nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::permission_denied);
  CHECK(eng->delete_template(nullspace::test::as_ref("acme/tool"),
                             nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::permission_denied);
  CHECK(eng->promote(b.id(), "x", nullspace::test::as_tenant("globex")).error().code ==
        errc::not_found);
  auto intruder = eng->submit(named("tool", "true", R"(,"namespace":"acme")"),
                              nullspace::test::as_tenant("globex"));
  REQUIRE(!intruder.ok());
  CHECK(intruder.error().code == errc::permission_denied);
  CHECK(eng->reserve_name("acme", "other", nullspace::test::as_tenant("globex")).error().code ==
        errc::permission_denied);

  REQUIRE(eng->set_visibility(nullspace::test::as_ref("acme/tool"), "private",
                              nullspace::test::as_tenant("acme"))
              .ok());
  CHECK(eng->get_template_json(nullspace::test::as_ref("acme/tool"),
                               nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::not_found);
}

TEST_CASE("aliases resolve to their template and never shadow a name", "[templates]") {
  temp_dir dir;
  auto eng = open_host(dir);
  auto b = finished(*eng, named("api-server", "true", R"(,"tags":["stable"])"));
  auto other = finished(*eng, named("worker", "true"));
  (void)other;
  REQUIRE(eng->add_alias(nullspace::test::as_ref("api-server"), "api").ok());
  CHECK(tags_of(*eng, "api:stable")["stable"] == b.record.id);
  auto aliases = eng->list_aliases_json(nullspace::test::as_ref("api-server"));
  REQUIRE(aliases.ok());
  CHECK(aliases.value() == R"({"aliases":["api"]})");
  CHECK(eng->add_alias(nullspace::test::as_ref("api-server"), "worker").error().code ==
        errc::conflict);
  CHECK(eng->add_alias(nullspace::test::as_ref("worker"), "api").error().code == errc::conflict);
  CHECK(eng->reserve_name("", "api").error().code == errc::conflict);
  // A build under an alias is refused with the real name.
  auto under_alias = eng->submit(named("api", "true"));
  REQUIRE(!under_alias.ok());
  CHECK(under_alias.error().code == errc::conflict);
  CHECK(under_alias.error().message.find("api-server") != std::string::npos);

  CHECK(eng->remove_alias(nullspace::test::as_ref("api-server"), "nope").error().code ==
        errc::not_found);
  REQUIRE(eng->remove_alias(nullspace::test::as_ref("api-server"), "api").ok());
  CHECK(eng->get_template_json(nullspace::test::as_ref("api")).error().code == errc::not_found);
}

TEST_CASE("reserve_name holds a name until builds use it", "[templates]") {
  temp_dir dir;
  auto eng = open_host(dir);
  auto r = eng->reserve_name("", "future");
  REQUIRE(r.ok());
  CHECK(r->namespace_name == "default");
  CHECK(r->json.find("\"latest_ready_build\":null") != std::string::npos);
  CHECK(eng->reserve_name("", "future").error().code == errc::conflict);
  CHECK(eng->reserve_name("", "Not A Name").error().code == errc::invalid_argument);
  auto b = finished(*eng, named("future", "true", R"(,"tags":["v1"])"));
  CHECK(tags_of(*eng, "future")["v1"] == b.record.id);
  // A tenant's own extra namespace, claimed by reserving in it.
  REQUIRE(eng->reserve_name("team-a", "svc").ok());
  CHECK(finished(*eng, named("svc", "true", R"(,"namespace":"team-a")")).record.status ==
        build_status::ready);
  CHECK(eng->reserve_name("team-a", "x", nullspace::test::as_tenant("globex")).error().code ==
        errc::permission_denied);
}

TEST_CASE("a known tenant's default namespace is its own before it is used", "[templates]") {
  temp_dir dir;
  engine_options o;
  o.data_dir = dir.sub("data");
  o.tenants = {"acme", "globex"};
  auto opened = engine::open(o);
  REQUIRE(opened.ok());
  auto& eng = *opened.value();
  // acme has built nothing yet, and still globex cannot take its namespace.
  CHECK(eng.reserve_name("acme", "x", nullspace::test::as_tenant("globex")).error().code ==
        errc::permission_denied);
  auto taken = eng.submit(named("app", "true", R"(,"namespace":"acme")"),
                          nullspace::test::as_tenant("globex"));
  REQUIRE(!taken.ok());
  CHECK(taken.error().code == errc::permission_denied);
  CHECK(finished(eng, named("app", "true"), "acme").record.status == build_status::ready);
  CHECK(finished(eng, named("app", "true"), "globex").record.status == build_status::ready);

  // A tenant whose name is not a name has no default namespace: it must give one.
  auto unnamed = eng.submit(named("app", "true"), nullspace::test::as_tenant("Acme Corp"));
  REQUIRE(!unnamed.ok());
  CHECK(unnamed.error().code == errc::invalid_argument);
  CHECK(unnamed.error().field == "namespace");
  CHECK(finished(eng, named("app", "true", R"(,"namespace":"corp")"), "Acme Corp").record.status ==
        build_status::ready);
}

TEST_CASE("rename moves tags, aliases and history; refused while a build runs", "[templates]") {
  temp_dir dir;
  auto eng = open_host(dir);
  auto old1 = finished(*eng, named("old", "true", R"(,"tags":["stable"])"));
  auto old2 = finished(*eng, named("old", "exit 1"));
  REQUIRE(eng->add_alias(nullspace::test::as_ref("old"), "legacy").ok());

  auto running = eng->submit(named("old", "echo started; sleep 600"));
  REQUIRE(running.ok());
  REQUIRE(wait_for_output(*eng, running->record.id, "started") == "started");
  auto busy = eng->rename(nullspace::test::as_ref("old"), "new");
  REQUIRE(!busy.ok());
  CHECK(busy.error().code == errc::conflict);
  CHECK(busy.error().message.find(running->record.id) != std::string::npos);
  CHECK(eng->delete_template(nullspace::test::as_ref("old")).error().code == errc::conflict);
  REQUIRE(eng->cancel(running->id(), "test").ok());

  finished(*eng, named("taken", "true"));
  CHECK(eng->rename(nullspace::test::as_ref("old"), "taken").error().code == errc::conflict);
  auto renamed = eng->rename(nullspace::test::as_ref("old"), "new");
  REQUIRE(renamed.ok());
  CHECK(renamed->name == "new");
  CHECK(eng->get_template_json(nullspace::test::as_ref("old")).error().code == errc::not_found);
  CHECK(tags_of(*eng, "new")["stable"] == old1.record.id);
  CHECK(tags_of(*eng, "legacy")["stable"] == old1.record.id);  // the alias came along
  auto history = page(*eng, "new", {}).first;
  CHECK(history == std::vector<std::string>{running->record.id, old2.record.id, old1.record.id});
  // The builds carry the new name: their canonical ref follows.
  auto st = eng->get_status(old1.id(), nullspace::log_offset(0), 0);
  REQUIRE(st.ok());
  CHECK(st->build.json().find("\"canonical_ref\":\"default/new@" + old1.record.id) !=
        std::string::npos);
  // A build started after the rename under the old name starts a new family.
  auto fresh = finished(*eng, named("old", "true"));
  CHECK(page(*eng, "old", {}).first == std::vector<std::string>{fresh.record.id});
  // The new name may be one of its own aliases (the alias goes).
  auto to_alias = eng->rename(nullspace::test::as_ref("new"), "legacy");
  REQUIRE(to_alias.ok());
  CHECK(to_alias->json.find("\"aliases\":[]") != std::string::npos);
  CHECK(tags_of(*eng, "legacy")["stable"] == old1.record.id);
  CHECK(eng->get_template_json(nullspace::test::as_ref("new")).error().code == errc::not_found);
}

TEST_CASE("delete removes the template, its tags, aliases and history", "[templates]") {
  temp_dir dir;
  auto eng = open_host(dir);
  auto b = finished(*eng, named("gone", "true", R"(,"tags":["v1"])"));
  auto al = eng->add_alias(nullspace::test::as_ref("gone"), "g");
  INFO((al ? "" : al.error().message));
  REQUIRE(al.ok());
  auto d = eng->delete_template(nullspace::test::as_ref("gone"));
  REQUIRE(d.ok());
  CHECK(eng->get_template_json(nullspace::test::as_ref("gone")).error().code == errc::not_found);
  CHECK(eng->get_template_json(nullspace::test::as_ref("g")).error().code == errc::not_found);
  CHECK(eng->list_builds_json(nullspace::test::as_ref("gone"), {}).error().code == errc::not_found);
  CHECK(current_tags(*eng, b.record.id).empty());
  // The build itself stays readable by id; the name is free again.
  CHECK(eng->get_status(b.id()).ok());
  CHECK(eng->reserve_name("", "gone").ok());
  CHECK(page(*eng, "gone", {}).first.empty());
  // The new template of that name does not inherit the old builds.
  CHECK(eng->get_template_json(nullspace::test::as_ref("gone@" + b.record.id)).error().code ==
        errc::not_found);
  CHECK(eng->delete_template(nullspace::test::as_ref("never")).error().code == errc::not_found);
}

TEST_CASE("list_builds: full history newest first, filters, cursor stable under inserts",
          "[templates]") {
  temp_dir dir;
  auto eng = open_host(dir);
  std::vector<std::string> ids;  // oldest first
  ids.push_back(finished(*eng, named("hist", "true", R"(,"tags":["stable"])")).record.id);
  ids.push_back(finished(*eng, named("hist", "exit 1")).record.id);
  auto c = eng->submit(named("hist", "echo up; sleep 600"));
  REQUIRE(c.ok());
  REQUIRE(wait_for_output(*eng, c->record.id, "up") == "up");
  REQUIRE(eng->cancel(c->id(), "not needed").ok());
  ids.push_back(c->record.id);
  for (int i = 0; i < 3; ++i) ids.push_back(finished(*eng, named("hist", "true")).record.id);
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());
  CHECK(page(*eng, "hist", {}).first == newest_first);

  build_list_options failed_only;
  failed_only.status = build_status::error;
  CHECK(page(*eng, "hist", failed_only).first == std::vector<std::string>{ids[1]});
  build_list_options cancelled;
  cancelled.status = build_status::cancelled;
  CHECK(page(*eng, "hist", cancelled).first == std::vector<std::string>{ids[2]});
  build_list_options tagged;
  tagged.tagged = true;
  CHECK(page(*eng, "hist", tagged).first == std::vector<std::string>{ids[0]});
  tagged.tagged = false;
  CHECK(page(*eng, "hist", tagged).first.size() == 5);
  build_list_options buildkit;
  buildkit.backend = "buildkit";
  CHECK(page(*eng, "hist", buildkit).first.empty());

  // Pages of 2; builds created between pages never shift or repeat a row.
  build_list_options o;
  o.limit = 2;
  std::vector<std::string> seen;
  auto [first, cursor] = page(*eng, "hist", o);
  seen.insert(seen.end(), first.begin(), first.end());
  std::vector<std::string> inserted;
  while (!cursor.empty()) {
    inserted.push_back(finished(*eng, named("hist", "true")).record.id);
    o.cursor = cursor;
    auto [ids_page, next] = page(*eng, "hist", o);
    seen.insert(seen.end(), ids_page.begin(), ids_page.end());
    cursor = next;
  }
  CHECK(seen == newest_first);
  // The new builds are at the head of a fresh listing.
  o = {};
  o.limit = static_cast<size_t>(inserted.size());
  auto head = page(*eng, "hist", o).first;
  CHECK(head == std::vector<std::string>(inserted.rbegin(), inserted.rend()));
  o.cursor = "not-a-cursor";
  CHECK(eng->list_builds_json(nullspace::test::as_ref("hist"), o).error().code ==
        errc::invalid_argument);
}

namespace {

std::string busybox(const std::string& name, const std::string& cmd,
                    const std::string& extra = "") {
  return R"({"name":")" + name +
         R"(","builder":{"source":{"type":"image","image":"busybox"},"steps":[{"type":"run","cmd":")" +
         cmd + R"("}]})" + extra + "}";
}

std::string promotability(engine& eng, const std::string& id) {
  auto st = eng.get_status(nullspace::test::as_build_id(id), nullspace::log_offset(0), 0);
  REQUIRE(st.ok());
  auto j = st->build.json();
  auto at = j.find("\"promotability\":\"");
  REQUIRE(at != std::string::npos);
  at += 17;
  return j.substr(at, j.find('"', at) - at);
}

}  // namespace

TEST_CASE("promote moves a tag to a ready build with its artifact; refs by tag are bases",
          "[templates]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto v1 = build(*eng, busybox("base", "echo one > /version", R"(,"tags":["stable"])"));
  REQUIRE(v1.record.status == build_status::ready);
  auto v2 = build(*eng, busybox("base", "echo two > /version"));
  REQUIRE(v2.record.status == build_status::ready);
  CHECK(promotability(*eng, v2.record.id) == "promotable");
  auto broken = build(*eng, busybox("base", "exit 7"));

  // A child by tag sees what the tagged build made.
  auto child_request = [](const std::string& ref) {
    return R"({"name":"child","builder":{"source":{"type":"template","ref":")" + ref +
           R"("},"steps":[{"type":"run","cmd":"cat /version"}]}})";
  };
  auto c1 = build(*eng, child_request("base:stable"));
  REQUIRE(c1.record.status == build_status::ready);
  CHECK(contains(output(*eng, c1.record.id), "one"));

  auto p = eng->promote(v2.id(), "stable");
  REQUIRE(p.ok());
  CHECK(p->record.current_tags == std::vector<std::string>{"stable"});
  CHECK(tags_of(*eng, "base")["stable"] == v2.record.id);
  CHECK(current_tags(*eng, v1.record.id).empty());
  auto c2 = build(*eng, child_request("base:stable"));
  REQUIRE(c2.record.status == build_status::ready);
  CHECK(contains(output(*eng, c2.record.id), "two"));
  // By alias and canonical ref too; an unknown tag says so.
  REQUIRE(eng->add_alias(nullspace::test::as_ref("base"), "b").ok());
  CHECK(build(*eng, child_request("b@" + v1.record.id)).record.status == build_status::ready);
  auto missing = build(*eng, child_request("base:nope"));
  CHECK(failure(missing).find("has no tag 'nope'") != std::string::npos);

  auto refused = eng->promote(broken.id(), "stable");
  REQUIRE(!refused.ok());
  CHECK(refused.error().code == errc::failed_precondition);
  CHECK(refused.error().message.find("not ready") != std::string::npos);
  CHECK(eng->promote(v2.id(), "Bad Tag").error().code == errc::invalid_argument);
  CHECK(eng->promote(nullspace::test::as_build_id("tb_nope"), "stable").error().code ==
        errc::not_found);
  // assign_tags by ref names the build.
  REQUIRE(eng->assign_tags(nullspace::test::as_ref("base:stable"), {"production"}).ok());
  CHECK(tags_of(*eng, "base")["production"] == v2.record.id);
  CHECK(eng->assign_tags(nullspace::test::as_ref("base@" + broken.record.id), {"x"}).error().code ==
        errc::failed_precondition);
}

namespace {

const int64_t hour = 3600 * 1000;

// A sandboxed engine on a fake clock: untagged ready builds are kept 2 hours,
// failed ones 1 hour.
engine_options fake_clock_options(const temp_dir& dir, std::atomic<int64_t>& now) {
  auto o = sandbox_options(dir);
  o.clock = [&now] { return now.load(); };
  o.retention.untagged_ready = std::chrono::hours(2);
  o.retention.failed = std::chrono::hours(1);
  return o;
}

}  // namespace

TEST_CASE("retention deletes expired artifacts and their layers; tagged builds stay",
          "[templates]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  std::atomic<int64_t> now{1'000'000'000'000};
  auto eng = open_sandbox(fake_clock_options(dir, now));
  auto artifact_dir = [&](const build_view& b) {
    return dir.sub("data/artifacts/") + b.record.artifact->id;
  };

  auto kept = build(*eng, busybox("app", "echo kept > /k", R"(,"tags":["stable"])"));
  auto loose = build(*eng, busybox("app", "echo loose > /l"));
  auto twin = build(*eng, busybox("app", "echo loose > /l"));  // same artifact as `loose`
  auto failed = build(*eng, busybox("app", "exit 1"));
  REQUIRE(kept.record.status == build_status::ready);
  REQUIRE(loose.record.status == build_status::ready);
  REQUIRE(twin.record.artifact->id == loose.record.artifact->id);
  CHECK(kept.record.retention_expires_ms == 0);
  CHECK(loose.record.retention_expires_ms == now + 2 * hour);
  CHECK(failed.record.retention_expires_ms == now + hour);

  // Nothing is due yet.
  auto s = eng->sweep_retention();
  REQUIRE(s.ok());
  CHECK(s->expired == 0);

  // `twin` keeps the shared artifact while `loose` expires.
  now += hour + 1;
  s = eng->sweep_retention();
  REQUIRE(s.ok());
  CHECK(s->expired == 1);  // the failed build
  REQUIRE(eng->promote(twin.id(), "next").ok());
  now += hour;
  s = eng->sweep_retention();
  REQUIRE(s.ok());
  CHECK(s->expired == 1);
  CHECK(s->artifacts_deleted == 0);
  auto st = eng->get_status(loose.id(), nullspace::log_offset(0), 0);
  CHECK(st->build.record.artifact_availability == "expired");
  CHECK(promotability(*eng, loose.record.id) == "expired");
  auto late = eng->promote(loose.id(), "stable");
  REQUIRE(!late.ok());
  CHECK(late.error().code == errc::failed_precondition);
  CHECK(std::filesystem::exists(artifact_dir(twin)));

  // Untagging starts the clock; the last holder's expiry deletes the files and
  // the layers only it used, with their cache entries.
  auto layers_before = std::distance(std::filesystem::directory_iterator(dir.sub("data/layers")),
                                     std::filesystem::directory_iterator());
  REQUIRE(eng->remove_tag(nullspace::test::as_ref("app"), "next").ok());
  CHECK(
      eng->get_status(twin.id(), nullspace::log_offset(0), 0)->build.record.retention_expires_ms ==
      now + 2 * hour);
  now += 2 * hour;
  s = eng->sweep_retention();
  REQUIRE(s.ok());
  CHECK(s->expired == 1);
  CHECK(s->artifacts_deleted == 1);
  CHECK(s->layers_deleted >= 1);
  CHECK(s->bytes_freed > 0);
  CHECK(!std::filesystem::exists(artifact_dir(twin)));
  auto layers_after = std::distance(std::filesystem::directory_iterator(dir.sub("data/layers")),
                                    std::filesystem::directory_iterator());
  CHECK(layers_after < layers_before);
  st = eng->get_status(twin.id(), nullspace::log_offset(0), 0);
  CHECK(st->build.record.artifact_availability == "deleted");
  CHECK(st->build.record.artifact_deleted_ms == now);

  // The tagged build was never touched, and its artifact still serves a child.
  CHECK(std::filesystem::exists(artifact_dir(kept)));
  CHECK(promotability(*eng, kept.record.id) == "promotable");
  // The deleted layer is rebuilt on the next identical build: a cache miss.
  auto again = build(*eng, busybox("app", "echo loose > /l"));
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.misses == 1);
}

// A busybox build of several run steps.
std::string busybox_steps(const std::string& name, const std::vector<std::string>& cmds,
                          const std::string& extra = "") {
  std::string steps;
  for (auto& c : cmds)
    steps += std::string(steps.empty() ? "" : ",") + R"({"type":"run","cmd":")" + c + "\"}";
  return R"({"name":")" + name +
         R"(","builder":{"source":{"type":"image","image":"busybox"},"steps":[)" + steps + "]}" +
         extra + "}";
}

size_t entries_in(const std::string& dir) {
  return static_cast<size_t>(std::distance(std::filesystem::directory_iterator(dir),
                                           std::filesystem::directory_iterator()));
}

TEST_CASE("a failed build's layers go when it expires, unless a retained artifact is made of them",
          "[templates]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  std::atomic<int64_t> now{1'000'000'000'000};
  auto eng = open_sandbox(fake_clock_options(dir, now));
  std::filesystem::create_directories(dir.sub("data/layers"));
  auto layers_at_start = entries_in(dir.sub("data/layers"));

  // Each failed build's first step succeeded and cached a layer.
  auto lost = build(*eng, busybox_steps("app", {"echo f > /f", "exit 1"}));
  auto reused = build(*eng, busybox_steps("app", {"echo g > /g", "exit 2"}));
  auto rewritten = build(*eng, busybox_steps("app", {"echo h > /h", "exit 3"}));
  for (auto* b : {&lost, &reused, &rewritten}) {
    REQUIRE(b->record.status == build_status::error);
    REQUIRE(b->record.cache.misses == 2);
  }
  REQUIRE(entries_in(dir.sub("data/layers")) == layers_at_start + 3);  // failing steps leave none
  // A tagged ready build is made of the second one's layer (a cache hit); a
  // skip_cache build rewrites the third one's cache key to a layer of its own.
  auto tagged = build(*eng, busybox_steps("app", {"echo g > /g"}, R"(,"tags":["stable"])"));
  REQUIRE(tagged.record.status == build_status::ready);
  REQUIRE(tagged.record.cache.hits == 1);
  auto fresh =
      build(*eng, busybox_steps("app", {"echo h > /h"}, R"(,"tags":["fresh"],"skip_cache":true)"));
  REQUIRE(fresh.record.status == build_status::ready);
  auto layers_before = entries_in(dir.sub("data/layers"));

  now += hour + 1;
  auto s = eng->sweep_retention();
  REQUIRE(s.ok());
  CHECK(s->expired == 3);
  CHECK(s->artifacts_deleted == 0);
  // The first and third failed builds' layers go; the second's stays.
  CHECK(s->layers_deleted == 2);
  CHECK(entries_in(dir.sub("data/layers")) == layers_before - 2);

  // The deleted layer's cache entry went with it; the reused one still hits,
  // and the rewritten key still names the skip_cache build's layer.
  auto again = build(*eng, busybox_steps("app", {"echo f > /f"}));
  CHECK(again.record.cache.misses == 1);
  auto hit = build(*eng, busybox_steps("app", {"echo g > /g"}));
  CHECK(hit.record.cache.hits == 1);
  auto kept = build(*eng, busybox_steps("app", {"echo h > /h"}));
  CHECK(kept.record.cache.hits == 1);
  for (auto* b : {&again, &hit, &kept}) CHECK(b->record.status == build_status::ready);
}

TEST_CASE("a store from before the registry gets templates for its build history", "[templates]") {
  temp_dir dir;
  std::string first_id = "tb_000000000001aaaaaaaaaaaa", second_id = "tb_000000000002aaaaaaaaaaaa";
  std::string failed_id = "tb_000000000003aaaaaaaaaaaa";
  {
    std::filesystem::create_directories(dir.sub("data"));
    auto db = storage::store::open(dir.sub("data/db"));
    REQUIRE(db.ok());
    storage::write_batch wb;
    for (auto& id : {first_id, second_id}) {
      storage::build_record r;
      r.id = id;
      r.tenant = "acme";
      r.namespace_name = "acme";
      r.name = "legacy";
      r.tags = {"stable"};
      r.status = build_status::ready;
      r.created_ms = r.finished_ms = id == first_id ? 1000 : 2000;
      r.artifact = storage::artifact_ref{"art-" + id, "sha256:00", 1, 1, 64};
      r.artifact_availability = "available";
      db.value()->put_build(wb, r);
      db.value()->put_history(wb, r);
    }
    storage::build_record f;
    f.id = failed_id;
    f.tenant = f.namespace_name = "acme";
    f.name = "legacy";
    f.status = build_status::error;
    f.created_ms = f.finished_ms = 3000;
    db.value()->put_build(wb, f);
    db.value()->put_history(wb, f);
    REQUIRE(db.value()->write(wb).ok());
  }
  engine_options o;
  o.data_dir = dir.sub("data");
  const int64_t now = 1'000'000'000'000;
  o.clock = [now] { return now; };
  o.retention.untagged_ready = std::chrono::hours(2);
  o.retention.failed = std::chrono::hours(1);
  auto opened = engine::open(o);
  REQUIRE(opened.ok());
  auto eng = std::move(opened.value());
  CHECK(tags_of(*eng, "legacy", "acme")["stable"] == second_id);
  CHECK(current_tags(*eng, first_id, "acme").empty());
  // Their artifacts are held: retention will not take layers they are made of.
  CHECK(nullspace::detail::engine_access::store(*eng).artifact_holders("art-" + first_id) == 1);
  CHECK(nullspace::detail::engine_access::store(*eng).artifact_holders("art-" + second_id) == 1);
  // Builds no tag points at count their retention from the upgrade.
  auto expiry = [&](const std::string& id) {
    return eng
        ->get_status(nullspace::test::as_build_id(id), nullspace::log_offset(0), 0,
                     nullspace::test::as_tenant("acme"))
        ->build.record.retention_expires_ms;
  };
  CHECK(expiry(first_id) == now + 2 * hour);
  CHECK(expiry(second_id) == 0);
  CHECK(expiry(failed_id) == now + hour);
  CHECK(eng->get_template_json(nullspace::test::as_ref("acme/legacy"),
                               nullspace::test::as_tenant("globex"))
            .error()
            .code == errc::not_found);
  CHECK(eng->reserve_name("acme", "x", nullspace::test::as_tenant("globex")).error().code ==
        errc::permission_denied);
}

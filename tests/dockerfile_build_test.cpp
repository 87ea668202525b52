// Dockerfile builds end to end in the sandbox (busybox base): stages, COPY
// from the context and from stages, .dockerignore, ARG/ENV, RUN forms and
// flags, metadata into the template config, and secret mounts that leave no
// trace. Needs root, runc and e2fsprogs (debugfs reads the artifact).
#include <catch2/catch.hpp>

#include "runtime/process/command.hpp"
#include "tests/sandbox_support.hpp"
#include "tests/tar_writer.hpp"
#include "tests/test_support.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

std::string dockerfile_request(const std::string& dockerfile, const std::string& context,
                               const std::string& builder_extra = "",
                               const std::string& top_extra = "") {
  return R"({"name":"df","builder":{"source":{"type":"dockerfile","content":)" +
         json_quoted(dockerfile) + (context.empty() ? "" : R"(,"context":")" + context + "\"") +
         "}" + builder_extra + "}" + top_extra + "}";
}

std::string debugfs(const std::string& image, const std::string& request) {
  auto r = runtime::run_command({"/usr/sbin/debugfs", "-R", request, image});
  REQUIRE(r.ok());
  return r->output;
}

std::string artifact_path(const temp_dir& dir, const build_view& b) {
  REQUIRE(b.record.artifact.has_value());
  return dir.sub("data/artifacts/") + b.record.artifact->id;
}

}  // namespace

TEST_CASE("a multi-stage Dockerfile builds the stages its last one needs", "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto ctx = upload_context(*eng, tar_writer()
                                      .file(".dockerignore", "app/secret.txt\n*.log\n")
                                      .file("notes.txt", "n\n")
                                      .file("more.txt", "m\n")
                                      .file("debug.log", "noise\n")
                                      .dir("app")
                                      .file("app/run.sh", "echo run\n", 0755)
                                      .file("app/secret.txt", "do-not-ship\n")
                                      .finish());
  const std::string dockerfile = R"DF(# syntax=docker/dockerfile:1
ARG BASE=busybox
FROM ${BASE} AS build
ARG GREETING=hello
ENV PATH=/opt/tools/bin:$PATH
WORKDIR /work
COPY app/ ./
COPY *.txt /notes/
RUN echo "$GREETING from $(pwd)" > out.txt && \
    echo "path=$PATH" && ls /notes /work | tr '\n' ' '; echo
RUN ["/bin/sh", "-c", "echo exec-form > /work/exec.txt"]

FROM busybox AS unused
RUN exit 1

FROM busybox
LABEL team=platform
EXPOSE 8080
COPY --from=build /work/ /srv/
COPY --chown=nobody app/run.sh /srv/mine.sh
RUN --network=none cat /srv/out.txt /srv/exec.txt; stat -c 'mine=%u' /srv/mine.sh; \
    ip -o link | grep -v ' lo:' || echo only-loopback
USER nobody
WORKDIR /srv
CMD ["httpd", "-f", "-p", "8080"]
)DF";
  auto request = dockerfile_request(dockerfile, ctx, R"(,"ready":{"type":"port","port":8080})");
  auto b = build(*eng, request);
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "path=/opt/tools/bin:/usr/local/sbin"));  // completed with the image's PATH
  CHECK(contains(out, "/notes: more.txt notes.txt"));           // *.txt; debug.log ignored
  CHECK_FALSE(contains(out, "secret.txt"));                     // .dockerignore
  CHECK(contains(out, "hello from /work"));
  CHECK(contains(out, "exec-form"));
  CHECK(contains(out, "mine=65534"));
  CHECK(contains(out, "only-loopback"));
  CHECK(b.record.cache.steps == 11);  // FROM lines are not steps; `unused` never ran

  auto art = artifact_path(dir, b);
  auto image = art + "/rootfs.ext4";
  CHECK(debugfs(image, "cat /srv/out.txt").find("hello from /work") != std::string::npos);
  CHECK(debugfs(image, "stat /srv/secret.txt").find("File not found") != std::string::npos);
  CHECK(debugfs(image, "stat /notes").find("File not found") != std::string::npos);
  auto config = read_file(art + "/config.json");
  CHECK(config.find(R"("start_cmd":"httpd -f -p 8080")") != std::string::npos);
  CHECK(config.find(R"("labels":{"team":"platform"},"exposed_ports":["8080/tcp"])") !=
        std::string::npos);
  CHECK(config.find(R"("user":"nobody","uid":65534,"gid":65534,"workdir":"/srv")") !=
        std::string::npos);
  CHECK(mounts_under(dir.path()) == 0);

  auto again = build(*eng, request);
  REQUIRE(again.record.status == build_status::ready);
  CHECK(again.record.cache.hits == 11);
  CHECK(again.record.cache.misses == 0);
  CHECK(again.record.artifact->digest == b.record.artifact->digest);
}

TEST_CASE("RUN --mount=type=secret reads the secret, which is nowhere afterwards",
          "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  const std::string canary = "canary-9c2d41f0-dockerfile-secret";
  const std::string dockerfile = R"DF(FROM busybox
RUN --mount=type=secret,id=tok echo "bytes=$(wc -c < /run/secrets/tok)"
RUN --mount=type=secret,id=tok,target=/root/.npmrc cat /root/.npmrc; echo; cp /root/.npmrc /tmp/x && echo copied-to-tmp
RUN --mount=type=secret,id=opt,required=false test ! -e /run/secrets/opt && echo optional-absent
RUN --mount=type=cache,target=/var/cache/thing echo cached > /var/cache/thing/f && echo cache-mounted
RUN test ! -e /root/.npmrc && test ! -e /run/secrets && test ! -e /var/cache/thing && echo no-mount-points-left
)DF";
  auto b = build(
      *eng, dockerfile_request(dockerfile, "", "",
                               R"(,"build_secrets":[{"id":"tok","value":")" + canary + R"("}])"));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "bytes=" + std::to_string(canary.size())));
  CHECK(contains(out, "***"));  // printed, and redacted in the log
  CHECK(contains(out, "copied-to-tmp"));
  CHECK(contains(out, "optional-absent"));
  CHECK(contains(out, "cache-mounted"));
  CHECK(contains(out, "no-mount-points-left"));
  for (auto& e : entries(*eng, b.record.id)) CHECK(e.message.find(canary) == std::string::npos);
  // Nowhere under the data dir: store, logs, layers, the ext4 image.
  CHECK(files_containing(dir.sub("data"), canary).empty());
  auto image = artifact_path(dir, b) + "/rootfs.ext4";
  CHECK(debugfs(image, "stat /root/.npmrc").find("File not found") != std::string::npos);
}

TEST_CASE("Dockerfile build errors: a missing secret, a bad chown, an image not made here",
          "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto missing =
      eng->submit(dockerfile_request("FROM busybox\nRUN --mount=type=secret,id=x true\n", ""));
  REQUIRE_FALSE(missing.ok());
  INFO(missing.error().message);
  CHECK(missing.error().message.find("mounts secret 'x'") != std::string::npos);

  auto unsupported = eng->submit(dockerfile_request("FROM busybox\n\nSTOPSIGNAL SIGNOPE\n", ""));
  REQUIRE_FALSE(unsupported.ok());
  CHECK(unsupported.error().message.find("Dockerfile line 3: STOPSIGNAL") != std::string::npos);

  auto ctx = upload_context(*eng, tar_writer().file("f", "x").finish());
  auto chown = build(*eng, dockerfile_request("FROM busybox\nCOPY --chown=nosuchuser f /f\n", ctx));
  CHECK(failure(chown).starts_with("step_failed: step 1: --chown=nosuchuser"));

  auto base = build(*eng, dockerfile_request("FROM python:3.12\n", ""));
  CHECK(failure(base).starts_with("base_unavailable: "));
  REQUIRE(base.record.failure);
  CHECK(base.record.failure->step == 0);
}

TEST_CASE("COPY --chmod with a symbolic mode changes each file's own mode", "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto ctx = upload_context(*eng, tar_writer()
                                      .dir("app", 0700)
                                      .file("app/run.sh", "echo run\n", 0700)
                                      .file("app/data.txt", "d\n", 0600)
                                      .finish());
  auto b = build(*eng, dockerfile_request(R"DF(FROM busybox
COPY --chmod=go=u-w,a+rX app/ /app/
RUN stat -c '%a %n' /app /app/run.sh /app/data.txt
)DF",
                                          ctx));
  INFO(failure(b));
  REQUIRE(b.record.status == build_status::ready);
  auto out = output(*eng, b.record.id);
  CHECK(contains(out, "755 /app/run.sh"));    // rwx to all, w for the user only
  CHECK(contains(out, "644 /app/data.txt"));  // no x bit: X adds none
}

TEST_CASE("ONBUILD triggers run in the template's working dir, and :plan shows them first",
          "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  auto parent = build(
      *eng, R"({"name":"ob-parent","tags":["latest"],"builder":{"source":{"type":"dockerfile",)"
            R"("content":)" +
                json_quoted("FROM busybox\nWORKDIR /srv\n"
                            "ONBUILD WORKDIR app\nONBUILD RUN pwd > where.txt\n") +
                "}}}");
  INFO(failure(parent));
  REQUIRE(parent.record.status == build_status::ready);
  std::string child_request = R"J({"name":"ob-child","builder":{"source":{"type":"template",)J"
                              R"J("ref":"ob-parent"},"steps":[{"type":"run","cmd":)J"
                              R"J("echo child in $(pwd)"}]}})J";

  auto has = [](const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
  };
  // What will run: the triggers, lowered in /srv, before the request's step.
  auto plan = eng->plan_json(child_request);
  REQUIRE(plan.ok());
  INFO(*plan);
  CHECK(has(*plan, R"("steps":[{"index":0,"type":"workdir","summary":"workdir /srv/app",)"));
  CHECK(has(*plan, R"({"index":1,"type":"run","summary":"run pwd > where.txt",)"));
  CHECK(has(*plan, R"J({"index":2,"type":"run","summary":"run echo child in $(pwd)",)J"));
  CHECK(has(*plan, R"("onbuild_triggers":{"template":"ob-parent","build":")" + parent.record.id +
                       R"(","instructions":["WORKDIR app","RUN pwd > where.txt"],"steps":2})"));
  // Another tenant does not see the private template: no triggers to show.
  auto other = eng->plan_json(child_request, *parse_tenant_id("other"));
  REQUIRE(other.ok());
  CHECK_FALSE(has(*other, "onbuild_triggers"));

  auto child = build(*eng, child_request);
  INFO(failure(child));
  REQUIRE(child.record.status == build_status::ready);
  CHECK(contains(output(*eng, child.record.id), "child in /srv/app"));
  auto image = artifact_path(dir, child) + "/rootfs.ext4";
  CHECK(debugfs(image, "cat /srv/app/where.txt").find("/srv/app\n") != std::string::npos);
  CHECK(read_file(artifact_path(dir, child) + "/config.json").find(R"("workdir":"/srv/app")") !=
        std::string::npos);
}

TEST_CASE("HEALTHCHECK --timeout bounds each probe; --retries failures fail the check",
          "[dockerfile_build]") {
  REQUIRE_SANDBOX();
  temp_dir dir;
  auto eng = open_sandbox(dir);
  // Every probe hangs: each is killed at its timeout and counts as a failure,
  // so the check fails after two of them, long before its ready deadline.
  auto hangs = build(
      *eng, dockerfile_request("FROM busybox\n"
                               "HEALTHCHECK --interval=1s --timeout=1s --retries=2 CMD sleep 1000\n"
                               "CMD [\"sleep\", \"1000\"]\n",
                               ""));
  REQUIRE(hangs.record.status == build_status::error);
  REQUIRE(hangs.record.failure);
  INFO(hangs.record.failure->message);
  CHECK(hangs.record.failure->code == "ready_check_failed");
  CHECK(hangs.record.failure->message.find(
            "the ready check (command sleep 1000) failed: 2 probes in a row failed after the start "
            "period (HEALTHCHECK --retries=2; ") != std::string::npos);
  CHECK(hangs.record.failure->message.find(
            "(last probe: the command did not finish within 1000 ms (killed))") !=
        std::string::npos);

  // The first probe marks its visit and hangs; once it is killed, the next passes.
  auto later = build(
      *eng, dockerfile_request("FROM busybox\n"
                               "HEALTHCHECK --interval=1s --timeout=1s --retries=3 CMD "
                               "test -e /tmp/probed && exit 0; touch /tmp/probed; sleep 1000\n"
                               "CMD [\"sleep\", \"1000\"]\n",
                               ""));
  INFO(failure(later));
  REQUIRE(later.record.status == build_status::ready);
  int probe = 0;
  for (auto& e : entries(*eng, later.record.id)) {
    auto at = e.message.find(", probe ");
    if (e.phase == "ready" && e.message.starts_with("ready check passed (exit status 0)") &&
        at != std::string::npos)
      probe = std::stoi(e.message.substr(at + 8));
  }
  CHECK(probe >= 2);  // not the first: that one hung until it was killed
  CHECK(mounts_under(dir.path()) == 0);
}

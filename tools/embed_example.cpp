// Embedding nullspace: open an engine, submit a build (or name one), follow its
// log live, and print the result (docs/EMBEDDING.md).
//
//   embed-example [DATA_DIR [BUILD_ID]]
//
// DATA_DIR (default ./example-data) holds the engine's store; a relative path
// is taken against the working directory. With a BUILD_ID the example follows
// that build of DATA_DIR instead of submitting a new one. Steps run as plain
// processes on the host (engine_options' default isolation), so any user can
// run it. Exits 0 when the build is ready.
#include <nullspace/engine.hpp>

#include <cstdio>
#include <future>
#include <utility>
#include <vector>

namespace {

constexpr const char* request = R"({
  "name": "hello-template",
  "tags": ["stable"],
  "builder": {
    "source": {"type": "python_image", "version": "3.11"},
    "steps": [
      {"type": "env", "envs": {"GREETING": "hello from a build step"}},
      {"type": "run", "cmd": "echo \"$GREETING\"; uname -s"}
    ]
  }
})";

// Every call reports failure the same way: a code (with its HTTP status), a
// sentence, and the request field at fault, if any.
int fail(const char* what, const nullspace::error& e) {
  std::fprintf(stderr, "%s: %s [%s, HTTP %d]%s%s\n", what, e.message.c_str(),
               nullspace::to_string(e.code), nullspace::http_status(e.code),
               e.field.empty() ? "" : " field ", e.field.c_str());
  return 1;
}

// The build named on the command line (its form checked by parse_build_id),
// else a new one: build_view::id() is the id the engine gave it.
nullspace::result<nullspace::build_id> build_to_follow(nullspace::engine& eng, int argc,
                                                       char** argv) {
  if (argc > 2) return nullspace::parse_build_id(argv[2]);
  auto build = eng.submit(request);
  if (!build) return build.error();
  std::printf("submitted %s\n", build->id().str().c_str());
  return build->id();
}

}  // namespace

int main(int argc, char** argv) {
  nullspace::engine_options options;
  options.data_dir = argc > 1 ? argv[1] : "./example-data";
  auto eng = nullspace::engine::open(options);
  if (!eng) return fail("open", eng.error());
  auto id = build_to_follow(**eng, argc, argv);
  if (!id) return fail("build", id.error());

  // Follow from offset 0: the stored entries, then live ones, then the
  // terminal build. The callbacks run on an engine thread, one at a time, in
  // offset order; they only print and hand the end over to this thread.
  std::promise<nullspace::build_view> finished;
  nullspace::follow_callbacks callbacks;
  callbacks.on_entries = [](const std::vector<nullspace::raw_entry>& entries) {
    nullspace::log_entry e;
    for (const auto& raw : entries)
      if (nullspace::decode_log_entry(raw, e))
        std::printf("  %3llu %-6s %s\n", static_cast<unsigned long long>(e.offset), e.kind.c_str(),
                    e.message.c_str());
  };
  callbacks.on_end = [&finished](const nullspace::build_view& b) { finished.set_value(b); };
  auto follow = (*eng)->follow(*id, nullspace::log_offset(0), std::move(callbacks));
  if (!follow) return fail("follow", follow.error());  // e.g. not_found: no such build

  auto done = finished.get_future().get();
  std::printf("%s %s\n", done.id().str().c_str(), nullspace::to_string(done.record.status));
  if (done.record.failure)
    std::printf("%s: %s\n", done.record.failure->code.c_str(),
                done.record.failure->message.c_str());
  return done.record.status == nullspace::build_status::ready ? 0 : 1;
}

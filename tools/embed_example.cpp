// Embedding nullspace: open an engine, submit a build, follow its log live,
// and wait for the result. Run: build/tools/embed-example [DATA_DIR]
#include <cstdio>
#include <future>
#include <string>

#include "nullspace/engine.hpp"

int main(int argc, char** argv) {
  nullspace::engine_options opts;
  opts.data_dir = argc > 1 ? argv[1] : "./example-data";
  auto eng = nullspace::engine::open(opts);
  if (!eng) {
    std::fprintf(stderr, "open: %s\n", eng.error().message.c_str());
    return 1;
  }
  auto build = (*eng)->submit(R"({
    "name": "hello-template",
    "tags": ["stable"],
    "builder": {
      "source": {"type": "python_image", "version": "3.11"},
      "steps": [
        {"type": "env", "envs": {"GREETING": "hello from a build step"}},
        {"type": "run", "cmd": "echo \"$GREETING\"; uname -s"}
      ]
    }
  })");
  if (!build) {
    std::fprintf(stderr, "submit: %s (field %s)\n", build.error().message.c_str(),
                 build.error().field.c_str());
    return 1;
  }
  std::printf("submitted %s\n", build->record.id.c_str());

  // Follow the log from offset 0: stored entries first, then live ones, then
  // the terminal build. Callbacks run on an engine thread, in offset order.
  std::promise<nullspace::build_view> finished;
  nullspace::follow_callbacks cb;
  cb.on_entries = [](const std::vector<nullspace::raw_entry>& entries) {
    for (auto& e : entries) std::printf("  %s\n", e.json.c_str());
  };
  cb.on_end = [&](const nullspace::build_view& b) { finished.set_value(b); };
  auto follow = (*eng)->follow(build->id(), nullspace::log_offset(0), std::move(cb));
  if (!follow) {
    std::fprintf(stderr, "follow: %s\n", follow.error().message.c_str());
    return 1;
  }
  auto done = finished.get_future().get();
  std::printf("%s\n", done.json().c_str());
  return done.record.status == nullspace::build_status::ready ? 0 : 1;
}

// The restart benchmark's store tool (tools/bench/restart_bench.py drives it).
//
//   bench-restart-store generate --dir D --builds N --entries M [--unfinished K]
//       writes a store as the engine would have left it: N builds (all but K
//       terminal: ready, failed, cancelled) of one tenant's templates, with
//       their history rows, tags, retention rows and M log entries in all;
//       the K unfinished ones (the newest) are queued, building, queued with
//       a secret (recovery must fail it: secrets_lost) and waiting for a
//       context that never comes, in turn. Through the store API, in large
//       batches without the WAL, flushed before it closes.
//   bench-restart-store open --dir D
//       the anchor: the store opened with the engine's options and column
//       families (storage::store::open) and closed; prints the time as JSON,
//       with the time recovery's reads take apart (the unfinished builds and
//       the counts by status).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "runtime/plan/request_parser.hpp"
#include "storage/store.hpp"

using namespace nullspace;
using storage::build_record;
using storage::build_status;
using storage::log_entry;

namespace {

constexpr const char* tenant = "default";
constexpr int64_t day_ms = 24 * 3600 * 1000;

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// What the build manager stores as the definition: the sanitized request.
std::string definition(const std::string& name, bool with_secret) {
  std::string json = R"({"name":")" + name +
                     R"(","builder":{"source":{"type":"python_image","version":"3.11"},)"
                     R"("steps":[{"type":"run","cmd":"echo restarted"}]})";
  if (with_secret)
    json += R"(,"build_backend":"buildkit","build_secrets":[{"id":"tok","value":"v"}])";
  json += "}";
  auto parsed = runtime::parse_build_request(json, platform_limits{});
  if (!parsed.request) {
    std::fprintf(stderr, "bench-restart-store: the sample request does not parse: %s\n",
                 parsed.errors.empty() ? "" : parsed.errors.front().message.c_str());
    std::exit(1);
  }
  return runtime::sanitized_definition_json(*parsed.request);
}

// A build id as new_id makes them: 12 hex digits of the creation time, 12 random.
std::string build_id(int64_t created_ms, std::mt19937_64& rng) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string id = "tb_";
  auto t = static_cast<uint64_t>(created_ms);
  auto r = rng();
  for (int shift = 44; shift >= 0; shift -= 4) id.push_back(hex[(t >> shift) & 0xF]);
  for (int shift = 44; shift >= 0; shift -= 4) id.push_back(hex[(r >> shift) & 0xF]);
  return id;
}

log_entry entry(std::string kind, std::string level, std::string message, int32_t step = -1) {
  log_entry e;
  e.kind = std::move(kind);
  e.level = std::move(level);
  e.message = std::move(message);
  e.step = step;
  return e;
}

log_entry status(build_status s, std::string level, std::string message) {
  auto e = entry("status", std::move(level), std::move(message));
  e.status = storage::to_string(s);
  return e;
}

// Finished builds: 8 in 10 ready, 1 failed, 1 cancelled.
build_status finished_status(size_t i) {
  return i % 10 == 8   ? build_status::error
         : i % 10 == 9 ? build_status::cancelled
                       : build_status::ready;
}

enum class unfinished_kind { queued, building, secret, waiting };

struct plan {
  size_t builds = 0, entries = 0, unfinished = 0, templates = 0;
  bool finished(size_t i) const { return i < builds - unfinished; }
  unfinished_kind kind(size_t i) const {
    return static_cast<unfinished_kind>((i - (builds - unfinished)) % 4);
  }
  // Entries of build i: the total spread evenly, at least the status entries.
  size_t entries_of(size_t i) const {
    size_t n = entries / builds + (i < entries % builds ? 1 : 0);
    return std::max<size_t>(n, finished(i) ? 3 : 1);
  }
};

// The log the engine writes for a build, up to its current state: queued,
// started, the step's output lines, and its end.
std::vector<log_entry> log_of(const build_record& r, size_t n) {
  std::vector<log_entry> out;
  out.push_back(status(build_status::queued, "info", "build queued"));
  if (r.status == build_status::queued || r.status == build_status::waiting) return out;
  out.push_back(status(build_status::building, "info", "build started"));
  bool finished = storage::is_terminal(r.status);
  size_t lines = n - out.size() - (finished ? (r.status == build_status::error ? 2 : 1) : 0);
  for (size_t j = 0; j < lines; ++j) {
    auto e = entry("log", "info",
                   "Collecting package-" + std::to_string(j) + " (from -r requirements.txt)", 0);
    e.phase = "step";
    e.stream = "stdout";
    out.push_back(std::move(e));
  }
  if (r.status == build_status::ready) {
    out.push_back(status(build_status::ready, "info", "build ready"));
  } else if (r.status == build_status::error) {
    out.push_back(entry("error", "error", "step 0 exited with status 1", 0));
    out.push_back(status(build_status::error, "info", "build failed"));
  } else if (r.status == build_status::cancelled) {
    auto e = entry("cancelled", "warn", "build cancelled: by request", 0);
    e.status = "cancelled";
    out.push_back(std::move(e));
  }
  return out;
}

int generate(const std::string& dir, plan p) {
  auto t0 = std::chrono::steady_clock::now();
  std::filesystem::create_directories(dir);
  auto opened = storage::store::open(dir, {.bulk_load = true});
  if (!opened) {
    std::fprintf(stderr, "bench-restart-store: %s\n", opened.error().message.c_str());
    return 1;
  }
  auto& db = **opened;
  std::mt19937_64 rng{42};
  p.templates = std::max<size_t>(1, p.builds / 1000);
  const auto plain = definition("app", false);
  const auto with_secret = definition("app", true);
  // One build every 2.5 s, the newest a minute ago.
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  int64_t step_ms = 2500;
  int64_t first_ms = now - 60'000 - static_cast<int64_t>(p.builds) * step_ms;
  // Each template's tag `latest` points at its newest ready build.
  std::vector<size_t> latest(p.templates, SIZE_MAX);
  for (size_t i = 0; i < p.builds; ++i)
    if (p.finished(i) && finished_status(i) == build_status::ready) latest[i % p.templates] = i;
  std::vector<storage::template_record> templates(p.templates);
  for (size_t t = 0; t < p.templates; ++t) {
    templates[t].namespace_name = tenant;
    templates[t].name = "app-" + std::to_string(t);
    templates[t].tenant = tenant;
    templates[t].created_ms = first_ms;
  }
  storage::store::status_counts counts{};
  std::string unfinished_ids[4];  // by unfinished_kind: JSON lists, for the benchmark's check
  storage::write_batch b;
  size_t written_entries = 0;
  auto commit = [&] {
    if (auto w = db.write(b); !w) {
      std::fprintf(stderr, "bench-restart-store: %s\n", w.error().message.c_str());
      std::exit(1);
    }
    b = storage::write_batch{};
  };
  for (size_t i = 0; i < p.builds; ++i) {
    auto& t = templates[i % p.templates];
    build_record r;
    r.created_ms = first_ms + static_cast<int64_t>(i) * step_ms;
    r.id = build_id(r.created_ms, rng);
    r.tenant = tenant;
    r.namespace_name = t.namespace_name;
    r.name = t.name;
    r.tags = {"latest"};
    r.backend = "native";
    r.options = {2, 2048, 0, true, false};
    r.definition_json = plain;
    if (p.finished(i)) {
      r.status = finished_status(i);
      r.started_ms = r.created_ms + 5;
      r.finished_ms = r.started_ms + 1500;
      r.cache = {1, 0, 1, 0};
      if (r.status == build_status::error)
        r.failure = storage::build_failure{"step_failed", "step 0 exited with status 1", 0, {}};
      if (r.status == build_status::cancelled) r.cancel_reason = "by request";
      if (r.status == build_status::ready && latest[i % p.templates] == i) {
        r.current_tags = {"latest"};
        t.latest_ready = r.id;
        t.latest_ready_ms = r.finished_ms;
        db.put_tag(b, t.namespace_name, t.name, "latest", r.id);
      }
      // Failed and cancelled builds count down to deletion (the registry's
      // retention); host-executor ready builds have no artifact to expire.
      if (r.status != build_status::ready) {
        r.retention_expires_ms = now + 30 * day_ms;
        db.put_retention(b, r.retention_expires_ms, r.id);
      }
    } else {
      switch (p.kind(i)) {
        case unfinished_kind::queued:
          r.status = build_status::queued;
          break;
        case unfinished_kind::building:
          r.status = build_status::building;
          r.started_ms = r.created_ms + 5;
          break;
        case unfinished_kind::secret:
          r.status = build_status::queued;
          r.definition_json = with_secret;
          r.backend = "buildkit";
          r.secret_ids = {"tok"};
          break;
        case unfinished_kind::waiting:
          r.status = build_status::waiting;
          r.waiting_for = std::string(64, 'c');  // a context never uploaded
          break;
      }
    }
    ++counts[static_cast<size_t>(r.status)];
    if (!p.finished(i)) {
      auto& ids = unfinished_ids[static_cast<size_t>(p.kind(i))];
      ids.append(ids.empty() ? "\"" : ", \"").append(r.id).append("\"");
    }
    auto entries = log_of(r, p.entries_of(i));
    for (size_t off = 0; off < entries.size(); ++off) {
      auto& e = entries[off];
      e.offset = off;
      e.ts_ms = r.created_ms + static_cast<int64_t>(off) * 10;
      db.put_log(b, r.id, off, storage::encode_log_entry(e));
    }
    written_entries += entries.size();
    db.put_build(b, r);
    db.put_history(b, r);
    if (b.count() >= 200'000) commit();
    if (p.builds >= 20 && (i + 1) % (p.builds / 20) == 0)
      std::fprintf(stderr, "  %zu builds, %zu entries, %.0f s\n", i + 1, written_entries,
                   seconds_since(t0));
  }
  for (auto& t : templates) db.put_template(b, t);
  db.put_namespace_owner(b, tenant, tenant);
  db.put_build_counts(b, counts);
  commit();
  // The registry marks a store it has seen; without it the first start
  // would adopt the history as a store from before the registry.
  if (auto w = db.put_meta("registry_adopted", "1"); !w) return 1;
  if (auto f = db.flush(); !f) {
    std::fprintf(stderr, "bench-restart-store: %s\n", f.error().message.c_str());
    return 1;
  }
  opened->reset();
  std::string by_status;
  for (size_t s = 0; s < counts.size(); ++s)
    by_status.append(s ? ", " : "")
        .append("\"")
        .append(storage::to_string(static_cast<build_status>(s)))
        .append("\": ")
        .append(std::to_string(counts[s]));
  std::printf(
      "{\"builds\": %zu, \"entries\": %zu, \"templates\": %zu, \"seconds\": %.1f, "
      "\"by_status\": {%s}, \"unfinished\": {\"queued\": [%s], \"building\": [%s], "
      "\"secret\": [%s], \"waiting\": [%s]}}\n",
      p.builds, written_entries, p.templates, seconds_since(t0), by_status.c_str(),
      unfinished_ids[0].c_str(), unfinished_ids[1].c_str(), unfinished_ids[2].c_str(),
      unfinished_ids[3].c_str());
  return 0;
}

int open_only(const std::string& dir) {
  auto t0 = std::chrono::steady_clock::now();
  auto opened = storage::store::open(dir);
  if (!opened) {
    std::fprintf(stderr, "bench-restart-store: %s\n", opened.error().message.c_str());
    return 1;
  }
  double open_s = seconds_since(t0);
  // What start-up recovery reads of the builds: the unfinished ones and the counts.
  auto t1 = std::chrono::steady_clock::now();
  size_t unfinished = 0;
  (*opened)->for_each_unfinished_build([&](build_record&&) { ++unfinished; });
  auto counts = (*opened)->build_counts();
  double unfinished_s = seconds_since(t1);
  uint64_t builds = 0;
  for (auto n : counts) builds += n;
  auto t2 = std::chrono::steady_clock::now();
  opened->reset();
  double close_s = seconds_since(t2);
  std::printf(
      "{\"open_ms\": %.1f, \"open_close_ms\": %.1f, \"unfinished_read_ms\": %.1f, "
      "\"unfinished\": %zu, \"counted_builds\": %llu}\n",
      open_s * 1e3, (open_s + close_s) * 1e3, unfinished_s * 1e3, unfinished,
      static_cast<unsigned long long>(builds));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the restart benchmark's store: generate one, or time opening it"};
  app.require_subcommand(1);
  std::string dir;
  plan p{1000, 100'000, 8, 0};
  auto* gen = app.add_subcommand("generate", "write a store of finished and unfinished builds");
  gen->add_option("--dir", dir, "the store's dir (DATA_DIR/db)")->required();
  gen->add_option("--builds", p.builds, "builds in all");
  gen->add_option("--entries", p.entries, "log entries in all");
  gen->add_option("--unfinished", p.unfinished, "unfinished builds (the newest)");
  auto* open = app.add_subcommand("open", "time opening the store with the engine's options");
  open->add_option("--dir", dir, "the store's dir (DATA_DIR/db)")->required();
  CLI11_PARSE(app, argc, argv);
  if (gen->parsed()) {
    if (p.builds == 0 || p.unfinished > p.builds) {
      std::fprintf(stderr, "bench-restart-store: need --builds > 0 and --unfinished <= --builds\n");
      return 2;
    }
    return generate(dir, p);
  }
  return open_only(dir);
}

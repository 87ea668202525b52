// The build context tar inspector (runtime/context/build_context.hpp), archive
// bytes in. Invariants: entries kept are normalized paths inside the root (no
// "", ".", ".." segments, no leading or trailing '/'); hard link targets too;
// paths are unique; the file count and bytes are the regular entries'; the manifest's JSON is JSON.
#include <simdjson.h>

#include <set>

#include "fuzz_check.hpp"
#include "runtime/context/build_context.hpp"

using namespace nullspace;
using namespace nullspace::runtime;

namespace {

bool normalized_inside_root(std::string_view p) {
  if (p.empty() || p.front() == '/' || p.back() == '/') return false;
  while (true) {
    auto slash = p.find('/');
    auto seg = p.substr(0, slash);
    if (seg.empty() || seg == "." || seg == "..") return false;
    if (slash == std::string_view::npos) return true;
    p.remove_prefix(slash + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  context_limits limits;
  limits.max_entries = 1000;  // keeps each run short; the limit path is covered too
  auto m = inspect_context_tar(fuzz::text(data, size), limits);
  if (!m) {
    FUZZ_CHECK(!m.error().message.empty());
    return 0;
  }
  uint64_t files = 0, bytes = 0;
  std::set<std::string_view> paths;
  for (auto& e : m->entries) {
    FUZZ_CHECK(normalized_inside_root(e.path));
    FUZZ_CHECK(e.mode <= 07777);
    if (e.type == 'h') FUZZ_CHECK(normalized_inside_root(e.link_target));
    if (e.type != 'f') FUZZ_CHECK(e.size == 0);
    FUZZ_CHECK(paths.insert(e.path).second);  // of several entries with one path, one is kept
    if (e.type == 'f') ++files, bytes += e.size;
  }
  FUZZ_CHECK(files == m->files && bytes == m->bytes);
  FUZZ_CHECK(m->entries.size() <= limits.max_entries);
  FUZZ_CHECK(m->id.size() == 35 && m->digest.size() == 71);
  static simdjson::dom::parser parser;
  auto json = m->json();
  simdjson::dom::element el;
  FUZZ_CHECK(parser.parse(json).get(el) == simdjson::SUCCESS);
  return 0;
}

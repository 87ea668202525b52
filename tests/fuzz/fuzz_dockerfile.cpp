// The Dockerfile frontend (runtime/dockerfile/): text in, steps or errors out.
// Invariants: every error names a line of the text; the syntax layer's
// encoded/decoded pair round-trips any text.
#include <algorithm>

#include "fuzz_check.hpp"
#include "runtime/dockerfile/dockerfile.hpp"

using namespace nullspace;
using namespace nullspace::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = fuzz::text(data, size);
  auto program = parse_dockerfile(text, "bc_0123456789abcdef0123456789abcdef");
  auto lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1;
  for (auto& e : program.errors) {
    FUZZ_CHECK(!e.message.empty());
    FUZZ_CHECK(e.line <= lines);
  }
  if (program.errors.empty()) FUZZ_CHECK(!program.steps.empty());
  FUZZ_CHECK(dockerfile_syntax::decoded(dockerfile_syntax::encoded(text)) == text);
  // The word splitter and the exec form on the whole text, as if it were one
  // instruction's arguments.
  dockerfile_syntax::variables vars;
  vars.values = {{"A", "a b"}, {"EMPTY", ""}};
  std::string error;
  for (bool keep : {false, true}) {
    vars.keep_unknown = keep;
    for (char escape : {'\\', '`'}) {
      auto w = dockerfile_syntax::words(text, vars, escape, true, error);
      FUZZ_CHECK(w.has_value() || !error.empty());
      error.clear();
    }
  }
  dockerfile_syntax::exec_form(text);
  return 0;
}

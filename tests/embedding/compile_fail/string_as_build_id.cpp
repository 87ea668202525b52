// A std::string where a build_id is expected must not compile: ids come from
// the parse functions (which check them) or from the engine.
// compile_fail_test.py compiles this file as is (must compile) and with
// NULLSPACE_COMPILE_FAIL (must fail on each line marked expect-error).
#include <string>

#include "nullspace/engine.hpp"

nullspace::result<nullspace::status_view> status_of(nullspace::engine& eng,
                                                    const std::string& text) {
#ifdef NULLSPACE_COMPILE_FAIL
  return eng.get_status(text);  // expect-error
#else
  auto id = nullspace::parse_build_id(text);
  if (!id) return id.error();
  return eng.get_status(*id);
#endif
}

nullspace::build_id make_id(const std::string& text) {
#ifdef NULLSPACE_COMPILE_FAIL
  return nullspace::build_id(text);  // expect-error
#else
  auto id = nullspace::parse_build_id(text);
  return id ? *id : nullspace::build_id{};
#endif
}

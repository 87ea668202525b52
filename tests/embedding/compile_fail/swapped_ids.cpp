// A build_id and a tenant_id swapped in an engine call must not compile.
// compile_fail_test.py compiles this file twice: as is (the right order, which
// must compile) and with NULLSPACE_COMPILE_FAIL (which must fail on the line
// marked expect-error).
#include "nullspace/engine.hpp"

nullspace::result<nullspace::build_view> cancel_it(nullspace::engine& eng,
                                                   const nullspace::build_id& build,
                                                   const nullspace::tenant_id& tenant) {
#ifdef NULLSPACE_COMPILE_FAIL
  return eng.cancel(tenant, "not needed", build);  // expect-error
#else
  return eng.cancel(build, "not needed", tenant);
#endif
}

nullspace::result<nullspace::status_view> status_of(nullspace::engine& eng,
                                                    const nullspace::build_id& build,
                                                    const nullspace::tenant_id& tenant) {
#ifdef NULLSPACE_COMPILE_FAIL
  return eng.get_status(tenant, nullspace::log_offset(0), 100, build);  // expect-error
#else
  return eng.get_status(build, nullspace::log_offset(0), 100, tenant);
#endif
}

// The logs of machines and warm pools as log_subjects (subject_log_streams.hpp):
// the engine calls that read and follow each, and the object that ends it.
#pragma once

#include "api/subject_log_streams.hpp"
#include "nullspace/engine.hpp"

namespace nullspace::api {

// A machine's log; it ends when the machine is stopped or failed.
log_subject machine_log_subject(engine& eng, const machine_view& machine, const tenant_id& tenant);

// A warm pool's log; it ends when the pool is deleted.
log_subject pool_log_subject(engine& eng, const pool_view& pool, const tenant_id& tenant);

}  // namespace nullspace::api

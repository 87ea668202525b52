// The build state machine (DESIGN.md, "Build state machine"):
//   waiting → queued → building → ready | error | cancelled
// plus the recovery edge building → queued (an engine restart interrupted the
// build) and the failure edges waiting/queued → error (e.g. secrets lost on
// restart). Terminal states never change.
#pragma once

#include "storage/build_record.hpp"

namespace nullspace::actors {

bool can_transition(storage::build_status from, storage::build_status to);

}  // namespace nullspace::actors

#include "actors/build/build_state.hpp"

namespace nullspace::actors {

bool can_transition(storage::build_status from, storage::build_status to) {
  using S = storage::build_status;
  switch (from) {
    case S::waiting:
      return to == S::queued || to == S::cancelled || to == S::error;
    case S::queued:
      return to == S::building || to == S::cancelled || to == S::error;
    case S::building:
      return to == S::ready || to == S::error || to == S::cancelled || to == S::queued;
    case S::ready:
    case S::error:
    case S::cancelled:
      return false;
  }
  return false;
}

}  // namespace nullspace::actors

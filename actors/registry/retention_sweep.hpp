// Retention: deleting what expired. A build's artifact is retained while a tag
// points at the build; an untagged ready build keeps it for
// retention_policy::untagged_ready_ms, a failed or cancelled build its record
// of retention for failed_ms. When that passes, the sweep marks the build
// `expired` and removes the artifact's files once no retained build shares
// them (identical rebuilds share one artifact), then the cached layers no
// retained artifact is made of (with their cache entries). Blocking: it runs
// in the template registry's own thread.
#pragma once

#include <cstdint>
#include <string>

#include "actors/messages.hpp"
#include "storage/store.hpp"

namespace nullspace::actors {

// Deletes layers only with `may_delete_layers` (no build is running, so none
// can be about to use a cached layer); otherwise they stay queued for the
// next sweep (meta CF, gc/<layer>).
sweep_summary sweep_retention(storage::store& db, const std::string& data_dir, int64_t now_ms,
                              bool may_delete_layers);

}  // namespace nullspace::actors

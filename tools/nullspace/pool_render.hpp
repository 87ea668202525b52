// Warm pools as people read them: a one-line summary, the details of one
// pool, a table of pools, and how a machine create was served by one.
#pragma once

#include <string>
#include <vector>

#include "tools/nullspace/json_util.hpp"

namespace nullspace::cli {

// "ready 2, starting 0, in use 1, failed 0" of a WarmPool's counts.
std::string pool_counts_text(js::element p);

// "warm pool web-pool (wp_…) enabled: ready 2, starting 0, in use 1, failed 0",
// with the reason when it is not healthy.
std::string pool_summary(js::element p);

// Every field of a WarmPool, one per row.
std::string pool_details(js::element p);

// One row per pool: NAME, ID, STATE, READY, STARTING, IN USE, FAILED, MIN, MAX, TEMPLATE.
std::string pools_table(const std::vector<js::element>& pools);

// How a Machine's create was served: "warm pool wp_…: hit (waited 12 ms)",
// "… fallback: disabled", "… bypass"; "" when no pool was involved.
std::string checkout_line(js::element machine);

}  // namespace nullspace::cli

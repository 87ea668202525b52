// Machines as people read them: a one-line summary, the details of one
// machine, a table of machines, and the URLs of its ports.
#pragma once

#include <string>
#include <vector>

#include "tools/nullspace/json_util.hpp"

namespace nullspace::cli {

// "machine m_… ready: ns/name@tb_…", "machine m_… stopped (deleted)",
// "machine m_… failed: start_failed: …" and the like, for a Machine.
std::string machine_summary(js::element m);

// One line per listening port: "8000  http://server/v1/machines/m_…/ports/8000/".
std::vector<std::string> port_lines(js::element m, const std::string& server);

// Every field of a Machine, one per row (ports as URLs on `server`).
std::string machine_details(js::element m, const std::string& server);

// One row per machine: ID, STATE, TEMPLATE, CREATED, TIMEOUT AT, LABELS.
std::string machines_table(const std::vector<js::element>& machines);

// 1 for a failed machine, else 0.
int machine_exit_code(js::element m);

}  // namespace nullspace::cli

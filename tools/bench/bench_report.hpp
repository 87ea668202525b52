// The line a benchmark prints for each figure it measures, read by
// tools/bench/all to put every benchmark's figures in one table:
//
//   figure {"name": "…", "value": 1.5, "unit": "ms", "anchor": "…", "anchor_value": 1.2}
//
// `anchor` is the baseline measured in the same run (the bare OCI runtime, raw
// RocksDB, nginx, …); a figure without one (a throughput, a memory figure with a
// target of its own) leaves it empty. Human-readable output stays as it is.
#pragma once

#include <cstdio>
#include <string>

namespace nullspace::bench {

inline std::string json_quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out + "\"";
}

// A figure; `anchor` empty: one without an anchor.
inline void report(const std::string& name, double value, const std::string& unit,
                   const std::string& anchor = "", double anchor_value = 0) {
  std::printf("figure {\"name\": %s, \"value\": %.6g, \"unit\": %s", json_quoted(name).c_str(),
              value, json_quoted(unit).c_str());
  if (!anchor.empty())
    std::printf(", \"anchor\": %s, \"anchor_value\": %.6g", json_quoted(anchor).c_str(),
                anchor_value);
  std::printf("}\n");
  std::fflush(stdout);
}

}  // namespace nullspace::bench

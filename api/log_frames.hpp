// How log entries go out on the wire, for build logs (log_streams) and the
// logs of machines and warm pools (subject_log_streams) alike: SSE frames
// (`id: OFFSET`, `event: log`, `data: ENTRY`) or NDJSON lines, the frame that
// ends a followed log with its subject (the Build, Machine or WarmPool), and
// a page of entries as one JSON object.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "nullspace/log.hpp"

namespace nullspace::api {

enum class stream_format { sse, ndjson };

// The Content-Type of a stream of that format.
const char* content_type_of(stream_format f);

// What stands between an entry's offset and its JSON in an SSE frame (the
// build feeds find an entry's JSON inside a chunk with it).
inline constexpr std::string_view sse_mid = "\nevent: log\ndata: ";

// Appends `id: OFFSET` sse_mid JSON "\n\n".
void append_sse(std::string& out, const raw_entry& e);

// Appends one entry as an SSE frame or an NDJSON line, straight from its stored
// JSON (a replay frames pages this way, without a raw_entry per entry).
void append_frame(std::string& out, uint64_t offset, std::string_view json, stream_format f);
// The bytes append_frame adds around an entry's JSON, at most.
inline constexpr size_t max_frame_overhead = 4 + 20 + sse_mid.size() + 2;

// The entries as SSE frames or NDJSON lines.
std::string format_entries(const std::vector<raw_entry>& es, stream_format f);

// The end of a followed log: `event: end` with `subject_json` (SSE), or
// {"event":"end","<subject>":…} (NDJSON); `subject` is "build", "machine" or
// "warm_pool".
std::string end_frame(std::string_view subject, const std::string& subject_json, stream_format f);

// {"logs": [ENTRY…], "next_offset": K}: K follows the last entry, or is `from`
// when there is none.
std::string entries_page_json(const std::vector<raw_entry>& es, uint64_t from);

}  // namespace nullspace::api

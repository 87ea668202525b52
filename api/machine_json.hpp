// The JSON of the Machines section of API.md: request bodies read into the
// engine's types (machine_request, command_request), and the command and file
// objects written back. The Machine object itself is machine_view::json().
#pragma once

#include <string>
#include <vector>

#include "nullspace/error.hpp"
#include "nullspace/machine.hpp"

namespace nullspace::api {

// POST /v1/machines. Unknown members are refused (a typo must not be ignored);
// `template` may be left out when `warm_pool` names a pool (the pool's is used).
result<machine_request> parse_machine_request(const std::string& body);

// POST /v1/machines/{id}/commands: `cmd` is a string (one program, or one
// shell line with "shell": true) or an array (the argv).
result<command_request> parse_command_request(const std::string& body);

// POST /v1/machines/{id}/timeout: {"timeout_ms": N}.
result<uint64_t> parse_timeout_request(const std::string& body);

// A finished (or background) command: {"stdout", "stderr", "exit_code", …}.
// `with_progress` adds command_id, running and the next offsets (GET/kill).
std::string command_result_json(const command_result& r, bool with_progress);
// The `exit` event of a streamed command: the result without its output.
std::string command_exit_json(const command_result& r);
// One output piece of a streamed command: {"data": "…"}.
std::string command_output_json(std::string_view data);

// A file entry; `path` is the directory it was listed in, or the file itself.
std::string file_info_json(const file_info& f, const std::string& path);
std::string file_list_json(const std::string& path, const std::vector<file_info>& entries);

// "0644" → 0644 (octal, at most 07777); anything else is an error naming `field`.
result<uint32_t> parse_mode(std::string_view text, std::string_view field);

}  // namespace nullspace::api

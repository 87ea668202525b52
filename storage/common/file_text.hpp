// Whole small files (configs, records, /etc entries of an image): read and
// written in one call.
#pragma once

#include <string>
#include <string_view>

namespace nullspace {

// The file's bytes, or "" if it is missing or unreadable.
std::string read_text_file(const std::string& path);

// Creates or truncates `path` (mode 0644) with `text`; false on any error.
bool write_text_file(const std::string& path, std::string_view text);

}  // namespace nullspace

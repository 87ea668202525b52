// COPY/ADD --chmod modes: octal (0755) or symbolic as chmod(1) writes them
// (u+x, go-w, a=rwX, u=rw,g=r,o=), as BuildKit accepts both.
#pragma once

#include <cstdint>
#include <string_view>

namespace nullspace::runtime {

// Whether `spec` is an octal mode up to 07777 or a symbolic one.
bool valid_chmod(std::string_view spec);
// Whether `spec` is octal (then apply_chmod ignores the mode it is given).
bool octal_chmod(std::string_view spec);
// The mode (permission bits, 07777) a file or directory with `mode` gets.
// Symbolic clauses with no who (`+x`) apply to all, as `a`; `X` is x for
// directories and for files that have an x bit already. `spec` must be valid.
uint32_t apply_chmod(std::string_view spec, uint32_t mode, bool is_dir);

}  // namespace nullspace::runtime

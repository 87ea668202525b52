// The template registry as the engine offers it: list filters, the answer of
// a change, the changes themselves, and what a retention sweep did.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "nullspace/build.hpp"

namespace nullspace {

// Filters of list_templates (API.md "Templates").
struct template_list_options {
  std::string namespace_name, visibility;  // "" = any
  size_t limit = 50;
  std::string cursor;
};

// Filters of list_builds.
struct build_list_options {
  std::optional<build_status> status;
  std::optional<bool> tagged;
  std::string backend;
  size_t limit = 50;
  std::string cursor;
};

// A template after a registry change. `json` is the API's Template object.
struct template_view {
  std::string namespace_name, name, visibility;
  std::string json;
};

// One change of the registry.
struct registry_change {
  enum kind {
    assign_tags,     // ref names the build (its tag, @id, or latest); values: tags
    remove_tag,      // values: {tag}
    add_alias,       // values: {alias}
    remove_alias,    // values: {alias}
    reserve,         // ref: the name; namespace_name: where ("" = the tenant's)
    rename,          // values: {new name}; namespace_name: new namespace ("" = same)
    set_visibility,  // values: {private|public}
    remove,          // delete the template
  } what{};
  std::string ref;
  std::vector<std::string> values;
  std::string namespace_name;
};

// What one retention sweep did.
struct sweep_summary {
  uint32_t expired = 0;            // builds whose retention ended
  uint32_t artifacts_deleted = 0;  // artifact dirs removed (no holder left)
  uint32_t layers_deleted = 0;     // cached layers no retained artifact used
  uint64_t bytes_freed = 0;
  bool layers_deferred = false;  // builds were running: their layers go next time
  // Cache mount dirs (RUN --mount=type=cache) unused for
  // cache_mount_options::max_unused; their bytes count in bytes_freed.
  uint32_t cache_mounts_deleted = 0;
  uint32_t idempotency_keys_expired = 0;
};

}  // namespace nullspace

// The read side of the template registry: finding templates and builds by
// ref as a tenant may see them, and the API's JSON for templates and build
// history. Reads go straight to the store (any thread); every change goes
// through the template_registry actor.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "nullspace/error.hpp"
#include "nullspace/templates.hpp"
#include "runtime/request/template_ref.hpp"
#include "storage/store.hpp"

namespace nullspace::actors {

// A tenant's default namespace.
inline const std::string& default_namespace(const std::string& tenant) {
  return tenant;
}

// A ref from a request, or the 400 naming the forms a ref takes.
result<runtime::template_ref_parts> parse_ref(const std::string& ref);

struct found_template {
  storage::template_record t;
  bool owned = false;  // the caller may change it (else it is someone's public template)
};

// The template a ref names (by its name or an alias), if `tenant` may read it:
// its own, or another tenant's public one. Others' private templates are
// not_found, exactly as if they did not exist.
result<found_template> find_template(const storage::store& db, const std::string& tenant,
                                     const runtime::template_ref_parts& ref);
// find_template for a write: another tenant's public template is
// permission_denied.
result<found_template> find_owned_template(const storage::store& db, const std::string& tenant,
                                           const runtime::template_ref_parts& ref);

// The build a ref names within its template: `@tb_…` (a build of it), `:tag`,
// or the `latest` tag for a bare name.
result<storage::build_record> find_build(const storage::store& db, const found_template& t,
                                         const runtime::template_ref_parts& ref);

// The API's Template object; `resolved` is the build the request's ref named.
std::string template_json(const storage::store& db, const storage::template_record& t,
                          const storage::build_record* resolved);

// {"templates": [...], "next_cursor": …}: the caller's templates, plus other
// tenants' public ones when asked for a namespace or visibility=public.
result<std::string> list_templates_json(const storage::store& db, const std::string& tenant,
                                        const template_list_options& f);

// {"builds": [...], "next_cursor": …}: a template's builds newest first,
// failed, cancelled and untagged ones included. The cursor names the last
// build returned, so builds created meanwhile never shift a page.
result<std::string> list_builds_json(const storage::store& db, const std::string& tenant,
                                     const runtime::template_ref_parts& ref,
                                     const build_list_options& f);

}  // namespace nullspace::actors

// Image refs (runtime/request/image_ref.hpp), template refs
// (runtime/request/template_ref.hpp, nullspace/ids.hpp) and the other id forms.
// Invariants: an accepted ref printed back parses to the same parts (and
// prints the same); parse_template_ref accepts exactly what split_template_ref
// splits; the canonical ref of a build parses back to it.
#include "fuzz_check.hpp"
#include "nullspace/ids.hpp"
#include "runtime/request/image_ref.hpp"
#include "runtime/request/template_ref.hpp"

using namespace nullspace;
using namespace nullspace::runtime;

namespace {

std::string joined(const template_ref_parts& p) {
  std::string out;
  if (!p.namespace_name.empty()) out += p.namespace_name + "/";
  out += p.name;
  if (!p.tag.empty()) out += ":" + p.tag;
  if (!p.build_id.empty()) out += "@" + p.build_id;
  return out;
}

void image_refs(std::string_view s) {
  auto r = parse_image_ref(s);
  if (!r) {
    FUZZ_CHECK(!r.error().message.empty());
    return;
  }
  FUZZ_CHECK(!r->registry.empty() && !r->repository.empty());
  FUZZ_CHECK(!r->tag.empty() || !r->digest.empty());
  auto printed = r->str();
  auto again = parse_image_ref(printed);
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->registry == r->registry && again->repository == r->repository &&
             again->tag == r->tag && again->digest == r->digest);
  FUZZ_CHECK(again->str() == printed);
  is_loopback_registry(r->registry);
}

void template_refs(std::string_view s) {
  auto parts = split_template_ref(s);
  auto parsed = parse_template_ref(s);
  FUZZ_CHECK(parts.has_value() == parsed.ok());
  if (!parts) return;
  FUZZ_CHECK(valid_name(parts->name));
  FUZZ_CHECK(joined(*parts) == s);
  if (!parts->build_id.empty()) {
    FUZZ_CHECK(parse_build_id(parts->build_id).ok());
    auto canonical =
        canonical_ref(parts->namespace_name.empty() ? "default" : parts->namespace_name,
                      parts->name, parts->build_id);
    auto back = split_template_ref(canonical);
    FUZZ_CHECK(back && back->name == parts->name && back->build_id == parts->build_id);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto s = fuzz::text(data, size);
  image_refs(s);
  template_refs(s);
  FUZZ_CHECK(parse_build_id(s).ok() == valid_build_id(s));
  (void)parse_machine_id(s);
  (void)parse_pool_id(s);
  (void)parse_context_id(s);
  (void)parse_tenant_id(s);
  if (auto o = parse_log_offset(s)) FUZZ_CHECK(std::to_string(o->value()) == s || s.front() == '0');
  return 0;
}

// The build request parser and validator (runtime/plan/request_parser.hpp),
// JSON bytes in. Invariants: a request is returned iff there is no error; an
// accepted request's sanitized definition is accepted again (as a retry reads
// it), is a fixed point, and plans to the same cache keys (secret values never
// enter a key, so redacting them changes none); other secret values give the
// same definition and the same keys.
#include "fuzz_check.hpp"
#include "runtime/plan/plan.hpp"
#include "runtime/plan/request_parser.hpp"

using namespace nullspace;
using namespace nullspace::runtime;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  platform_limits limits;
  auto p = parse_build_request(fuzz::text(data, size), limits);
  FUZZ_CHECK(p.request.has_value() == p.errors.empty());
  if (!p.request) {
    for (auto& e : p.errors) FUZZ_CHECK(!e.message.empty());
    auto e = request_error(std::move(p));
    FUZZ_CHECK(!e.message.empty());
    return 0;
  }
  auto plan = plan_json(make_plan(*p.request));
  auto definition = sanitized_definition_json(*p.request);
  parse_options retry;
  retry.allow_redacted_secrets = true;
  auto again = parse_build_request(definition, limits, retry);
  FUZZ_CHECK(again.request.has_value());
  FUZZ_CHECK(sanitized_definition_json(*again.request) == definition);
  FUZZ_CHECK(plan_json(make_plan(*again.request)) == plan);
  FUZZ_CHECK(required_secret_ids(*again.request) == required_secret_ids(*p.request));
  // Secret values reach neither the stored definition nor a cache key: other
  // values give the same bytes.
  auto other = *p.request;
  for (auto& s : other.secrets) s.value += "-changed";
  if (other.source.auth) other.source.auth->password += "-changed";
  FUZZ_CHECK(sanitized_definition_json(other) == definition);
  FUZZ_CHECK(plan_json(make_plan(other)) == plan);
  return 0;
}

// A request target's query and the Last-Event-ID header as the log routes read
// them (api/query_params.hpp): ?offset, ?limit, ?follow and where a log stream
// starts. Input: the target, a newline, the Last-Event-ID value. Invariants:
// stream_start is Last-Event-ID + 1 when one is sent, else ?offset; each
// number is accepted exactly when parse_log_offset accepts it; a limit is
// within its bounds.
#include "api/http_request_parser.hpp"
#include "api/query_params.hpp"
#include "fuzz_check.hpp"
#include "nullspace/ids.hpp"

using namespace nullspace;
using namespace nullspace::api;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto text = fuzz::text(data, size);
  auto nl = text.find('\n');
  http_request r;
  r.target = "/v1/builds/tb_x/logs";
  r.target += text.substr(0, nl);
  if (!split_target(r)) return 0;
  std::string_view last_event_id;
  if (nl != std::string_view::npos) {
    last_event_id = text.substr(nl + 1);
    r.headers.emplace_back("last-event-id", std::string(last_event_id));
  }
  r.headers.emplace_back("accept", "text/event-stream");
  FUZZ_CHECK(accepts(r, "text/event-stream"));

  auto offset_param = r.query_param("offset");
  auto offset = query_u64(r, "offset", 0);
  if (offset_param) FUZZ_CHECK(offset.ok() == parse_log_offset(*offset_param).ok());
  auto start = stream_start(r);
  if (!offset) {
    FUZZ_CHECK(!start && start.error().field == "offset");
  } else if (last_event_id.empty()) {
    FUZZ_CHECK(start && *start == *offset);
  } else {
    auto last = parse_log_offset(last_event_id);
    if (last && last->value() != UINT64_MAX) {
      FUZZ_CHECK(start && *start == last->value() + 1);
    } else {
      FUZZ_CHECK(!start && start.error().field == "Last-Event-ID");
    }
  }
  if (auto limit = query_limit(r, 500)) FUZZ_CHECK(*limit >= 1 && *limit <= 500);
  auto follow = query_bool(r, "follow");
  if (!follow) FUZZ_CHECK(follow.error().field == "follow");
  (void)query_string(r, "cursor");
  return 0;
}

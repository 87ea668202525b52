// Build contexts in the engine facade: storing an uploaded tar and
// inspect_build_context (what a build would see of its contexts).
#include <simdjson.h>
#include <caf/all.hpp>

#include <algorithm>

#include "actors/engine/engine_impl.hpp"
#include "runtime/context/build_context.hpp"
#include "runtime/plan/request_parser.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace {
namespace {

using problems = std::vector<std::pair<std::string, runtime::context_problem>>;  // context, problem

void write_problems(json::writer& w, const char* key, const problems& ps) {
  w.key(key).begin_array();
  for (auto& [ctx, p] : ps) {
    w.begin_object().field("path", p.path).field("reason", p.reason);
    if (!ctx.empty()) w.field("context", ctx);
    w.end_object();
  }
  w.end_array();
}

// Collects the files, warnings and unsupported entries of stored manifests
// (the same JSON form for an uploaded context and a tar inspected in place).
class inspection {
 public:
  inspection() { w_.begin_object().key("files").begin_array(); }

  bool add_manifest(const std::string& manifest_json, const std::string& ctx) {
    simdjson::dom::object m;
    if (parser_.parse(manifest_json).get(m) != simdjson::SUCCESS) return false;
    simdjson::dom::array arr;
    if (m["entries"].get(arr) == simdjson::SUCCESS)
      for (auto e : arr) {
        simdjson::dom::object o;
        if (e.get(o) != simdjson::SUCCESS) continue;
        w_.begin_object();
        for (auto [k, v] : o) w_.field_raw(k, simdjson::minify(v));
        if (!ctx.empty()) w_.field("context", ctx);
        w_.end_object();
      }
    read_problems(m, "warnings", ctx, warnings_);
    read_problems(m, "unsupported", ctx, unsupported_);
    return true;
  }

  void warn(const std::string& ctx, std::string reason) {
    warnings_.emplace_back(ctx, runtime::context_problem{"", std::move(reason)});
  }

  std::string finish(const std::string& request_json) && {
    w_.end_array();
    write_problems(w_, "warnings", warnings_);
    write_problems(w_, "unsupported", unsupported_);
    w_.field_raw("request", request_json);
    w_.end_object();
    return std::move(w_).str();
  }

 private:
  static void read_problems(simdjson::dom::object m, const char* key, const std::string& ctx,
                            problems& out) {
    simdjson::dom::array ps;
    if (m[key].get(ps) != simdjson::SUCCESS) return;
    for (auto p : ps) {
      std::string_view path, reason;
      if (p["path"].get(path) != simdjson::SUCCESS) path = {};
      if (p["reason"].get(reason) != simdjson::SUCCESS) reason = {};
      out.emplace_back(ctx, runtime::context_problem{std::string(path), std::string(reason)});
    }
  }

  simdjson::dom::parser parser_;
  json::writer w_;
  problems warnings_, unsupported_;
};

}  // namespace

result<context_info> engine::upload_context(std::string_view tar) {
  auto m = runtime::store_context_tar(tar, impl_->opts.contexts_dir);
  if (!m) return m.error();
  auto put = impl_->db->put_context(m->id, m->json());
  if (!put) return put.error();
  // Builds waiting for this context are queued now.
  caller_thread_guard caller;
  if (auto mgr = impl_->ctx->directory.manager())
    caf::anon_send(mgr, actors::ctx_ready_atom::value, m->id);
  return context_info{m->id, m->digest, m->files, m->bytes};
}

result<std::string> engine::inspect_context_json(std::string_view body, bool is_tar) const {
  inspection out;
  if (is_tar) {
    // A local context, inspected without uploading it.
    auto m = runtime::inspect_context_tar(body);
    if (!m) return m.error();
    out.add_manifest(m->json(), "");
    return std::move(out).finish("null");
  }
  auto parsed = runtime::parse_build_request(body, impl_->opts.limits);
  if (!parsed.request) return runtime::request_error(std::move(parsed));
  auto& r = *parsed.request;
  std::vector<std::string> ids;
  if (!r.source.context.empty()) ids.push_back(r.source.context);
  for (auto& s : r.steps)
    if (!s.context.empty() && std::find(ids.begin(), ids.end(), s.context) == ids.end())
      ids.push_back(s.context);
  for (auto& id : ids) {
    auto stored = impl_->db->get_context(id);
    if (!stored || !out.add_manifest(*stored, id))
      out.warn(id, "build context " + id + " has not been uploaded");
  }
  return std::move(out).finish(runtime::sanitized_definition_json(r));
}

}  // namespace nullspace

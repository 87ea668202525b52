#include "api/template_routes.hpp"

#include "api/json_body.hpp"
#include "api/loop_answer.hpp"
#include "api/query_params.hpp"
#include "api/route_ids.hpp"

namespace nullspace::api {
namespace {

constexpr size_t max_page = 500;

void respond_json(exchange_ptr& ex, int status, const result<std::string>& r) {
  ex->respond(r ? json_response(status, r.value()) : error_response(r.error()));
}

// A registry change answered on the loop thread.
engine::callback<template_view> answer_on_loop(exchange_ptr ex, int ok_status) {
  return answer_on_loop<template_view>(std::move(ex), [ok_status](const template_view& v) {
    return json_response(ok_status, v.json);
  });
}

// A required string member of a JSON object body, or the 400 saying so.
result<std::string> required_string(simdjson::dom::object o, std::string_view key) {
  auto v = optional_string(o, key);
  if (!v) return v.error();
  if (!v.value())
    return make_error(errc::invalid_argument, std::string(key) + " is required", std::string(key));
  return std::move(*v.value());
}

// ---- reads ------------------------------------------------------------------

void list_templates(route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto limit = query_limit(req, max_page);
  if (!limit) return ex->respond(error_response(limit.error()));
  template_list_options o;
  o.namespace_name = query_string(req, "namespace");
  o.visibility = query_string(req, "visibility");
  o.limit = limit.value();
  o.cursor = query_string(req, "cursor");
  respond_json(ex, 200, c.eng.list_templates_json(o, ex->tenant));
}

void get_template(route_context& c, exchange_ptr ex) {
  auto ref = ref_param(*ex);
  if (!ref) return ex->respond(error_response(ref.error()));
  respond_json(ex, 200, c.eng.get_template_json(*ref, ex->tenant));
}

void list_builds(route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  auto limit = query_limit(req, max_page);
  if (!limit) return ex->respond(error_response(limit.error()));
  build_list_options o;
  o.limit = limit.value();
  o.cursor = query_string(req, "cursor");
  if (auto s = req.query_param("status"); s && !s->empty()) {
    o.status = parse_build_status(*s);
    if (!o.status)
      return ex->respond(error_response(
          400, errc::invalid_argument,
          "status must be one of waiting, queued, building, ready, error, cancelled", "status"));
  }
  if (auto t = req.query_param("tagged"); t && !t->empty()) {
    if (*t != "true" && *t != "false")
      return ex->respond(
          error_response(400, errc::invalid_argument, "tagged must be true or false", "tagged"));
    o.tagged = *t == "true";
  }
  o.backend = query_string(req, "backend");
  if (!o.backend.empty() && o.backend != "native" && o.backend != "buildkit")
    return ex->respond(error_response(400, errc::invalid_argument,
                                      "backend must be native or buildkit", "backend"));
  auto ref = ref_param(*ex);
  if (!ref) return ex->respond(error_response(ref.error()));
  respond_json(ex, 200, c.eng.list_builds_json(*ref, o, ex->tenant));
}

void list_aliases(route_context& c, exchange_ptr ex) {
  auto ref = ref_param(*ex);
  if (!ref) return ex->respond(error_response(ref.error()));
  respond_json(ex, 200, c.eng.list_aliases_json(*ref, ex->tenant));
}

// ---- changes ----------------------------------------------------------------

// Parses the body (members other than `known` are a 400), then sends
// `change` (filled by `fill` from it).
template <class Fill>
void change(route_context& c, exchange_ptr ex, registry_change::kind what, int ok_status,
            const std::set<std::string_view>& known, Fill fill) {
  simdjson::dom::parser parser;
  auto body = parse_object_body(parser, ex->request().body, true);
  if (!body) return ex->respond(error_response(body.error()));
  if (auto k = only_known(body.value(), known, "this template change"); !k)
    return ex->respond(error_response(k.error()));
  registry_change ch;
  ch.what = what;
  ch.ref = ex->params.empty() ? std::string() : ex->params[0];
  if (auto e = fill(body.value(), ch)) return ex->respond(error_response(*e));
  c.eng.change_template_async(std::move(ch), ex->tenant, answer_on_loop(ex, ok_status));
}

using change_kind = registry_change;

void assign_tags(route_context& c, exchange_ptr ex) {
  change(c, ex, change_kind::assign_tags, 200, {"tags"},
         [](simdjson::dom::object o, registry_change& ch) -> std::optional<error> {
           auto tags = optional_strings(o, "tags");
           if (!tags) return tags.error();
           if (!tags.value() || tags.value()->empty())
             return make_error(errc::invalid_argument, "tags must be a non-empty array", "tags");
           ch.values = std::move(*tags.value());
           return std::nullopt;
         });
}

void remove_tag(route_context& c, exchange_ptr ex) {
  auto tag = ex->params[1];
  change(c, ex, change_kind::remove_tag, 200, {},
         [&](simdjson::dom::object, registry_change& ch) -> std::optional<error> {
           ch.values = {tag};
           return std::nullopt;
         });
}

void add_alias(route_context& c, exchange_ptr ex) {
  change(c, ex, change_kind::add_alias, 201, {"alias"},
         [](simdjson::dom::object o, registry_change& ch) -> std::optional<error> {
           auto alias = required_string(o, "alias");
           if (!alias) return alias.error();
           ch.values = {std::move(alias.value())};
           return std::nullopt;
         });
}

void remove_alias(route_context& c, exchange_ptr ex) {
  auto alias = ex->params[1];
  change(c, ex, change_kind::remove_alias, 200, {},
         [&](simdjson::dom::object, registry_change& ch) -> std::optional<error> {
           ch.values = {alias};
           return std::nullopt;
         });
}

void reserve(route_context& c, exchange_ptr ex) {
  change(c, ex, change_kind::reserve, 201, {"name", "namespace"},
         [](simdjson::dom::object o, registry_change& ch) -> std::optional<error> {
           auto name = required_string(o, "name");
           if (!name) return name.error();
           ch.ref = std::move(name.value());
           auto ns = optional_string(o, "namespace");
           if (!ns) return ns.error();
           ch.namespace_name = ns.value().value_or("");
           return std::nullopt;
         });
}

void rename(route_context& c, exchange_ptr ex) {
  change(c, ex, change_kind::rename, 200, {"name", "namespace"},
         [](simdjson::dom::object o, registry_change& ch) -> std::optional<error> {
           auto name = required_string(o, "name");
           if (!name) return name.error();
           ch.values = {std::move(name.value())};
           auto ns = optional_string(o, "namespace");
           if (!ns) return ns.error();
           ch.namespace_name = ns.value().value_or("");
           return std::nullopt;
         });
}

void set_visibility(route_context& c, exchange_ptr ex) {
  change(c, ex, change_kind::set_visibility, 200, {"visibility"},
         [](simdjson::dom::object o, registry_change& ch) -> std::optional<error> {
           auto v = required_string(o, "visibility");
           if (!v) return v.error();
           ch.values = {std::move(v.value())};
           return std::nullopt;
         });
}

void delete_template(route_context& c, exchange_ptr ex) {
  change(
      c, ex, change_kind::remove, 200, {},
      [](simdjson::dom::object, registry_change&) -> std::optional<error> { return std::nullopt; });
}

}  // namespace

void add_template_routes(router& r, route_context ctx) {
  auto bind = route_binder(ctx);
  r.add("GET", "/v1/templates", bind(list_templates));
  r.add("POST", "/v1/templates:reserve", bind(reserve));
  r.add("GET", "/v1/templates/{ref}", bind(get_template));
  r.add("DELETE", "/v1/templates/{ref}", bind(delete_template));
  r.add("GET", "/v1/templates/{ref}/builds", bind(list_builds));
  r.add("POST", "/v1/templates/{ref}/tags", bind(assign_tags));
  r.add("DELETE", "/v1/templates/{ref}/tags/{tag}", bind(remove_tag));
  r.add("GET", "/v1/templates/{ref}/aliases", bind(list_aliases));
  r.add("POST", "/v1/templates/{ref}/aliases", bind(add_alias));
  r.add("DELETE", "/v1/templates/{ref}/aliases/{alias}", bind(remove_alias));
  r.add("POST", "/v1/templates/{ref}/rename", bind(rename));
  r.add("PUT", "/v1/templates/{ref}/visibility", bind(set_visibility));
}

}  // namespace nullspace::api

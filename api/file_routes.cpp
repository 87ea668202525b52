// Files in machines: bytes in and out, directory listings, removal. Paths are
// resolved inside the machine's root by the engine; its filesystem calls
// block, so they run off the loop.
#include "api/machine_json.hpp"
#include "api/machine_routes.hpp"
#include "api/off_loop.hpp"
#include "api/query_params.hpp"
#include "storage/common/json_writer.hpp"

namespace nullspace::api {
namespace {

// The `path` parameter every file route needs.
result<std::string> path_param(const http_request& r) {
  auto p = r.query_param("path");
  if (!p || p->empty())
    return make_error(errc::invalid_argument,
                      "path is required: an absolute path inside the machine (?path=/…)", "path");
  return std::string(*p);
}

// Parses the id and path, then runs `work(engine, id, path, tenant)` off the
// loop and answers with `answer(result)`.
template <class T, class Work, class Answer>
void file_call(machine_route_context& c, exchange_ptr ex, Work work, Answer answer) {
  auto id = machine_param(*ex);
  if (!id) return ex->respond(error_response(id.error()));
  auto path = path_param(ex->request());
  if (!path) return ex->respond(error_response(path.error()));
  auto* eng = &c.eng;
  off_loop<result<T>>(
      c.workers, ex->server().bridge().poster(),
      [eng, work, id = *id, path = *path, tenant = ex->tenant] {
        return work(*eng, id, path, tenant);
      },
      [ex, answer, path = *path](result<T>& r) {
        ex->respond(r ? answer(r.value(), path) : error_response(r.error()));
      });
}

// ---- PUT /v1/machines/{id}/files?path=&mode=&uid=&gid= ---------------------------------
void write_file(machine_route_context& c, exchange_ptr ex) {
  auto& req = ex->request();
  file_write_options o;
  if (auto m = req.query_param("mode")) {
    auto mode = parse_mode(*m, "mode");
    if (!mode) return ex->respond(error_response(mode.error()));
    o.mode = mode.value();
  }
  for (auto [name, slot] : {std::pair{"uid", &o.uid}, std::pair{"gid", &o.gid}}) {
    if (!req.query_param(name)) continue;
    auto v = query_u64(req, name, 0);
    if (!v) return ex->respond(error_response(v.error()));
    if (v.value() > UINT32_MAX)
      return ex->respond(
          error_response(400, errc::invalid_argument, std::string(name) + " is too large", name));
    *slot = static_cast<uint32_t>(v.value());
  }
  auto body = std::make_shared<std::string>(std::move(req.body));
  file_call<file_info>(
      c, ex,
      [body, o](engine& e, const machine_id& id, const std::string& path, const tenant_id& t) {
        return e.write_file(id, path, std::move(*body), o, t);
      },
      [](file_info& f, const std::string& path) {
        return json_response(200, file_info_json(f, path));
      });
}

// ---- GET /v1/machines/{id}/files?path= ------------------------------------------------
void read_file(machine_route_context& c, exchange_ptr ex) {
  file_call<std::string>(
      c, ex,
      [](engine& e, const machine_id& id, const std::string& path, const tenant_id& t) {
        return e.read_file(id, path, t);
      },
      [](std::string& bytes, const std::string&) {
        http_response r;
        r.headers.emplace_back("Content-Type", "application/octet-stream");
        r.body = std::move(bytes);
        return r;
      });
}

// ---- DELETE /v1/machines/{id}/files?path=&recursive= -----------------------------------
void remove_file(machine_route_context& c, exchange_ptr ex) {
  auto recursive = query_bool(ex->request(), "recursive");
  if (!recursive) return ex->respond(error_response(recursive.error()));
  bool rec = recursive.value();
  file_call<bool>(
      c, ex,
      [rec](engine& e, const machine_id& id, const std::string& path,
            const tenant_id& t) -> result<bool> {
        auto r = e.remove_file(id, path, rec, t);
        if (!r) return r.error();
        return true;
      },
      [](bool&, const std::string& path) {
        json::writer w;
        w.begin_object().field("deleted", path).end_object();
        return json_response(200, std::move(w).str());
      });
}

// ---- GET /v1/machines/{id}/files:list?path= --------------------------------------------
void list_files(machine_route_context& c, exchange_ptr ex) {
  file_call<std::vector<file_info>>(
      c, ex,
      [](engine& e, const machine_id& id, const std::string& path, const tenant_id& t) {
        return e.list_files(id, path, t);
      },
      [](std::vector<file_info>& entries, const std::string& path) {
        return json_response(200, file_list_json(path, entries));
      });
}

}  // namespace

void add_file_routes(router& r, machine_route_context ctx) {
  auto bind = route_binder(ctx);
  route_options upload{.max_body_bytes = ctx.eng.options().machines.max_file_bytes,
                       .raw_body = true};
  r.add("PUT", "/v1/machines/{id}/files", bind(write_file), upload);
  r.add("GET", "/v1/machines/{id}/files", bind(read_file));
  r.add("DELETE", "/v1/machines/{id}/files", bind(remove_file));
  r.add("GET", "/v1/machines/{id}/files:list", bind(list_files));
}

}  // namespace nullspace::api

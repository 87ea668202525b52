// docs/API.md is executed: every example request is sent to a real server in
// document order and its documented response is checked (status, content type,
// the shape of the body). The documented routes must be exactly the server's.
#include <archive.h>
#include <archive_entry.h>
#include <simdjson.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "api/router.hpp"
#include "api_fixture.hpp"
#include "catch2/catch.hpp"
#include "machine_support.hpp"
#include "sandbox_support.hpp"

using namespace nullspace;
using namespace nullspace::test;

namespace {

std::string doc_path() {
  const char* root = std::getenv("NULLSPACE_SOURCE_ROOT");
  return std::string(root ? root : "..") + "/docs/API.md";
}

struct doc_message {
  std::string first_line;
  http_headers headers;
  std::string body;
};

doc_message parse_block(const std::vector<std::string>& lines) {
  doc_message m;
  size_t i = 0;
  m.first_line = lines.at(i++);
  for (; i < lines.size() && !lines[i].empty(); ++i) {
    auto colon = lines[i].find(':');
    REQUIRE(colon != std::string::npos);
    auto v = lines[i].substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.erase(0, 1);
    m.headers.emplace_back(lines[i].substr(0, colon), v);
  }
  for (++i; i < lines.size(); ++i) m.body += lines[i] + "\n";
  return m;
}

std::string header_of(const doc_message& m, std::string_view name) {
  for (auto& [k, v] : m.headers) {
    std::string lk = k;
    for (auto& c : lk) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lk == name) return v;
  }
  return {};
}

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == 'n') {
      out.push_back('\n');
      ++i;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// `name="content" name2="content"` → a tar archive of those regular files.
std::string make_tar(std::string_view spec) {
  std::vector<std::pair<std::string, std::string>> files;
  while (!spec.empty()) {
    while (!spec.empty() && spec.front() == ' ') spec.remove_prefix(1);
    if (spec.empty()) break;
    auto eq = spec.find("=\"");
    REQUIRE(eq != std::string_view::npos);
    auto end = spec.find('"', eq + 2);
    REQUIRE(end != std::string_view::npos);
    files.emplace_back(std::string(spec.substr(0, eq)),
                       unescape(spec.substr(eq + 2, end - eq - 2)));
    spec.remove_prefix(end + 1);
  }
  std::string out(1 << 20, '\0');
  size_t used = 0;
  auto* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_memory(a, out.data(), out.size(), &used) == ARCHIVE_OK);
  for (auto& [name, content] : files) {
    auto* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(content.size()));
    REQUIRE(archive_write_header(a, e) == ARCHIVE_OK);
    archive_write_data(a, content.data(), content.size());
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  out.resize(used);
  return out;
}

// Every field of the documented JSON exists in the real one with the same
// type; a documented null matches anything; arrays compare first elements.
void check_shape(simdjson::dom::element doc, simdjson::dom::element real, const std::string& path) {
  if (doc.is_null()) return;
  INFO("at " << (path.empty() ? "$" : path));
  auto kind = [](simdjson::dom::element e) {
    auto t = e.type();
    if (t == simdjson::dom::element_type::INT64 || t == simdjson::dom::element_type::UINT64 ||
        t == simdjson::dom::element_type::DOUBLE)
      return simdjson::dom::element_type::DOUBLE;
    return t;
  };
  REQUIRE(kind(doc) == kind(real));
  if (doc.is_object()) {
    for (auto [k, v] : doc.get_object()) {
      simdjson::dom::element r;
      INFO("missing field " << path << "." << k);
      REQUIRE(real[k].get(r) == simdjson::SUCCESS);
      check_shape(v, r, path + "." + std::string(k));
    }
  } else if (doc.is_array()) {
    auto da = doc.get_array().value();
    auto ra = real.get_array().value();
    if (da.size() > 0 && ra.size() > 0) check_shape(da.at(0), ra.at(0), path + "[0]");
  }
}

std::string substitute(std::string s, const std::map<std::string, std::string>& vars) {
  for (auto& [k, v] : vars) {
    auto key = "{" + k + "}";
    for (size_t p; (p = s.find(key)) != std::string::npos;) s.replace(p, key.size(), v);
  }
  return s;
}

}  // namespace

TEST_CASE("docs/API.md: every example runs against the server as documented", "[api_doc]") {
  std::ifstream in(doc_path());
  REQUIRE(in.good());
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);

  // Sandboxed, so the Machines examples run real machines (from the shared test
  // images, in an address range of their own).
  REQUIRE_MACHINES();
  temp_dir scratch;
  auto eopts = sandbox_options(scratch, true);
  eopts.machines.network_range = "10.82.0.0/16";
  api_fixture f({}, eopts);
  // A failing example must not leave machines running.
  struct stop_machines {
    engine& eng;
    ~stop_machines() {
      machine_list_options o;
      o.limit = 500;
      if (auto page = eng.list_machines(o))
        for (auto& m : page->machines)
          if (!is_terminal(m.record.state)) (void)eng.stop_machine(m.id());
    }
  } stop_all{*f.eng};
  // The documented logs are those of a build whose base image exists: make
  // python:3.11 first (on a fresh checkout the first build bootstraps it,
  // which adds entries and moves every offset).
  REQUIRE(build(*f.eng, R"({"name":"warm-up","builder":{"source":{"type":"python_image",
      "version":"3.11"},"steps":[{"type":"run","cmd":"true"}]}})")
              .record.status == build_status::ready);
  std::map<std::string, std::string> vars;
  std::set<std::pair<std::string, std::string>> documented;
  std::optional<doc_message> request;
  std::string pending_tar;
  std::string last_body;
  size_t examples = 0;

  for (size_t i = 0; i < lines.size(); ++i) {
    auto& line = lines[i];
    // Route headings ("### POST /v1/builds"); other ### headings are prose.
    bool route = false;
    for (auto m : {"GET ", "POST ", "PUT ", "PATCH ", "DELETE ", "ANY "})
      route = route || line.starts_with(std::string("### ") + m);
    if (route) {
      auto sp = line.find(' ', 4);
      auto method = line.substr(4, sp - 4);
      documented.emplace(method == "ANY" ? "*" : method, line.substr(sp + 1));
    } else if (line.starts_with("<!-- example: ")) {
      std::string d = line.substr(14, line.size() - 14 - 4);
      std::istringstream ds(d);
      std::string verb;
      ds >> verb;
      std::string rest;
      std::getline(ds, rest);
      if (!rest.empty() && rest.front() == ' ') rest.erase(0, 1);
      if (verb == "capture") {
        auto eq = rest.find('=');
        auto v = json_str(last_body, rest.substr(eq + 1));
        REQUIRE(!v.empty());
        vars[rest.substr(0, eq)] = v;
      } else if (verb == "wait-terminal") {
        f.wait_terminal(vars.at(rest));
      } else if (verb == "tar") {
        pending_tar = make_tar(rest);
      } else if (verb == "capture-new") {  // capture-new VAR build {json}
        std::istringstream rs(rest);
        std::string var, what;
        rs >> var >> what;
        std::string body;
        std::getline(rs, body);
        auto r = f.post_json("/v1/builds", body);
        REQUIRE(r.status == 202);
        vars[var] = json_str(r.body, "build.id");
      } else if (verb == "cancel") {
        f.post_json("/v1/builds/" + vars.at(rest) + "/cancel", "{}");
      } else {
        FAIL("unknown example directive: " << verb);
      }
    } else if (line == "```request" || line == "```response") {
      std::vector<std::string> block;
      for (++i; i < lines.size() && lines[i] != "```"; ++i) block.push_back(lines[i]);
      auto msg = parse_block(block);
      if (line == "```request") {
        request = std::move(msg);
        continue;
      }
      REQUIRE(request);
      auto& req = *request;
      INFO("example: " << req.first_line);
      auto sp = req.first_line.find(' ');
      auto method = req.first_line.substr(0, sp);
      auto target = substitute(req.first_line.substr(sp + 1), vars);
      std::string body = pending_tar.empty() ? substitute(req.body, vars) : pending_tar;
      pending_tar.clear();
      http_headers headers;
      for (auto& [k, v] : req.headers) headers.emplace_back(k, substitute(v, vars));
      http_connection c(f.port);
      c.send_request(method, target, body, headers);
      auto real = c.read_response();
      last_body = real.body;
      ++examples;
      CHECK(real.status == std::stoi(msg.first_line));
      auto ctype = header_of(msg, "content-type");
      CHECK(real.header("content-type") == ctype);
      if (ctype == "application/json") {
        simdjson::dom::parser dp, rp;
        simdjson::dom::element de, re;
        INFO("documented body is not valid JSON");
        REQUIRE(dp.parse(msg.body).get(de) == simdjson::SUCCESS);
        INFO("real body: " << real.body);
        REQUIRE(rp.parse(real.body).get(re) == simdjson::SUCCESS);
        check_shape(de, re, "");
      } else if (ctype == "text/event-stream") {
        // The documented events appear in this order in the real stream.
        size_t at = 0;
        std::istringstream ds(msg.body);
        for (std::string dl; std::getline(ds, dl);) {
          if (!dl.starts_with("event: ")) continue;
          at = real.body.find(dl + "\n", at);
          INFO("event not found in order: " << dl);
          REQUIRE(at != std::string::npos);
          ++at;
        }
      } else if (ctype == "application/x-ndjson") {
        std::istringstream rs(real.body);
        std::vector<std::string> rl;
        for (std::string l; std::getline(rs, l);) rl.push_back(l);
        REQUIRE(rl.size() >= 2);
        CHECK(json_str(rl.back(), "event") == "end");
        simdjson::dom::parser dp, rp;
        auto first_doc = msg.body.substr(0, msg.body.find('\n'));
        check_shape(dp.parse(first_doc), rp.parse(rl.front()), "");
      } else if (ctype == "application/octet-stream" || ctype.starts_with("text/html")) {
        CHECK(real.body == msg.body);  // file bytes, a proxied page: exactly as shown
      } else if (ctype.starts_with("text/plain")) {
        std::istringstream ds(msg.body);
        for (std::string dl; std::getline(ds, dl);) {
          auto name = dl.substr(0, dl.find_first_of("{ "));
          INFO("metric missing: " << name);
          CHECK(real.body.find(name) != std::string::npos);
        }
      }
      request.reset();
    }
  }
  CHECK(examples >= 15);

  std::set<std::pair<std::string, std::string>> served;
  for (auto& r : f.server->routes().routes()) served.emplace(r.method, r.pattern);
  CHECK(documented == served);
}

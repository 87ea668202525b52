#include "runtime/plan/plan.hpp"

#include <map>

#include "runtime/dockerfile/dockerfile.hpp"
#include "storage/common/json_writer.hpp"
#include "storage/common/sha256.hpp"

// What goes into a cache key, and what deliberately does not:
//  - base key: the normalized source only. Registry credentials never do (they
//    change who may pull, not what is pulled). Image tags and template refs are
//    hashed as written; once the executor resolves them to digests, the digest
//    should be hashed instead so a moved tag cannot serve stale layers.
//  - step key: the parent key and the step's canonical JSON, which holds secret
//    ids (a step that mounts another secret is another step) but never values,
//    and the context id of a copy, which names content-addressed bytes.
//  - internet_access is NOT hashed. It decides whether a step can succeed, not
//    what a successful step produces, and failed steps are never cached. Keeping
//    it out lets an offline build reuse layers built online, which the product
//    docs promise ("unless their inputs are already available from an accessible
//    cache"). A step whose output really depends on the network (apt update) is
//    time-dependent anyway; skip_cache is the tool for that.
//  - name, tags, resources (cpu/memory/disk), skip_cache and the backend do not
//    change what a step writes, so they stay out and builds share layers.

namespace nullspace::runtime {
namespace {

constexpr size_t max_summary_bytes = 120;

// One printable line: whitespace runs become one space, long text is cut on a
// UTF-8 boundary with an ellipsis.
std::string one_line(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7F) {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  if (out.size() > max_summary_bytes) {
    size_t n = max_summary_bytes;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
    out.resize(n);
    out += "…";
  }
  return out;
}

std::string joined(const std::vector<std::string>& words, std::string_view sep = " ") {
  std::string out;
  for (auto& w : words) {
    if (!out.empty()) out += sep;
    out += w;
  }
  return out;
}

std::string base_summary(const build_source& src) {
  switch (src.type) {
    case source_type::python_image:
      return "python_image " + src.version;
    case source_type::image:
      return "image " + src.image + (src.auth ? " (private registry)" : "");
    case source_type::dockerfile:
      return "dockerfile (" + std::to_string(src.dockerfile.size()) + " bytes" +
             (src.context.empty() ? "" : ", context " + src.context) + ")";
    case source_type::template_ref:
      return "template " + src.ref;
  }
  return "unknown source";
}

std::string step_summary(const build_step& st) {
  std::string s = to_string(st.type);
  switch (st.type) {
    case step_type::apt_install:
    case step_type::pip_install:
      s += " " + joined(st.packages);
      break;
    case step_type::npm_install:
      s += (st.global ? " -g " : " ") + joined(st.packages);
      break;
    case step_type::run:
      s += " " + (st.argv.empty() ? st.cmd : joined(st.argv));
      if (st.network_none) s += " [network: none]";
      if (!st.secrets.empty()) s += " [secrets: " + joined(st.secrets, ", ") + "]";
      break;
    case step_type::copy:
      if (st.from_stage >= 0) s += " --from=" + std::to_string(st.from_stage);
      if (!st.image.empty()) s += " --from=" + st.image;
      s += " " + (st.url.empty() ? st.src : url_for_messages(st.url)) + " -> " + st.dest;
      break;
    case step_type::git_clone:
      s += " " + url_for_messages(st.url) + (st.ref.empty() ? "" : " (" + st.ref + ")") + " -> " +
           st.dest;
      break;
    case step_type::env:
      for (auto& kv : st.envs) s += " " + kv.first;  // names only: values may be sensitive
      break;
    case step_type::workdir:
      s += " " + st.path;
      break;
    case step_type::user:
      s += " " + st.user;
      break;
    case step_type::from:
      s += st.from_stage >= 0 ? " stage " + std::to_string(st.from_stage)
           : st.image.empty() ? std::string(" scratch")
                              : " " + st.image;
      if (!st.stage_name.empty()) s += " AS " + st.stage_name;
      break;
  }
  return one_line(s);
}

std::string base_key(const build_source& src) {
  sha256 h;
  h.update_field("nullspace.base.v1").update_field(to_string(src.type));
  switch (src.type) {
    case source_type::python_image:
      h.update_field(src.version);
      break;
    case source_type::image:
      h.update_field(src.image);
      break;  // never src.auth
    case source_type::dockerfile:
      h.update_field(src.dockerfile).update_field(src.context);
      break;
    case source_type::template_ref:
      h.update_field(src.ref);
      break;
  }
  return "sha256:" + h.hex_digest();
}

}  // namespace

build_plan make_plan(const build_request& req) {
  build_plan plan;
  plan.backend = to_string(req.backend);
  plan.base_summary = one_line(base_summary(req.source));
  plan.base_key = base_key(req.source);
  plan.start_cmd = req.start_cmd;
  plan.ready = req.ready;
  plan.ready_timeout_ms = req.ready_timeout_ms;
  std::vector<build_step> steps;
  if (req.source.type == source_type::dockerfile) {
    auto prog =
        parse_dockerfile(req.source.dockerfile, req.source.context, {req.build_args, req.target});
    steps = std::move(prog.steps);
    if (plan.start_cmd.empty()) plan.start_cmd = prog.start_cmd;
    plan.labels = std::move(prog.labels);
    plan.exposed_ports = std::move(prog.exposed_ports);
    plan.volumes = std::move(prog.volumes);
    plan.stop_signal = std::move(prog.stop_signal);
    plan.onbuild = std::move(prog.onbuild);
    if (req.ready.type == ready_type::none && !plan.start_cmd.empty() &&
        prog.healthcheck.type != ready_type::none) {
      plan.ready = prog.healthcheck;
      plan.ready_timeout_ms = prog.healthcheck_deadline_ms;
    }
  }
  steps.insert(steps.end(), req.steps.begin(), req.steps.end());

  std::string parent = plan.base_key;
  std::map<int32_t, std::string> stage_keys;  // stage -> its last key so far
  int32_t stage = -1;
  for (size_t i = 0; i < steps.size(); ++i) {
    plan_step ps;
    ps.index = i;
    ps.type = to_string(steps[i].type);
    ps.summary = step_summary(steps[i]);
    ps.normalized = canonical_step_json(steps[i]);
    if (steps[i].type == step_type::from) {
      stage = steps[i].stage;
      parent = steps[i].from_stage >= 0 ? stage_keys[steps[i].from_stage] : std::string();
    }
    sha256 h;
    h.update_field("nullspace.step.v1").update_field(parent).update_field(ps.normalized);
    if (steps[i].type == step_type::copy && steps[i].from_stage >= 0)
      h.update_field(stage_keys[steps[i].from_stage]);
    ps.cache_key = "sha256:" + h.hex_digest();
    parent = ps.cache_key;
    if (stage >= 0) stage_keys[stage] = parent;
    ps.step = std::move(steps[i]);
    plan.steps.push_back(std::move(ps));
  }
  plan.cpu_count = req.cpu_count;
  plan.memory_mb = req.memory_mb;
  plan.disk_mb = req.disk_mb;
  plan.internet_access = req.internet_access;
  return plan;
}

std::vector<plan_step> plan_more_steps(std::vector<build_step> steps, std::string parent_key,
                                       size_t first_index) {
  std::vector<plan_step> out;
  for (size_t i = 0; i < steps.size(); ++i) {
    plan_step ps;
    ps.index = first_index + i;
    ps.type = to_string(steps[i].type);
    ps.summary = step_summary(steps[i]);
    ps.normalized = canonical_step_json(steps[i]);
    sha256 h;
    h.update_field("nullspace.step.v1").update_field(parent_key).update_field(ps.normalized);
    ps.cache_key = "sha256:" + h.hex_digest();
    parent_key = ps.cache_key;
    ps.step = std::move(steps[i]);
    out.push_back(std::move(ps));
  }
  return out;
}

std::string plan_json(const build_plan& plan) {
  json::writer w;
  w.begin_object().field("backend", plan.backend);
  w.key("base")
      .begin_object()
      .field("summary", plan.base_summary)
      .field("cache_key", plan.base_key)
      .end_object();
  w.key("steps").begin_array();
  for (auto& s : plan.steps)
    w.begin_object()
        .field("index", static_cast<uint64_t>(s.index))
        .field("type", s.type)
        .field("summary", s.summary)
        .field("cache_key", s.cache_key)
        .end_object();
  w.end_array();
  w.key("resources")
      .begin_object()
      .field("cpu_count", plan.cpu_count)
      .field("memory_mb", plan.memory_mb)
      .field("disk_mb", plan.disk_mb)
      .field("internet_access", plan.internet_access)
      .end_object();
  if (auto& t = plan.triggers) {
    w.key("onbuild_triggers")
        .begin_object()
        .field("template", t->template_ref)
        .field("build", t->build_id);
    w.key("instructions").begin_array();
    for (auto& i : t->instructions) w.value(i);
    w.end_array().field("steps", static_cast<uint64_t>(t->steps));
    if (!t->problem.empty()) w.field("problem", t->problem);
    w.end_object();
  }
  w.end_object();
  return std::move(w).str();
}

}  // namespace nullspace::runtime

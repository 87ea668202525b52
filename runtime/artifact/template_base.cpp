#include "runtime/artifact/template_base.hpp"

#include <simdjson.h>

#include <filesystem>

#include "storage/common/file_text.hpp"
#include "storage/common/json_reader.hpp"

namespace nullspace::runtime {

result<template_base> read_template_base(const std::string& artifact_dir) {
  simdjson::dom::parser parser;
  auto artifact_text = read_text_file(artifact_dir + "/artifact.json");
  auto config_text = read_text_file(artifact_dir + "/config.json");
  simdjson::padded_string artifact_json(artifact_text);
  simdjson::dom::object artifact;
  if (artifact_text.empty() || parser.parse(artifact_json).get(artifact) != simdjson::SUCCESS)
    return make_error(errc::unavailable, "its artifact is no longer stored on this server");
  template_base out;
  out.digest = storage::jr::str(artifact, "digest");
  simdjson::dom::array layers;
  if (artifact["layers"].get(layers) != simdjson::SUCCESS)
    return make_error(errc::unavailable,
                      "its artifact was made before builds could start from templates; build "
                      "the template again");
  for (auto l : layers) {
    std::string_view dir;
    if (l.get(dir) != simdjson::SUCCESS) continue;
    std::error_code ec;
    if (!std::filesystem::is_directory(std::string(dir), ec))
      return make_error(errc::unavailable,
                        "a layer of its artifact is no longer stored on this server; build the "
                        "template again");
    out.layers.emplace_back(dir);
  }
  simdjson::padded_string config_json(config_text);
  simdjson::dom::object config;
  if (parser.parse(config_json).get(config) != simdjson::SUCCESS)
    return make_error(errc::unavailable, "its template config is no longer stored on this server");
  out.env = storage::jr::strings(config, "env");
  out.user = storage::jr::str(config, "user");
  out.uid = static_cast<uint32_t>(storage::jr::u64(config, "uid"));
  out.gid = static_cast<uint32_t>(storage::jr::u64(config, "gid"));
  out.workdir = storage::jr::str(config, "workdir");
  out.onbuild = storage::jr::strings(config, "onbuild");
  if (out.user.empty()) out.user = "root";
  if (out.workdir.empty()) out.workdir = "/";
  return out;
}

std::vector<std::string> artifact_layer_dirs(const std::string& artifact_dir) {
  std::vector<std::string> out;
  auto text = read_text_file(artifact_dir + "/artifact.json");
  simdjson::dom::parser parser;
  simdjson::padded_string json(text);
  simdjson::dom::object artifact;
  if (text.empty() || parser.parse(json).get(artifact) != simdjson::SUCCESS) return out;
  return storage::jr::strings(artifact, "layers");
}

}  // namespace nullspace::runtime

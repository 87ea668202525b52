// Image references as users write them ("debian:bookworm",
// "127.0.0.1:5000/ns/img:1@sha256:…"), parsed the way Docker does.
#pragma once

#include <string>
#include <string_view>

#include "nullspace/error.hpp"

namespace nullspace::runtime {

inline constexpr const char* docker_hub = "docker.io";

struct image_ref {
  std::string registry;    // "docker.io", "127.0.0.1:5000", "[::1]:5000", "ghcr.io"
  std::string repository;  // "library/debian", "ns/img"
  std::string tag;         // "latest" unless given; "" when only a digest is given
  std::string digest;      // "sha256:<64 hex>" or ""

  // What the registry's manifest endpoint is asked for: the digest if there is
  // one, else the tag.
  const std::string& reference() const { return digest.empty() ? tag : digest; }
  // registry/repository[:tag][@digest], with the defaults filled in.
  std::string str() const;
};

// `[registry/]repository[:tag][@sha256:<hex>]`. The first component is a
// registry host if it contains '.' or ':' or is "localhost"; otherwise the
// registry is docker.io, where a single name means library/<name>. The tag
// defaults to "latest" unless a digest is given. invalid_argument (field
// "builder.source.image") saying what is wrong for anything else.
result<image_ref> parse_image_ref(std::string_view text);

// True for hosts a registry is reached over plain http: localhost, 127.0.0.0/8
// and [::1] (with or without a port).
bool is_loopback_registry(std::string_view registry);

}  // namespace nullspace::runtime

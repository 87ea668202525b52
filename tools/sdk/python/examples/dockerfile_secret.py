# seeds/001 "BuildKit Secrets" and seeds/002 (the same sample in both): a
# Dockerfile build with a request-time secret read from $NPM_TOKEN.
# --- preamble, not in the seed: the sample uses `Template` without importing it ---
from nullspace import Template

# --- the sample, as written ---
builder = (
    Template.from_dockerfile_content(
        "FROM node:20\nRUN --mount=type=secret,id=npm_token npm ci"
    )
    .add_build_secret_env("npm_token", "NPM_TOKEN")
)

Template.build(builder, name="private-npm")

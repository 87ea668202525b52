# seeds/001, second sample (a build with loopback-only network).
# --- preamble, not in the seed: the sample uses `Template` and `builder` without defining them ---
from nullspace import Template

builder = Template.from_image("busybox").run_cmd("echo built offline")
# --- the sample, as written ---
build = Template.build(
    builder,
    name="offline-template",
    internet_access=False,
)

# seeds/001 ("Builds turn a template builder into a reusable template ref"), first sample.
# --- preamble, not in the seed: the sample uses `builder` without defining it ---
from nullspace import Template

builder = Template.from_image("busybox").run_cmd("echo hello from the sample")
# --- the sample, as written ---
from nullspace import Template, default_build_logger

build = Template.build(
    builder,
    name="my-template",
    tags=["stable"],
    cpu_count=4,
    memory_mb=2048,
    disk_mb=16384,
    skip_cache=False,
    on_log_entry=default_build_logger(),
)

print(build.status, build.name)

# seeds/001, "Background Builds".
# --- preamble, not in the seed: the sample uses `Template` and `builder` without defining them ---
from nullspace import Template

builder = Template.from_image("busybox").run_cmd("echo built in the background")
# --- the sample, as written ---
build = Template.build_in_background(builder, name="my-template", tags=["next"])
snapshot = build.get_status()
print(snapshot.build.status)

finished = build.wait_until_terminal()
print(finished.build.status)

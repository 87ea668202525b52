# The quick example of seeds/004 ("Quick Example"), as written; the one edit
# allowed: python "3.11" where the seed says "3.12" (the Python our images have).
from nullspace import Machine, Template, default_build_logger

builder = (
    Template()
    .from_python_image("3.11")
    .apt_install(["git", "curl"])
    .pip_install(["fastapi", "uvicorn"])
    .set_runtime_envs({"APP_ENV": "demo"})
)

build = Template.build(
    builder,
    name="fastapi-agent",
    tags=["stable"],
    on_log_entry=default_build_logger(),
)

with Machine.create(template=build.canonical_ref) as machine:
    print(machine.commands.run("python3 --version", shell=True).stdout)

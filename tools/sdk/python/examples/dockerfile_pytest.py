# seeds/002 ("Templates capture setup once"), as written; the one edit allowed:
# python "3.11" where the seed says "3.12" (the Python our images have).
from nullspace import Template, default_build_logger

builder = Template.from_dockerfile_content(
    "FROM python:3.11-slim\nRUN pip install pytest"
)
build = Template.build(
    builder,
    name="pytest-template",
    tags=["stable"],
    on_log_entry=default_build_logger(),
)
print(build.status)

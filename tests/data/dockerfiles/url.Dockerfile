# ADD of URLs: a download pinned with --checksum, and one into a directory
# (named after the URL's last path segment). The test serves BASE_URL on
# loopback.
FROM busybox
ARG BASE_URL=http://127.0.0.1:9/files
ARG TOOL_SHA256=sha256:af5a70135372ba3daadd0061fd2e14f8a3a0a2f25bf058be4aa5aa95fb810047
ADD --checksum=${TOOL_SHA256} ${BASE_URL}/tool.sh /usr/local/bin/tool.sh
ADD ${BASE_URL}/data.txt?v=2 /srv/
RUN sh /usr/local/bin/tool.sh && cat /srv/data.txt

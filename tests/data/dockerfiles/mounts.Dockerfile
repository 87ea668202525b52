# Read-only views instead of copies: RUN --mount=type=bind of the build
# context and of a stage (rw: writes are allowed and dropped), and COPY
# --from an image that is no stage of this file.
FROM busybox AS assets
RUN mkdir -p /out && echo "built asset" > /out/asset.txt

FROM busybox
COPY --from=busybox /bin/busybox /opt/busybox-copy
RUN --mount=type=bind,source=notes.txt,target=/mnt/notes.txt cp /mnt/notes.txt /srv-notes.txt
RUN --mount=type=bind,from=assets,source=/out,target=/mnt/assets \
    cat /mnt/assets/asset.txt > /asset-copy.txt
RUN --mount=type=bind,target=/ctx,rw touch /ctx/scribble && ls /ctx > /ctx-listing.txt
RUN --mount=type=bind,target=/ctx test ! -e /ctx/scribble && ! touch /ctx/x 2>/dev/null && \
    echo read-only > /ro.txt

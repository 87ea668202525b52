# The style of many Dockerfiles still in use: space-separated LABEL and ENV,
# MAINTAINER, a VOLUME, a STOPSIGNAL and a HEALTHCHECK that becomes the
# template's ready check.
FROM busybox
MAINTAINER Jo Doe <jo@example.com>
LABEL version 1.0
ENV APP_HOME /srv/app
ENV GREETING hello legacy world
WORKDIR $APP_HOME
RUN echo "$GREETING" > greeting.txt && mkdir -p /var/lib/app && echo kept > /var/lib/app/seed
VOLUME /var/lib/app
STOPSIGNAL SIGINT
HEALTHCHECK --interval=1s --timeout=5s --retries=30 CMD test -f /tmp/ready
CMD ["/bin/sh", "-c", "touch /tmp/ready; exec sleep 3600"]

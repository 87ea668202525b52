# syntax=docker/dockerfile:1.4
# BuildKit heredocs: a RUN script, a #! script, heredocs the shell reads, and
# files written by COPY (several on one line, <<- tab stripping, a quoted
# delimiter that keeps $ as written), with --chmod.
FROM busybox
ARG GREETING=hello
ENV APP=/srv/app
RUN <<EOF
set -e
mkdir -p $APP
echo "script ran as $(id -u)" > $APP/script.txt
EOF
RUN <<EOF
#!/bin/sh
echo "shebang script: $0" > /srv/app/shebang.txt
EOF
RUN cat <<ONE > /srv/app/one.txt && cat <<-TWO > /srv/app/two.txt
first file
ONE
	second file, its tab stripped
	TWO
COPY <<config.ini <<run.sh $APP/
[app]
greeting = ${GREETING}
home = $APP
config.ini
#!/bin/sh
exec echo running
run.sh
COPY --chmod=0755 <<-"EOF" /usr/local/bin/hello
	#!/bin/sh
	echo "$GREETING stays as written"
	EOF
COPY --chmod=600 notes.txt /srv/app/private.txt

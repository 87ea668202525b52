# A base template for others: its ONBUILD instructions are recorded, and run
# first in every build that starts from the template.
FROM busybox
RUN mkdir -p /app
ONBUILD ENV BUILT_ON=parent
ONBUILD RUN echo "child built on $BUILT_ON" > /app/onbuild.txt

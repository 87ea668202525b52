# ADD unpacks local tar archives (plain, gzip, bzip2, xz) into a directory,
# copies any other file as it is; COPY never unpacks.
FROM busybox
ADD vendor.tar.gz /opt/vendor/
ADD tools.tar.bz2 tools.tar.xz plain.tar /opt/
ADD notes.txt /opt/notes.txt
COPY vendor.tar.gz /opt/kept/
RUN ls /opt /opt/vendor /opt/kept && cat /opt/vendor/lib/version

FROM busybox
ONBUILD RUN echo triggered > /triggered
ONBUILD COPY a.txt /from-child-context
ONBUILD ENV CHILD=yes

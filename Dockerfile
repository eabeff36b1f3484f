# The octopus-pack Bitbucket Pipe: Python only, no .NET and no Octopus CLI.
# BASE_IMAGE is a build argument so offline machines can build FROM a locally imported Debian image
# (see ci-scripts/docker-engine.sh); any image with python3 >= 3.11 and the venv module works.
ARG BASE_IMAGE=python:3.12-slim
FROM ${BASE_IMAGE}

# The interpreter may be Debian's externally managed python3, so dependencies live in their own venv.
# Then out goes what only building, type checking or testing uses: pip itself, type stubs, C headers,
# numpy's Fortran and distutils build tools, and the tests packages ship. The pipe imports none of them.
COPY requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/python3 -m pip install --quiet --no-cache-dir --disable-pip-version-check \
        --root-user-action=ignore -r /tmp/requirements.txt \
    && /opt/venv/bin/python3 -m pip uninstall --yes --quiet pip setuptools \
    && site=$(/opt/venv/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
    && rm -rf "$site/numpy/f2py" "$site/numpy/distutils" "$site/numpy/_core/include" \
    && find "$site" -mindepth 2 -depth -type d -name tests -exec rm -rf {} + \
    && find "$site" -type f -name '*.pyi' -delete \
    && rm -f /tmp/requirements.txt

# Code last, so editing the pipe does not reinstall its dependencies.
# metadata.py finds pipe.yml two levels above itself: keep pipe/ and pipe.yml side by side.
COPY pipe.yml /pipe.yml
COPY pipe /pipe
# Bytecode compiled now, once; at run time nothing is written beside the code or into users' mounts.
RUN /opt/venv/bin/python3 -m compileall -q /pipe

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1

ARG VERSION=0.2.0
LABEL org.opencontainers.image.title="octopus-pack" \
      org.opencontainers.image.description="Bitbucket Pipe that packs files into an Octopus Deploy package (.zip or .nupkg) and can push it to Octopus." \
      org.opencontainers.image.source="https://bitbucket.org/octopus-pack/octopus-pack" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"

# Pipes run as root: Bitbucket mounts the clone and the pipe storage directories for root.
ENTRYPOINT ["/opt/venv/bin/python3", "/pipe/pipe.py"]

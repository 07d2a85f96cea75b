# The ductape-jobs worker and codec server image (see docker-compose.yml): the runtime and the
# capability extras a production worker may need (`all`: databases, S3, brokers, graphs, SMTP,
# tracing), at the versions constraints.txt pins. Never the `dev` extra: no dev-server or test-server
# binary ships in the image. A worker that needs fewer drivers: --build-arg EXTRAS=postgres,smtp
# (a config section whose driver is left out stops the worker at start, naming the extra).
FROM python:3.11-slim
ARG EXTRAS=all
WORKDIR /app
COPY pyproject.toml README.md constraints.txt ./
COPY workflows ./workflows
COPY activities ./activities
COPY starter ./starter
RUN pip install --no-cache-dir -c constraints.txt ".[${EXTRAS}]" && useradd --create-home ductape
USER ductape
ENTRYPOINT ["ductape-jobs"]
CMD ["worker"]

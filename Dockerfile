# The ductape-jobs worker and codec server image (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY workflows ./workflows
COPY activities ./activities
COPY starter ./starter
RUN pip install --no-cache-dir . && useradd --create-home ductape
USER ductape
ENTRYPOINT ["ductape-jobs"]
CMD ["worker"]

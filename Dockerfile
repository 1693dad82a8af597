FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e . && useradd --system onevault && mkdir -p /var/lib/onevault \
    && python -m dagster_pipelines.project \
    && chown -R onevault /var/lib/onevault /app/dbt_project
# ^ the dbt manifest is parsed at build time (Dagster reads it; dbt writes its run artefacts there)
USER onevault
ENV ONEVAULT_HOME=/var/lib/onevault
EXPOSE 8000 3000
CMD ["onevault", "serve", "--host", "0.0.0.0", "--port", "8000"]

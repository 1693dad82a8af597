FROM python:3.11-slim
WORKDIR /app
COPY . /app
RUN pip install --no-cache-dir -e . && useradd --system onevault && mkdir -p /var/lib/onevault \
    && chown onevault /var/lib/onevault
USER onevault
ENV ONEVAULT_HOME=/var/lib/onevault
EXPOSE 8000
CMD ["onevault", "serve", "--host", "0.0.0.0", "--port", "8000"]

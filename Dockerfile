# Production image: dependencies built in one stage, a slim non-root runtime in the next.
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY pyproject.toml README.md ./
COPY service ./service
RUN pip install --no-cache-dir --upgrade pip && pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app vhotel && mkdir -p /app/var && chown vhotel /app/var
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY static ./static
COPY service ./service
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    VH_DATA_DIR=/app/var
USER vhotel
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["python", "-m", "service", "serve", "--host", "0.0.0.0", "--port", "8000"]

# carerota HTTP service: `docker build -t carerota . && docker run -p 8000:8000 carerota`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY optimiser ./optimiser
COPY geodata ./geodata
COPY api ./api
COPY benchmarks ./benchmarks
RUN pip install . \
    && useradd --create-home --uid 10001 carerota

USER carerota
WORKDIR /home/carerota
EXPOSE 8000
CMD ["carerota", "serve", "--host", "0.0.0.0", "--demo"]

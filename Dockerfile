# syntax=docker/dockerfile:1.7
# polypdet detection service (OpenVINO + onnxruntime on the CPU; no torch), amd64 and arm64:
#   docker buildx build --platform linux/amd64,linux/arm64 -t polypdet:latest .
#   docker run -p 8000:8000 -v polypdet-home:/var/lib/polypdet polypdet:latest
# tests/deploy/test_image_install.py runs this file's build-stage COPY and `pip install` steps in a clean venv.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/polypdet
ENV PATH=/opt/polypdet/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# trackers pulls in OpenCV's GUI build; the headless one shares its cv2 module and loads no Qt/X11 (as `make install`).
RUN --mount=type=cache,target=/root/.cache/pip pip install ".[serve,s3]" \
    && pip uninstall -y opencv-python \
    && pip install --force-reinstall --no-deps opencv-python-headless

FROM ${PYTHON_IMAGE} AS runtime
# libGL/glib: OpenCV's shared libraries; libgomp: onnxruntime/OpenVINO threads; postgresql-client: `polypdet backup`
# (Debian bookworm ships pg_dump 15, so PostgreSQL servers up to 15; see deploy/docker-compose.yml).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 libgomp1 postgresql-client \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 polypdet \
    && useradd --system --uid 10001 --gid polypdet --no-create-home --home-dir /nonexistent polypdet \
    && install -d -o polypdet -g polypdet /var/lib/polypdet /app/logs
COPY --from=build /opt/polypdet /opt/polypdet
COPY models /app/models
ENV PATH=/opt/polypdet/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    POLYPDET_MODELS_DIR=/app/models \
    MODEL_PATH=/app/models/polyp-yolov8n \
    CONFIDENCE_THRESHOLD=0.25 \
    MAX_DETECTIONS=50 \
    POLYPDET_HOME=/var/lib/polypdet
WORKDIR /app
VOLUME ["/var/lib/polypdet"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["polypdet", "serve", "--host", "0.0.0.0", "--port", "8000"]

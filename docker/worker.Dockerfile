# The GPU worker: the web requirements plus the ML stack with CUDA builds of torch/torchvision.
# The default pins match requirements/constraints.txt, whose torch 2.14.1 is built for CUDA 13.0;
# override both build args together for another CUDA line (the host driver must support it).
ARG CUDA_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    VAR_DIR=/app/var \
    MEDIA_ROOT=/data/media \
    WEIGHTS_DIR=/data/weights \
    ML_DEVICE=cuda

# Ubuntu 24.04 ships Python 3.12. libglib2.0 is what opencv-python-headless still links against.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates libglib2.0-0t64 \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv "$VIRTUAL_ENV" \
    && useradd --create-home --uid 10001 app

WORKDIR /app
COPY requirements/web.txt requirements/ml.txt requirements/
# The PyTorch index serves the CUDA wheels as 2.14.1+cu130, which satisfy the ==2.14.1 pins and
# win over PyPI's builds; everything else comes from PyPI.
# pdqhash is published as source only (Cython + C++): a compiler and Python headers for the
# install, removed after.
RUN apt-get update && apt-get install -y --no-install-recommends g++ python3-dev \
    && pip install --extra-index-url "$TORCH_INDEX_URL" -r requirements/web.txt -r requirements/ml.txt \
    && apt-get purge -y --auto-remove g++ python3-dev && rm -rf /var/lib/apt/lists/*

COPY --chown=app:app . .
RUN mkdir -p /data/media /data/weights /app/var && chown -R app:app /data /app/var \
    && chmod +x docker/worker-entrypoint.sh

USER app
VOLUME ["/data/weights"]
# The entrypoint fetches and verifies the weights (a no-op once installed), then runs CMD.
ENTRYPOINT ["docker/worker-entrypoint.sh"]
CMD ["python", "manage.py", "rundramatiq", "--queues", "gpu", "--processes", "1", "--threads", "1"]

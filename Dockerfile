# The worker (and Jupyter) image. Dependencies come from pyproject.toml, the one place they
# are pinned; torch 2.14.1 from PyPI is the CUDA build, which also runs on CPU.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIPELINE_HOME=/var/lib/pipeline

RUN apt-get update \
 && apt-get install -y --no-install-recommends git graphviz libgl1 libglib2.0-0 \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so code changes do not reinstall torch.
COPY pyproject.toml README.md ./
RUN mkdir -p pipeline schemas populate \
 && touch pipeline/__init__.py schemas/__init__.py populate/__init__.py \
 && pip install --no-cache-dir '.[dev,notebook]' \
 && pip uninstall -y cotrain-pipeline

COPY pipeline ./pipeline
COPY schemas ./schemas
COPY populate ./populate
COPY notebooks ./notebooks
RUN pip install --no-cache-dir --no-deps -e .

CMD ["python", "-m", "populate", "worker", "--forever"]

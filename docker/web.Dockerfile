# The web image: Django + DRF + Dramatiq client, no torch. Also runs the webhook/maintenance
# worker, the scheduler and migrations (see compose.yml).
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VAR_DIR=/app/var \
    MEDIA_ROOT=/data/media \
    WEIGHTS_DIR=/data/weights

# Pango for WeasyPrint (receipt PDFs).
RUN apt-get update && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 app
WORKDIR /app

# Dependencies first so code changes do not reinstall them.
COPY requirements/web.txt requirements/constraints.txt requirements/
# pdqhash is published as source only (Cython + C++): a compiler for the install, removed after.
RUN apt-get update && apt-get install -y --no-install-recommends g++ \
    && pip install -r requirements/web.txt -c requirements/constraints.txt \
    && apt-get purge -y --auto-remove g++ && rm -rf /var/lib/apt/lists/*

COPY --chown=app:app . .
# collectstatic needs settings but no database; the secret only has to be non-empty here.
RUN DJANGO_DEBUG=false SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && mkdir -p /data/media && chown -R app:app /data /app/var

USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/api/health', timeout=4)" || exit 1
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]

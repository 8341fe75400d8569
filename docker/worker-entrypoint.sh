#!/bin/sh
# Init step of the GPU worker: make sure the enabled models' checkpoints are in $WEIGHTS_DIR
# (downloads resume and are sha256-verified; installed files are left alone), then run the worker.
set -eu
if [ "${SKIP_FETCH_WEIGHTS:-0}" != "1" ]; then
    python manage.py fetch_weights
fi
exec "$@"

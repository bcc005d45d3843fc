#!/usr/bin/env bash
# Rasa dialogue layer: its own Python 3.10 virtual environment (.venv-rasa), kept apart from the app's
# Python 3.11 stack, and the trained model at nlu_data/models/current.tar.gz.
# Idempotent and quick on a second run:
#   - the venv is created only when missing;
#   - rasa==3.6.21 is (re)installed only when nlu_data/constraints.txt changed (stamp in the venv);
#   - the model is retrained only when nlu_data/ (config, domain, data, endpoints, credentials) changed
#     since the last training (stamp next to the model).
# Options: --force-train retrains even when nothing changed; --no-train stops after the install.
# Environment: PYTHON310=/path/to/python3.10 overrides the interpreter look-up.
set -euo pipefail
cd "$(dirname "$0")/.."

force_train=0
no_train=0
for arg in "$@"; do
  case "$arg" in
    --force-train) force_train=1 ;;
    --no-train) no_train=1 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "setup-rasa: unknown option $arg" >&2; exit 2 ;;
  esac
done

export RASA_TELEMETRY_ENABLED=false       # Rasa reports usage to a remote service unless told not to
export SQLALCHEMY_SILENCE_UBER_WARNING=1  # Rasa 3.6 pins SQLAlchemy 1.4 and uses its 1.x API
export TF_CPP_MIN_LOG_LEVEL=2
export PYTHONHASHSEED=0                   # Rasa iterates over sets: fixed string hashing, repeatable training
export PYTHONWARNINGS=ignore

VENV=.venv-rasa
RASA_VERSION=3.6.21
CONSTRAINTS=nlu_data/constraints.txt
MODEL_DIR=nlu_data/models
MODEL_NAME=current
t_all=$(date +%s)

elapsed() { echo $(( $(date +%s) - $1 )); }

# 1. interpreter and venv
if [ ! -x "$VENV/bin/python" ]; then
  py="${PYTHON310:-}"
  if [ -z "$py" ] && command -v pyenv >/dev/null 2>&1; then
    cand="$(pyenv root)/versions/3.10.13/bin/python"
    [ -x "$cand" ] && py="$cand"
  fi
  if [ -z "$py" ] && command -v python3.10 >/dev/null 2>&1; then
    py="$(command -v python3.10)"
  fi
  if [ -z "$py" ] || ! "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
    echo "setup-rasa: Python 3.10 not found (rasa $RASA_VERSION needs >=3.8,<3.11);" \
         "install it with pyenv or set PYTHON310=/path/to/python3.10" >&2
    exit 1
  fi
  t=$(date +%s)
  echo "setup-rasa: creating $VENV with $py" >&2
  "$py" -m venv "$VENV"
  echo "setup-rasa: venv created in $(elapsed "$t") s" >&2
fi

# 2. rasa, pinned by the constraints file
stamp="$VENV/.constraints.sha256"
want=$(sha256sum "$CONSTRAINTS" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || [ ! -x "$VENV/bin/rasa" ]; then
  t=$(date +%s)
  echo "setup-rasa: installing rasa==$RASA_VERSION with $CONSTRAINTS (a few minutes, ~2.7 GB)" >&2
  "$VENV/bin/python" -m pip install --quiet "rasa==$RASA_VERSION" -c "$CONSTRAINTS"
  echo "$want" > "$stamp"
  echo "setup-rasa: rasa installed in $(elapsed "$t") s" >&2
else
  echo "setup-rasa: rasa $RASA_VERSION already installed (constraints unchanged)" >&2
fi

[ "$no_train" = 1 ] && exit 0

# 3. model, retrained when the project content changed
content_hash() {
  # every file that defines the assistant (custom NLU components included); not models/, results, tests or caches
  ( cd nlu_data && find config.yml domain.yml endpoints.yml credentials.yml data components -type f \
      \( -name '*.yml' -o -name '*.yaml' -o -name '*.py' \) | LC_ALL=C sort | xargs sha256sum ) | sha256sum | cut -d' ' -f1
}
train_stamp="$MODEL_DIR/.$MODEL_NAME.sha256"
want=$(content_hash)
if [ "$force_train" = 1 ] || [ ! -f "$MODEL_DIR/$MODEL_NAME.tar.gz" ] \
   || [ "$(cat "$train_stamp" 2>/dev/null)" != "$want" ]; then
  t=$(date +%s)
  echo "setup-rasa: training the model (NLU + dialogue)" >&2
  mkdir -p "$MODEL_DIR"
  log="$MODEL_DIR/train.log"
  if ! ( cd nlu_data && "../$VENV/bin/rasa" train $( [ "$force_train" = 1 ] && echo --force ) --config config.yml --domain domain.yml --data data \
           --out models --fixed-model-name "$MODEL_NAME" ) > "$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "setup-rasa: training failed (full log: $log)" >&2
    exit 1
  fi
  echo "$want" > "$train_stamp"
  echo "seconds=$(elapsed "$t") date=$(date -u +%Y-%m-%dT%H:%M:%SZ) nproc=$(nproc) load=$(cut -d' ' -f1 /proc/loadavg)" \
    > "$MODEL_DIR/.$MODEL_NAME.train-time"
  echo "setup-rasa: model trained in $(elapsed "$t") s: $MODEL_DIR/$MODEL_NAME.tar.gz" \
       "($(du -h "$MODEL_DIR/$MODEL_NAME.tar.gz" | cut -f1))" >&2
else
  echo "setup-rasa: model up to date ($MODEL_DIR/$MODEL_NAME.tar.gz)" >&2
fi
echo "setup-rasa: done in $(elapsed "$t_all") s" >&2

# Shared by the operator scripts in environments/*/scripts: --env/--help handling and the paybatch CLI.
# A script sets USAGE (its help text) and DEFAULT_ENV (the folder it lives in), sources this file,
# then calls `parse_common "$@"` and uses $ENV, the remaining arguments in ARGS, and `pb`.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

pb() {
  if [[ -x "$REPO_ROOT/.venv/bin/paybatch" ]]; then "$REPO_ROOT/.venv/bin/paybatch" "$@"
  elif command -v paybatch >/dev/null; then paybatch "$@"
  else echo "error: paybatch is not installed: run \`make setup\` in $REPO_ROOT" >&2; exit 2
  fi
}

parse_common() {
  ENV="${DEFAULT_ENV}"
  ARGS=()
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -h|--help) printf '%s\n' "$USAGE"; exit 0 ;;
      --env|-e) [[ $# -ge 2 ]] || { echo "error: --env needs a value (dev or prod)" >&2; exit 2; }; ENV="$2"; shift 2 ;;
      --env=*) ENV="${1#--env=}"; shift ;;
      *) ARGS+=("$1"); shift ;;
    esac
  done
  if [[ ! -f "$REPO_ROOT/environments/$ENV/config.yaml" ]]; then
    known=$(cd "$REPO_ROOT/environments" && ls -d */ 2>/dev/null | tr -d / | tr '\n' ' ')
    echo "error: unknown environment '$ENV' (known: ${known:-none})" >&2
    exit 2
  fi
}

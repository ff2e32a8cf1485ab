#!/usr/bin/env bash
# Offline static checks of infra/terraform: formatting and checkov.
# (No provider can be downloaded here, so no `terraform init/validate`.)
#
#   scripts/check_infra.sh            # fmt + checkov
#   SKIP_CHECKOV=1 scripts/check_infra.sh
#
# checkov pins dependencies that clash with ours, so it lives in its own venv
# (CHECKOV_VENV, default .venv-checkov), made on first use from PyPI.
set -euo pipefail

cd "$(dirname "$0")/.."

CHECKOV_VERSION="${CHECKOV_VERSION:-3.3.30}"
CHECKOV_VENV="${CHECKOV_VENV:-.venv-checkov}"
TF_DIR="infra/terraform"

terraform_bin="${TERRAFORM:-$(command -v terraform || true)}"
if [[ -z "$terraform_bin" ]]; then
  echo "check_infra: terraform not found (set TERRAFORM=/path/to/terraform)" >&2
  exit 1
fi

echo "== terraform fmt -check -recursive $TF_DIR"
# TF_CLI_CONFIG_FILE=/dev/null: no ~/.terraformrc warning, no plugin cache needed.
if ! TF_CLI_CONFIG_FILE=/dev/null "$terraform_bin" fmt -check -recursive -diff "$TF_DIR"; then
  echo "check_infra: run 'terraform fmt -recursive $TF_DIR'" >&2
  exit 1
fi

if [[ "${SKIP_CHECKOV:-0}" == "1" ]]; then
  echo "== checkov skipped (SKIP_CHECKOV=1)"
  exit 0
fi

if ! "$CHECKOV_VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  echo "== installing checkov $CHECKOV_VERSION into $CHECKOV_VENV"
  python3 -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION"
fi

echo "== checkov -d $TF_DIR"
"$CHECKOV_VENV/bin/checkov" -d "$TF_DIR" --framework terraform --skip-download --quiet --compact
echo "check_infra: OK"

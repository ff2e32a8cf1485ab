#!/usr/bin/env bash
# From an empty Google Cloud project to a running audioconv, in one command.
#
#   scripts/deploy.sh PROJECT_ID [--region REGION] [--dry-run] [-- TERRAFORM_ARGS...]
#   scripts/deploy.sh PROJECT_ID --rollback [--dry-run]
#
# Steps (docs/deploy.md has each one's why):
#   1. the APIs Terraform needs to start, and the Terraform state bucket (versioned);
#   2. wait for the Compute Engine default service account (the build account);
#   3. terraform init (GCS backend) and plan; apply only when the plan has changes;
#   4. render the deployed config from the outputs (scripts/render_deploy_config.py);
#   5. build the image and its worker target (Cloud Build, cloudbuild.yaml) unless
#      the tags of this source already exist;
#   6. the Cloud Run jobs (migrate, sweep) from that image, and the scheduler's
#      right to start the sweep;
#   7. migrations: the migrate job, run in the cloud (it reaches a private IP too),
#      once per image;
#   8. the application's default service account (the API's, not the Editor default);
#   9. the three App Engine services, each as a version named after what it runs,
#      skipped when that version already serves; versions past the newest five
#      without traffic are deleted;
#  10. prints the URL.
# A second run with nothing changed changes nothing: every step first looks at what
# is there. --dry-run runs those look-ups (read-only) and prints, instead of
# running, every command that would change something, each on a line starting
# with "+ ". --rollback sends each service's traffic back to its previous version
# (migrations are not undone: they only add).
#
# Needs gcloud (logged in as a project owner, or someone with the roles listed in
# docs/deploy.md), terraform >= 1.11, python3 and git. TF_VAR_* variables and
# arguments after "--" go to terraform plan (e.g. -var smtp_host=...).
set -euo pipefail

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TF_DIR="$ROOT/infra/terraform"
DEPLOY_DIR="$ROOT/.deploy"
REGION=us-central1
DRY_RUN=false
ROLLBACK=false
PROJECT=""
TF_ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --region) REGION="$2"; shift 2 ;;
    --dry-run) DRY_RUN=true; shift ;;
    --rollback) ROLLBACK=true; shift ;;
    --) shift; TF_ARGS=("$@"); break ;;
    -h|--help) usage ;;
    -*) echo "deploy.sh: unknown option $1" >&2; usage ;;
    *) [[ -z "$PROJECT" ]] || usage; PROJECT="$1"; shift ;;
  esac
done
[[ "$PROJECT" =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] || {
  echo "deploy.sh: give a project ID (6-30 lower-case letters, digits, dashes)" >&2; usage; }

# App Engine's location IDs are the region's name, but for these two.
case "$REGION" in
  us-central1) APP_LOCATION=us-central ;;
  europe-west1) APP_LOCATION=europe-west ;;
  *) APP_LOCATION="$REGION" ;;
esac
STATE_BUCKET="${PROJECT}-tfstate"
STATE_PREFIX="audioconv"
GCLOUD=(gcloud --project="$PROJECT" --quiet)

say() { echo "== $*"; }
# A command that changes something: printed in a dry run, else printed and run.
change() {
  echo "+ $(printf '%q ' "$@" | sed 's/ $//')"
  if [[ "$DRY_RUN" == false ]]; then "$@"; fi
}
# A read-only look-up: always run; its failure means "not there".
look() { "$@" 2>/dev/null; }

# The hash of everything that goes into the image and the standard services:
# what is in the working tree, not only what is committed.
source_hash() {
  (cd "$ROOT" && git ls-files -z --cached --others --exclude-standard -- \
      Dockerfile .dockerignore .gcloudignore cloudbuild.yaml requirements.txt functions shared \
    | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}
# The hash of one service's deployed configuration (its rendered yaml and include).
config_hash() {
  if [[ -f "$ROOT/$1" && -f "$DEPLOY_DIR/$2" ]]; then
    cat "$ROOT/$1" "$DEPLOY_DIR/$2" | sha256sum | cut -c1-8
  else
    echo new  # a dry run before the first render
  fi
}

# --- rollback -----------------------------------------------------------------
if [[ "$ROLLBACK" == true ]]; then
  for service in default worker notify; do
    # Versions newest first; the one with traffic, then the one before it.
    mapfile -t versions < <(look "${GCLOUD[@]}" app versions list --service="$service" \
      --sort-by=~version.createTime --format='value(version.id,traffic_split)')
    serving="" previous=""
    for line in "${versions[@]}"; do
      read -r id split <<<"$line"
      if [[ -z "$serving" ]]; then
        # gcloud prints the share as 1.00, 0.50, 0.00 ...
        if awk -v share="${split:-0}" 'BEGIN { exit !(share + 0 > 0) }'; then serving="$id"; fi
      elif [[ -z "$previous" ]]; then
        previous="$id"
      fi
    done
    if [[ -z "$previous" ]]; then
      say "$service: no version before ${serving:-the serving one}: nothing to roll back to"
      continue
    fi
    say "$service: $serving -> $previous"
    status=$(look "${GCLOUD[@]}" app versions describe "$previous" --service="$service" \
      --format='value(servingStatus)' || true)
    if [[ "$status" == "STOPPED" ]]; then
      change "${GCLOUD[@]}" app versions start "$previous" --service="$service"
    fi
    change "${GCLOUD[@]}" app services set-traffic "$service" --splits="$previous=1"
  done
  exit 0
fi

# --- 1. APIs and the state bucket ---------------------------------------------
say "1. APIs Terraform needs to start, and its state bucket gs://$STATE_BUCKET"
BOOT_APIS=(serviceusage.googleapis.com cloudresourcemanager.googleapis.com iam.googleapis.com
  compute.googleapis.com storage.googleapis.com)
enabled=$(look "${GCLOUD[@]}" services list --enabled --format='value(config.name)' || true)
missing=()
for api in "${BOOT_APIS[@]}"; do
  grep -qx "$api" <<<"$enabled" || missing+=("$api")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  change "${GCLOUD[@]}" services enable "${missing[@]}"
fi
if ! look "${GCLOUD[@]}" storage buckets describe "gs://$STATE_BUCKET" --format='value(name)' >/dev/null; then
  change "${GCLOUD[@]}" storage buckets create "gs://$STATE_BUCKET" --location="$REGION" \
    --uniform-bucket-level-access --public-access-prevention
  change "${GCLOUD[@]}" storage buckets update "gs://$STATE_BUCKET" --versioning
fi

# --- 2. the build account -------------------------------------------------------
say "2. the Compute Engine default service account (Cloud Build builds as it)"
number=$(look "${GCLOUD[@]}" projects describe "$PROJECT" --format='value(projectNumber)' || true)
if [[ -n "$number" && "$DRY_RUN" == false ]]; then
  account="${number}-compute@developer.gserviceaccount.com"
  for _ in $(seq 60); do
    look "${GCLOUD[@]}" iam service-accounts describe "$account" --format='value(email)' \
      >/dev/null && break
    sleep 5
  done
fi

# --- 3. Terraform ------------------------------------------------------------------
say "3. terraform (state in gs://$STATE_BUCKET/$STATE_PREFIX)"
TF=(terraform -chdir="$TF_DIR")
export TF_IN_AUTOMATION=1
init=("${TF[@]}" init -input=false -backend-config="bucket=$STATE_BUCKET"
  -backend-config="prefix=$STATE_PREFIX")
if [[ "$DRY_RUN" == true ]]; then
  # Reading the plan needs the providers and the state: init only when the
  # backend bucket is there to read.
  echo "+ $(printf '%q ' "${init[@]}" | sed 's/ $//')"
  look "${init[@]}" >/dev/null || true
else
  "${init[@]}" >/dev/null
fi
mkdir -p "$DEPLOY_DIR"
plan=("${TF[@]}" plan -input=false -detailed-exitcode -out="$DEPLOY_DIR/tfplan"
  -var "project_id=$PROJECT" -var "region=$REGION" -var "app_engine_location=$APP_LOCATION"
  "${TF_ARGS[@]}")
set +e
if [[ "$DRY_RUN" == true ]]; then
  look "${plan[@]}" >/dev/null
else
  "${plan[@]}"  # the plan is shown: what the apply below will change
fi
planned=$?
set -e
case "$planned" in
  0) say "terraform: no changes" ;;
  2) change "${TF[@]}" apply -input=false "$DEPLOY_DIR/tfplan" ;;
  *) if [[ "$DRY_RUN" == true ]]; then
       echo "+ $(printf '%q ' "${plan[@]}" | sed 's/ $//')"
       change "${TF[@]}" apply -input=false "$DEPLOY_DIR/tfplan"
     else
       echo "deploy.sh: terraform plan failed" >&2; exit 1
     fi ;;
esac

# --- 4. the deployed config -------------------------------------------------------
say "4. render the deployed config from the terraform outputs"
if python3 "$ROOT/scripts/render_deploy_config.py" >/dev/null 2>"$DEPLOY_DIR/render.err"; then
  # shellcheck disable=SC1091
  . "$DEPLOY_DIR/deploy.env"
else
  if [[ "$DRY_RUN" == false ]]; then cat "$DEPLOY_DIR/render.err" >&2; exit 1; fi
  # Before the first apply there are no outputs: show the names the apply makes.
  echo "+ python3 scripts/render_deploy_config.py"
  API_URL="<terraform output api_url>" IMAGE_REPOSITORY="$REGION-docker.pkg.dev/$PROJECT/audioconv"
  for key in api worker notify sweep migrate scheduler; do
    printf -v "SA_${key^^}" '%s' "audioconv-$key@$PROJECT.iam.gserviceaccount.com"
  done
  JOB_MIGRATE=audioconv-migrate JOB_SWEEP=audioconv-sweep JOB_NETWORK="" JOB_SUBNET=""
fi

# --- 5. the image ---------------------------------------------------------------
SOURCE=$(source_hash)
IMAGE="$IMAGE_REPOSITORY/audioconv:$SOURCE"
# The same layers with `audioconv pull-worker` as the command (the Dockerfile's worker
# target): App Engine flexible runs an image's own command.
WORKER_IMAGE="$IMAGE_REPOSITORY/audioconv-worker:$SOURCE"
say "5. images $IMAGE and $WORKER_IMAGE"
if ! look "${GCLOUD[@]}" artifacts docker images describe "$IMAGE" --format='value(image_summary.digest)' >/dev/null \
    || ! look "${GCLOUD[@]}" artifacts docker images describe "$WORKER_IMAGE" --format='value(image_summary.digest)' >/dev/null; then
  change "${GCLOUD[@]}" builds submit "$ROOT" --region="$REGION" --config="$ROOT/cloudbuild.yaml" \
    --substitutions="_IMAGE=$IMAGE,_WORKER_IMAGE=$WORKER_IMAGE"
fi

# --- 6. the Cloud Run jobs ---------------------------------------------------------
say "6. Cloud Run jobs $JOB_MIGRATE and $JOB_SWEEP"
network=()
if [[ -n "${JOB_NETWORK:-}" ]]; then
  network=(--network="$JOB_NETWORK" --subnet="$JOB_SUBNET" --vpc-egress=private-ranges-only)
fi
deploy_job() { # NAME ACCOUNT ENV_FILE ARGS
  local name=$1 account=$2 env_file=$3 args=$4 want have
  want=$(printf '%s|%s|%s|%s|%s' "$IMAGE" "$account" "$args" "${network[*]}" \
    "$(cat "$env_file" 2>/dev/null)" | sha256sum | cut -c1-12)
  have=$(look "${GCLOUD[@]}" run jobs describe "$name" --region="$REGION" \
    --format='value(metadata.labels.audioconv-config)' || true)
  if [[ "$have" != "$want" ]]; then
    change "${GCLOUD[@]}" run jobs deploy "$name" --region="$REGION" --image="$IMAGE" \
      --service-account="$account" --env-vars-file="$env_file" --args="$args" \
      --tasks=1 --max-retries=0 --task-timeout=900s --cpu=1 --memory=512Mi \
      --labels="audioconv-config=$want" "${network[@]}"
  fi
}
migrate_args=$(cat "$DEPLOY_DIR/migrate.args" 2>/dev/null || echo migrate)
deploy_job "$JOB_MIGRATE" "$SA_MIGRATE" "$DEPLOY_DIR/migrate.env.yaml" "$migrate_args"
deploy_job "$JOB_SWEEP" "$SA_SWEEP" "$DEPLOY_DIR/sweep.env.yaml" "sweep"
invoker="serviceAccount:$SA_SCHEDULER"
if ! look "${GCLOUD[@]}" run jobs get-iam-policy "$JOB_SWEEP" --region="$REGION" \
    --format=json | grep -q "\"$invoker\""; then
  change "${GCLOUD[@]}" run jobs add-iam-policy-binding "$JOB_SWEEP" --region="$REGION" \
    --member="$invoker" --role=roles/run.invoker
fi

# --- 7. migrations ---------------------------------------------------------------
MARKER="gs://$STATE_BUCKET/$STATE_PREFIX/migrated/$SOURCE"
say "7. migrations ($JOB_MIGRATE, once per image)"
if ! look "${GCLOUD[@]}" storage objects describe "$MARKER" --format='value(name)' >/dev/null; then
  change "${GCLOUD[@]}" run jobs execute "$JOB_MIGRATE" --region="$REGION" --wait
  change "${GCLOUD[@]}" storage cp "$DEPLOY_DIR/migrate.args" "$MARKER"
fi

# --- 8. the application's default account ------------------------------------------
say "8. App Engine default service account: $SA_API"
have=$(look "${GCLOUD[@]}" app describe --format='value(serviceAccount)' || true)
if [[ "$have" != "$SA_API" ]]; then
  change "${GCLOUD[@]}" app update --service-account="$SA_API"
fi

# --- 9. the services ----------------------------------------------------------------
say "9. App Engine services"
deploy_service() { # SERVICE DEPLOYABLE INCLUDE [gcloud args...]
  local service=$1 deployable=$2 include=$3 version serving
  shift 3
  version="v-$SOURCE-$(config_hash "$deployable" "$include")"
  version=${version:0:63}
  serving=$(look "${GCLOUD[@]}" app services describe "$service" \
    --format='value(split.allocations)' || true)
  if [[ "$serving" == *"$version"* && "$serving" != *";"* ]]; then
    say "$service: $version serves already"
  elif look "${GCLOUD[@]}" app versions describe "$version" --service="$service" \
      --format='value(id)' >/dev/null; then
    change "${GCLOUD[@]}" app services set-traffic "$service" --splits="$version=1"
  else
    change "${GCLOUD[@]}" app deploy "$ROOT/$deployable" --version="$version" --promote "$@"
  fi
}
# Old versions without traffic beyond the newest KEEP_VERSIONS go: App Engine caps
# versions per application, and the images of older ones are gone anyway (the
# registry's cleanup policy keeps as many).
KEEP_VERSIONS=5
prune_versions() { # SERVICE
  local service=$1 kept=0 id split old=()
  while read -r id split; do
    [[ -n "$id" ]] || continue
    kept=$((kept + 1))
    if ((kept > KEEP_VERSIONS)) && ! awk -v share="${split:-0}" 'BEGIN { exit !(share + 0 > 0) }'; then
      old+=("$id")
    fi
  done < <(look "${GCLOUD[@]}" app versions list --service="$service" \
    --sort-by=~version.createTime --format='value(version.id,traffic_split)' || true)
  if [[ ${#old[@]} -gt 0 ]]; then
    change "${GCLOUD[@]}" app versions delete "${old[@]}" --service="$service"
  fi
}
# The default service first: App Engine refuses another service before it exists.
deploy_service default app.deploy.yaml api.env.yaml
deploy_service worker worker.deploy.yaml worker.env.yaml --image-url="$WORKER_IMAGE"
deploy_service notify notify.deploy.yaml notify.env.yaml
for service in default worker notify; do prune_versions "$service"; done

# --- 10. ------------------------------------------------------------------------------
echo "audioconv is deployed: $API_URL"

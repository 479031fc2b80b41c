#!/bin/sh
# Starts SeaweedFS (master, volume server, filer and S3 gateway in one process) with one S3
# identity: the pipeline's, from STORE_USER / STORE_PASSWORD, allowed to read, write, list
# and tag the objects of STORE_BUCKET and nothing else. The identity file is written from
# the environment at every start (owner-only), so credentials never sit in argv or in git.
# WEED, SEAWEEDFS_DIR, SEAWEEDFS_IP and the *_PORT variables exist for the tests, which run
# the same script on free loopback ports; compose uses the defaults.
set -eu
: "${STORE_USER:?set STORE_USER}" "${STORE_PASSWORD:?set STORE_PASSWORD}" "${STORE_BUCKET:?set STORE_BUCKET}"
for value in "$STORE_USER" "$STORE_PASSWORD" "$STORE_BUCKET"; do
  case "$value" in
    *[\"\\]*) echo "seaweedfs: STORE_USER, STORE_PASSWORD and STORE_BUCKET may not contain \" or \\" >&2; exit 64 ;;
  esac
done
dir="${SEAWEEDFS_DIR:-/data}"
ip="${SEAWEEDFS_IP:-seaweedfs}"
mkdir -p "$dir"
umask 077
config="$dir/s3-identities.json"
cat > "$config" <<JSON
{"identities": [{"name": "pipeline",
  "credentials": [{"accessKey": "$STORE_USER", "secretKey": "$STORE_PASSWORD"}],
  "actions": ["Read:$STORE_BUCKET", "Write:$STORE_BUCKET", "List:$STORE_BUCKET", "Tagging:$STORE_BUCKET"]}]}
JSON
master="${MASTER_PORT:-9333}" volume="${VOLUME_PORT:-8080}" filer="${FILER_PORT:-8888}" s3="${S3_PORT:-8333}"
# gRPC ports are named, not left at port + 10000, so that the tests' free ports stay free;
# the gateway's Iceberg and Lance catalogs are not used and stay off (their fixed ports too)
exec "${WEED:-weed}" server -dir="$dir" -ip="$ip" -ip.bind="${SEAWEEDFS_BIND:-0.0.0.0}" \
  -master.port="$master" -master.port.grpc="${MASTER_GRPC_PORT:-19333}" -master.volumeSizeLimitMB=1024 \
  -volume.port="$volume" -volume.port.grpc="${VOLUME_GRPC_PORT:-18080}" -volume.max=0 \
  -filer -filer.port="$filer" -filer.port.grpc="${FILER_GRPC_PORT:-18888}" \
  -s3 -s3.port="$s3" -s3.port.grpc="${S3_GRPC_PORT:-18333}" -s3.config="$config" \
  -s3.port.iceberg=0 -s3.port.lance=0

#!/bin/sh
# Creates the pipeline's bucket on SeaweedFS and exits 0 once it exists; any failure exits
# non-zero with the reason (compose's workers wait for this to succeed). A rerun finds the
# bucket in place. It talks to the master and filer over SeaweedFS's own gRPC (weed shell),
# inside the compose network: no S3 credentials needed, none on a command line.
# SEAWEEDFS_MASTER / SEAWEEDFS_FILER are host:port, or host:port.grpcPort where gRPC does
# not listen at port + 10000 (the tests' free ports).
set -eu
: "${STORE_BUCKET:?set STORE_BUCKET}"
master="${SEAWEEDFS_MASTER:-seaweedfs:9333}"
filer="${SEAWEEDFS_FILER:-seaweedfs:8888}"
weed="${WEED:-weed}"

shell() {
  # weed shell waits for ever on a master that does not answer: each call gets 20 s
  printf '%s\n' "$1" | timeout 20 "$weed" shell -master="$master" -filer="$filer" 2>&1
}

has_bucket() {
  shell "s3.bucket.list" | awk '{print $1}' | grep -qx "$STORE_BUCKET"
}

tries=0
until shell "s3.bucket.list" >/dev/null && shell "cluster.check" | grep -q "filer"; do
  tries=$((tries + 1))
  if [ "$tries" -ge 60 ]; then
    echo "create-bucket: SeaweedFS (master $master, filer $filer) did not answer within 60 s" >&2
    exit 1
  fi
  sleep 1
done
if has_bucket; then
  echo "create-bucket: bucket $STORE_BUCKET exists"
  exit 0
fi
status=0
out=$(shell "s3.bucket.create -name $STORE_BUCKET") || status=$?
if [ "$status" -ne 0 ] || ! has_bucket; then
  echo "create-bucket: could not create bucket $STORE_BUCKET (weed shell exit $status): $out" >&2
  exit 1
fi
echo "create-bucket: created bucket $STORE_BUCKET"
